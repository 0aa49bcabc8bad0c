"""Robustness of a solve: Ctrl-C keeps what was finished (status interrupted, exit code 130),
a time limit gives status timeout with bound and gap, hardware that cannot hold a layer gets
an error naming it, and the same inputs give the same schedules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nnsolve import load_scenario, solve
from nnsolve.cli.main import main
from nnsolve.formulations.backend import cpsat_solver
from nnsolve.results import SolveInterrupted

ROOT = Path(__file__).resolve().parent.parent
ISCA = ROOT / "configs" / "eyeriss_isca16_alexnet.yaml"
TETRIS_MLP = ROOT / "configs" / "tetris_4x4" / "mlp_s.yaml"
PIPELINED = ["search.interlayer=true", "search.save_writeback=true"]


def _layers(doc: dict) -> list:
    """What must not change between two solves: names, schedules and numbers per layer."""
    return [{k: v for k, v in lo.items() if k != "solve_seconds"} for lo in doc["layers"]]


# -- Ctrl-C ------------------------------------------------------------------------------

# Run in a child process: the solver sends the process a real SIGINT once two layers are
# done, as a user's Ctrl-C would arrive between two layer solves.
_CHILD = textwrap.dedent("""
    import os, signal, sys
    import nnsolve.search.network_search as search
    from nnsolve.cli import main

    real = search.solve_layer
    calls = []

    def solve_layer(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    search.solve_layer = solve_layer
    sys.exit(main(sys.argv[1:]))
""")


def test_ctrl_c_during_solve_writes_the_finished_layers(tmp_path):
    out = tmp_path / "partial.json"
    proc = subprocess.run([sys.executable, "-c", _CHILD, "solve", str(ISCA), "--json",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 130, proc.stderr
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr
    doc = json.loads(out.read_text())
    assert doc["status"] == "interrupted"
    assert 1 <= len(doc["layers"]) < 19            # the finished layers only
    assert doc["bound"] is None and doc["gap"] is None
    assert doc["notes"][0].startswith("interrupted (Ctrl-C)")
    # The totals say how much of the network they cover, in the JSON and on the terminal.
    done = len(doc["layers"])
    assert doc["total"]["layers"] == done and doc["total"]["network_layers"] == 19
    assert f"status interrupted: the totals cover {done} of 19 layers" in proc.stdout
    # What was kept is real: each layer equals an uninterrupted solve's.
    full = solve(load_scenario(ISCA))
    for lo in doc["layers"]:
        assert lo["energy"] == full.layers[lo["name"]].result.energy


@pytest.mark.parametrize("overrides", [[], PIPELINED], ids=["node-array", "pipelined"])
def test_interrupt_keeps_a_partial_result(monkeypatch, overrides):
    """Multi-node and pipelined searches hand back what they finished, too."""
    import nnsolve.search.node_array
    import nnsolve.search.pipeline
    from nnsolve.search import partition_choice

    real = partition_choice.choose
    calls = []

    def choose(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:           # Ctrl-C during the second layer solve
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    for module in (partition_choice, nnsolve.search.node_array, nnsolve.search.pipeline):
        monkeypatch.setattr(module, "choose", choose)
    scenario = load_scenario(TETRIS_MLP, [*overrides, "solver.method=exhaustive"])
    with pytest.raises(SolveInterrupted) as stop:
        solve(scenario)
    result = stop.value.result
    assert result is not None and result.status == "interrupted"
    assert 0 < len(result.layers) < len(scenario.network.layers)
    assert result.bound is None
    assert result.coverage == (len(result.layers), len(scenario.network.layers))
    total = result.to_json()["total"]
    assert (total["layers"], total["network_layers"]) == result.coverage


def test_cpsat_leaves_ctrl_c_to_python():
    """ortools' own SIGINT catching leaves SIGINT at the system default after a solve (a
    later Ctrl-C would kill the process without saving); nnsolve turns it off."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    x = model.new_int_var(0, 3, "x")
    model.maximize(x)
    assert cpsat_solver(cp_model).solve(model) == cp_model.OPTIMAL
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1.0)


# -- time limits and infeasible hardware ---------------------------------------------------

def test_time_limit_gives_timeout_with_bound_and_gap():
    scenario = load_scenario(ROOT / "configs" / "single_node" / "vgg_net.yaml",
                             ["solver.time_limit_s=0.02"])
    result = solve(scenario)
    timed_out = [lo for lo in result.layers if lo.status == "timeout"]
    assert timed_out, "a 20 ms limit should stop some VGG layer's solve"
    assert result.status == "timeout"
    assert result.bound is not None and 0 < result.gap < 1
    assert all(lo.bound is not None and lo.bound <= lo.result.energy * (1 + 1e-9)
               for lo in timed_out)


def test_hardware_that_cannot_hold_a_layer_is_named(capsys):
    code = main(["solve", str(ISCA), "--set", "hardware.gbuf_bytes=64",
                 "--set", "hardware.regf_bytes=4"])
    err = capsys.readouterr().err
    assert code == 2
    assert "layer conv1_a" in err and "fits" in err and "Traceback" not in err


# -- determinism -----------------------------------------------------------------------------

@pytest.mark.parametrize("path,overrides", [
    (ISCA, ["solver.method=cpsat"]),
    (TETRIS_MLP, [*PIPELINED, "solver.method=cpsat"]),
], ids=["cpsat", "pipelined"])
def test_same_inputs_same_schedules(tmp_path, path, overrides):
    docs = []
    for i in range(2):
        out = tmp_path / f"run{i}.json"
        args = ["solve", str(path), "--json", str(out)]
        for item in overrides:
            args += ["--set", item]
        assert main(args) == 0
        docs.append(json.loads(out.read_text()))
    assert _layers(docs[0]) == _layers(docs[1])
    assert docs[0]["total"] == docs[1]["total"]


def test_milp_is_deterministic():
    from nnsolve.hardware.spec import Hardware
    from nnsolve.model.evaluate import LayerProblem
    from nnsolve.model.layer import Layer
    from nnsolve.search.layer_solve import solve_layer
    from tests.strategies import UNIT

    hw = Hardware.from_bytes(nodes=(1, 1), pe_array=(8, 8), regf_bytes=64, gbuf_bytes=8192,
                             array_bus_bits=float("inf"), dram_bytes_per_cycle=float("inf"),
                             memory="2D", word_bits=16)
    problem = LayerProblem.single_node(Layer.conv(24, 32, 14, 3, 1), 4, hw, UNIT,
                                       (True, True, True))
    first, second = (solve_layer("conv", problem, "milp") for _ in range(2))
    assert first.schedule == second.schedule and first.result.energy == second.result.energy
