"""The pipelined search on worker lanes (local processes, a Dask LocalCluster) returns the
schedule that the search in one process returns, whatever the number of lanes."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from nnsolve.heuristics.exhaustive import SpaceTooLarge
from nnsolve.search import parallel
from nnsolve.search.network_search import Progress, evaluate_schedules
from nnsolve.search.pipeline import solve_pipelined
from tests.search.test_pipeline_oracle import scenario


def _workers(sc, count: int):
    return replace(sc, solver=replace(sc.solver, workers=count))


def _schedule(result) -> dict:
    """Everything a result says about its schedule (not how long it took)."""
    return {"energy": result.energy, "time": result.time, "bound": result.pipeline_bound,
            "segments": [(s.layers, s.regions) for s in result.segments],
            "layers": [(lo.name, lo.schedule, lo.result.energy, lo.result.time)
                       for lo in result.layers]}


@pytest.fixture(scope="module")
def one_process():
    sc = scenario("mlp_m", nodes=(3, 3))
    return sc, solve_pipelined(_workers(sc, 1), "exhaustive", Progress())


@pytest.fixture
def lanes_at_once(monkeypatch):
    """Lanes start at the first segment (not after a second of solving)."""
    monkeypatch.setattr(parallel, "START_AFTER_S", 0.0)


@pytest.mark.parametrize("count", [2, 3])
def test_local_lanes_give_the_one_process_schedule(one_process, lanes_at_once, count):
    sc, alone = one_process
    result = solve_pipelined(_workers(sc, count), "exhaustive", Progress())
    assert _schedule(result) == _schedule(alone)
    assert any(f"ran on {count} local worker processes" in n for n in result.notes)
    assert not any("ran on" in n for n in alone.notes)
    # And it re-scores exactly, as every schedule must.
    again = evaluate_schedules(sc, {lo.name: lo.schedule for lo in result.layers},
                               input_partition=result.input_partition,
                               segments=[s.layers for s in result.segments])
    assert (again.energy, again.time) == (result.energy, result.time)


def test_a_dask_local_cluster_gives_the_one_process_schedule(one_process, lanes_at_once):
    sc, alone = one_process
    result = solve_pipelined(_workers(sc, 2), "exhaustive", Progress(), dask="local")
    assert _schedule(result) == _schedule(alone)
    assert any("ran on 2 workers of a local Dask cluster" in n for n in result.notes)


def test_a_refusal_travels_between_processes():
    """A lane's exhaustive search beyond its budget comes back as the same refusal."""
    exc = SpaceTooLarge("score 9e9 schemes", "1e8 schemes", "use cpsat")
    back = pickle.loads(pickle.dumps(exc))
    assert isinstance(back, SpaceTooLarge) and str(back) == str(exc)
    assert (back.what, back.budget) == (exc.what, exc.budget)


def test_a_script_without_the_main_guard_still_solves(tmp_path):
    """Worker processes cannot start from a script without the ``__main__`` guard (each
    would run the script again); the search goes on in its own process and says why."""
    script = tmp_path / "no_guard.py"
    script.write_text(textwrap.dedent("""
        from dataclasses import replace
        from nnsolve.search import parallel
        from nnsolve.search.network_search import Progress
        from nnsolve.search.pipeline import solve_pipelined
        from tests.search.test_pipeline_oracle import scenario
        parallel.START_AFTER_S = 0.0
        sc = scenario("mlp_s", nodes=(2, 2))
        sc = replace(sc, solver=replace(sc.solver, workers=2))
        result = solve_pipelined(sc, "exhaustive", Progress())
        print(repr(result.energy))
        print([n for n in result.notes if "worker processes failed" in n])
    """))
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": ""}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    energy, notes = done.stdout.strip().splitlines()[-2:]
    alone = solve_pipelined(scenario("mlp_s", nodes=(2, 2)), "exhaustive", Progress())
    assert float(energy) == alone.energy
    assert "__main__" in notes
