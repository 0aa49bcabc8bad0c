"""nnsolve sweep: the sweep file's checks, run ids, results and summary, resume, Dask, and
what survives kill -9 and Ctrl-C of the driver."""

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from nnsolve.cli.main import main
from nnsolve.errors import InputError
from nnsolve.formats.result_json import scenario_from_result
from nnsolve.formats.scenario_yaml import load_scenario
from nnsolve.search.network_search import solve
from nnsolve.sweep.runner import executor_factory, run_sweep
from nnsolve.sweep.spec import ID_TEXT_LIMIT, load_sweep, run_id

ROOT = Path(__file__).resolve().parents[2]

TINY_NET = """\
name: Tiny
input: {channels: 8, size: 16}
layers:
  - {name: conv1, type: conv, out_channels: 16, out_size: 16, kernel: 3}
  - {name: conv2, type: conv, out_channels: 16, out_size: 8, kernel: 3, stride: 2}
  - {name: fc1, type: fc, out_channels: 10}
"""
BASE = """\
network: tiny.yaml
batch: 2
hardware: {nodes: [1, 1], pe_array: [4, 4], regf_bytes: 64, gbuf_bytes: 8192}
solver: {method: exhaustive}
"""
# Four grid runs (one register file too small for any schedule: infeasible) and one explicit.
SWEEP = """\
base: base.yaml
grid:
  hardware.gbuf_bytes: [512, 8192]
  hardware.regf_bytes: [2, 64]
runs:
  - {network: mlp_s, search.bypass: [ifmap]}
out: results/grid
"""
# Seconds of real work (exhaustive search of AlexNet, or of GoogLeNet with batch and input
# channel partitioning, on 2x2 nodes), before and between quick runs.
SLOW_ALEXNET = "{network: alex_net, hardware.nodes: [2, 2]}"
SLOW_GOOGLENET = ("{network: googlenet, hardware.nodes: [2, 2], search.batch_partition: true, "
                  "search.ifmap_partition: true}")


def _setup(tmp_path: Path, sweep: str = SWEEP) -> Path:
    (tmp_path / "tiny.yaml").write_text(TINY_NET)
    (tmp_path / "base.yaml").write_text(BASE)
    path = tmp_path / "sweep.yaml"
    path.write_text(sweep)
    return path


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=300)


def _summary(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _results(out: Path) -> dict[str, dict]:
    """The result files of a sweep directory by run id (temporary files are hidden)."""
    docs = {}
    for p in out.glob("*.json"):
        if not p.name.startswith("."):
            docs[p.stem] = json.loads(p.read_text())
    return docs


def _mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")
            if not p.name.startswith(".")}


def _no_executor(runs: int):
    pytest.fail(f"an executor was started for {runs} runs; nothing should be solved")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """SWEEP solved once on two local processes: (directory, the Sweep, the outcome)."""
    tmp = tmp_path_factory.mktemp("finished")
    sweep = load_sweep(_setup(tmp))
    console = _quiet()
    outcome = run_sweep(sweep, executor_factory(2, None), console)
    assert "5 to solve" in console.file.getvalue()
    return tmp, sweep, outcome


@pytest.fixture(scope="module")
def dask_address():
    """An in-process Dask cluster (threads), closed after the module."""
    import distributed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}
                                  ) as cluster:
        yield cluster.scheduler_address


# -- the sweep file ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, where, words", [
    ("base: base.yaml\nout: o\ngird: {}\n", "gird", "did you mean 'grid'"),
    ("base: base.yaml\nout: o\ngrid: {hardware.gbuf_byte: [1024]}\n",
     "grid.hardware.gbuf_byte", "did you mean 'hardware.gbuf_bytes'"),
    ("base: base.yaml\nout: o\nruns: [{}, {bacth: 2}]\n", "runs[1].bacth", "did you mean 'batch'"),
    ("base: base.yaml\nout: o\nruns: [{hardware: {gbuf_bytes: 512}}]\n", "runs[0].hardware",
     "dotted keys, e.g. 'hardware.gbuf_bytes'"),
    ("base: base.yaml\nout: o\ngrid: {hardware.gbuf_bytes: 4096}\n", "grid.hardware.gbuf_bytes",
     "must be a list of the values to try"),
    ("base: base.yaml\nout: o\ngrid: {hardware.nodes: [2, 2]}\n", "grid.hardware.nodes[1]",
     "nest it: [[2, 2]]"),
    ("base: base.yaml\nout: o\ngrid: {batch: []}\n", "grid.batch", "at least one value"),
    ("base: base.yaml\nout: o\n", None, "the sweep has no runs"),
    ("base: base.yaml\nout: o\ngrid: {}\nruns: []\n", None, "the sweep has no runs"),
    ("base: base.yaml\ngrid: {batch: [1]}\n", "out", "required key is missing"),
    ("base: nothere.yaml\nout: o\ngrid: {batch: [1]}\n", "base", "scenario file not found"),
    ("base: base.yaml\nout: tiny.yaml\ngrid: {batch: [1]}\n", "out", "is a file"),
    ("base: base.yaml\nout: o\nruns: [{batch: 2}, {batch: 2}]\n", "runs[1]", "listed twice"),
    # Counted before the combinations are made (a few long lists multiply past memory).
    (f"base: base.yaml\nout: o\ngrid: {{batch: {list(range(1, 102))}, "
     f"word_bits: {list(range(1, 101))}}}\n", "grid",
     "has 101 x 100 = 10,100 combinations; a sweep may have at most 10,000 runs"),
    ("base: base.yaml\nout: o\ngrid: {batch: [1, 2]}\nruns: [" + "{}, " * 9999 + "]\n",
     "grid", "combinations beside the runs; a sweep may have at most 10,000 runs"),
    ("base: base.yaml\nout: o\nruns: [" + "{}, " * 10001 + "]\n", "runs",
     "lists 10,001 runs"),
    (f"base: base.yaml\nout: o\ngrid: {{batch: {[2**40] * 2}}}\n", "grid.batch[1]",
     "repeats the value 1099511627776"),
])
def test_sweep_file_mistakes_name_the_field(tmp_path, capsys, text, where, words):
    path = _setup(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_sweep(path)
    assert info.value.source == str(path)
    assert info.value.field == where
    assert words in str(info.value)
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and words in err and "Traceback" not in err


@pytest.mark.parametrize("text, run, field, words", [
    # A bad value in the second grid value: nothing runs, not even the first (valid) run.
    ("grid:\n  hardware.gbuf_bytes: [4096, -1]\n", "hardware.gbuf_bytes=-1-",
     "hardware.gbuf_bytes", "(bytes), got -1"),
    ("runs:\n  - {batch: 1}\n  - {hardware.nodes: [0, 2]}\n", "hardware.nodes=0x2-",
     "hardware.nodes[0]", "(nodes), got 0"),
    ("runs:\n  - {search.goal: enrgy}\n", "search.goal=enrgy-", "search.goal",
     "did you mean 'energy'"),
    # beam is no longer a method (issue: one method registry): the message says what to set.
    ("runs:\n  - {solver.method: beam}\n", "solver.method=beam-", "solver.method",
     "beam was removed; the beam search runs under every method, set solver.beam_width"),
    # Keys of mixed types in a value: the run id sorted them (TypeError) before the check.
    ("grid:\n  search.pin: [{1: x, a: y}]\n", "search.pin=", "search.pin",
     "keys must be names, got 1"),
])
def test_every_run_is_checked_before_any_solves(tmp_path, capsys, text, run, field, words):
    path = _setup(tmp_path, f"base: base.yaml\nout: results\n{text}")
    with pytest.raises(InputError) as info:
        load_sweep(path)
    assert info.value.source.startswith(f"{path}: ")
    assert run in info.value.source                      # names the run ...
    assert info.value.field == field                     # ... and the field
    assert words in info.value.message
    assert main(["sweep", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_a_mistake_in_the_base_names_the_base_file(tmp_path):
    path = _setup(tmp_path, "base: base.yaml\nout: o\ngrid: {batch: [1, 2]}\n")
    (tmp_path / "base.yaml").write_text(BASE + "costs: {dram: -5}\n")
    with pytest.raises(InputError) as info:
        load_sweep(path)
    assert "batch=1-" in info.value.source
    assert f"{tmp_path / 'base.yaml'}: costs.dram: must be 0 or a number from 1e-100" \
        in info.value.message


def test_run_ids_are_stable_readable_and_bounded():
    a = run_id({"hardware.gbuf_bytes": 32768, "hardware.nodes": [2, 2]})
    assert a.startswith("hardware.gbuf_bytes=32768,hardware.nodes=2x2-")
    assert a == run_id({"hardware.nodes": [2, 2], "hardware.gbuf_bytes": 32768})
    assert a != run_id({"hardware.gbuf_bytes": 32768, "hardware.nodes": [2, 1]})
    assert run_id({}).startswith("base-")
    assert run_id({"search.bypass": ["ifmap", "ofmap"]}).startswith("search.bypass=ifmap+ofmap-")
    assert run_id({"search.bypass": []}).startswith("search.bypass=none-")
    odd = run_id({"network": "../nets/my net.yaml", "search.bypass": [], "costs.idle": 0.5,
                   "search.pin": {"*": {"mapping": 0}}})
    assert "/" not in odd and " " not in odd and not odd.startswith(".")
    many = {f"costs.{k}": 10**12 + i for i, k in enumerate(("mac", "dram", "gbuf", "itcn",
                                                           "regf", "noc_hop", "idle"))}
    long_id = run_id(many)
    assert len(long_id) <= ID_TEXT_LIMIT + 11
    assert long_id != run_id({**many, "costs.idle": 1})   # differs past the cut


def test_the_shipped_sweep_loads():
    sweep = load_sweep(ROOT / "configs" / "sweeps" / "alexnet_gbuf_nodes.yaml")
    assert len(sweep.runs) == 6
    assert sweep.keys == ["hardware.gbuf_bytes", "hardware.nodes"]
    assert sweep.base == ROOT / "configs" / "eyeriss_isca16_alexnet.yaml"
    assert sweep.out == ROOT / "results" / "alexnet-gbuf-nodes"
    assert {r.scenario.hardware.nodes for r in sweep.runs} == {(1, 1), (2, 2)}


# -- running -----------------------------------------------------------------------------------

def test_local_sweep_writes_one_result_per_run_and_the_summary(finished):
    tmp, sweep, outcome = finished
    out = tmp / "results" / "grid"
    assert sweep.out == out
    ids = [run.id for run in sweep.runs]
    assert sorted(outcome.solved) == sorted(ids) and outcome.skipped == 0 and not outcome.failed
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{i}.json" for i in ids]
                                                           + ["summary.csv"])
    rows = _summary(out / "summary.csv")
    assert list(rows[0]) == ["id", "hardware.gbuf_bytes", "hardware.regf_bytes", "network",
                             "search.bypass", "status", "energy", "time", "edp", "bound",
                             "gap", "solve_seconds", "error"]
    assert [r["id"] for r in rows] == ids
    docs = _results(out)
    for run, row in zip(sweep.runs, rows, strict=True):
        doc = docs[run.id]
        assert doc["run_id"] == run.id and doc["overrides"] == run.overrides
        # The same scenario through `--set`, solved here, gives the same result.
        sets = [f"{k}={json.dumps(v)}" for k, v in run.overrides.items()]
        scenario = load_scenario(tmp / "base.yaml", sets)
        if run.overrides.get("hardware.regf_bytes") == 2:
            assert doc["status"] == row["status"] == "infeasible"
            assert "hardware.regf_bytes" in doc["error"] and row["energy"] == ""
            continue
        direct = solve(scenario)
        assert doc["status"] == row["status"] == direct.status == "optimal"
        assert doc["total"]["energy"] == float(row["energy"]) == direct.energy
        assert float(row["time"]) == direct.time and float(row["edp"]) == direct.edp
        for key, value in run.overrides.items():
            assert row[key] == (json.dumps(value) if isinstance(value, list) else str(value))
        # Each result carries its inputs: nnsolve explain/evaluate can rebuild the scenario.
        rebuilt = scenario_from_result(doc, "r.json")
        assert rebuilt.hardware == scenario.hardware and rebuilt.network == scenario.network


def test_rerun_skips_finished_runs_and_redoes_a_deleted_one(finished, tmp_path):
    src, sweep, _ = finished
    shutil.copytree(src, tmp_path, dirs_exist_ok=True)
    sweep = load_sweep(tmp_path / "sweep.yaml")
    out = sweep.out
    before = _mtimes(out)
    console = _quiet()
    again = run_sweep(sweep, _no_executor, console)
    assert again.solved == [] and again.skipped == 5 and len(again.rows) == 5
    assert "5 finished earlier (skipped), 0 to solve" in console.file.getvalue()
    assert _mtimes(out) == before
    assert len(_summary(out / "summary.csv")) == 5

    gone = sweep.runs[3]
    sweep.result_path(gone).unlink()
    (out / f".{gone.id}.json.tmp123").write_text('{"half": ')     # a killed writer's leftover
    once = run_sweep(sweep, executor_factory(1, None), _quiet())
    assert once.solved == [gone.id] and once.skipped == 4
    after = _mtimes(out)
    assert after.keys() == before.keys()
    assert {name for name in before if after[name] != before[name]} == {f"{gone.id}.json"}
    assert [r["id"] for r in _summary(out / "summary.csv")] == [r.id for r in sweep.runs]


def test_results_of_an_edited_base_scenario_are_solved_again(finished, tmp_path):
    """The run id names the overrides only; a result that solved another base scenario (or
    another network file) is stale and replaced, never mixed into the summary."""
    src, _, _ = finished
    shutil.copytree(src, tmp_path, dirs_exist_ok=True)
    base = tmp_path / "base.yaml"
    base.write_text(base.read_text().replace("batch: 2", "batch: 3"))
    sweep = load_sweep(tmp_path / "sweep.yaml")
    console = _quiet()
    outcome = run_sweep(sweep, executor_factory(2, None), console)
    # The mlp_s run does not read the edited network file but does read the edited batch.
    assert outcome.skipped == 0 and len(outcome.solved) == 5
    assert "5 earlier results solved another scenario" in console.file.getvalue()
    docs = _results(sweep.out)
    assert all(d["inputs"]["scenario"]["batch"] == 3 for d in docs.values())


def test_a_dask_cluster_gives_the_same_results(finished, dask_address, tmp_path):
    _, local, _ = finished
    path = _setup(tmp_path, SWEEP)
    sweep = load_sweep(path)
    outcome = run_sweep(sweep, executor_factory(None, dask_address), _quiet())
    assert sorted(outcome.solved) == sorted(r.id for r in sweep.runs)
    assert _summary(sweep.summary_path) != []
    drop = ("solve_seconds",)
    strip = [{k: v for k, v in row.items() if k not in drop}
             for row in _summary(sweep.summary_path)]
    assert strip == [{k: v for k, v in row.items() if k not in drop}
                     for row in _summary(local.summary_path)]


def test_an_unexpected_error_names_the_run_and_the_sweep_goes_on(dask_address, tmp_path,
                                                                 monkeypatch):
    import nnsolve.sweep.runner

    real = nnsolve.sweep.runner.solve

    def buggy(scenario, method=None, *args, **kwargs):
        if scenario.hardware.gbuf_words == 256:       # gbuf 512 bytes
            raise RuntimeError("a bug")
        return real(scenario, method, *args, **kwargs)

    monkeypatch.setattr(nnsolve.sweep.runner, "solve", buggy)    # the cluster runs in this process
    path = _setup(tmp_path, "base: base.yaml\nout: o\ngrid: {hardware.gbuf_bytes: [512, 8192]}\n")
    sweep = load_sweep(path)
    console = _quiet()
    outcome = run_sweep(sweep, executor_factory(None, dask_address), console)
    bad, good = sweep.runs
    assert outcome.failed == {bad.id: "RuntimeError: a bug"} and outcome.solved == [good.id]
    text = console.file.getvalue()
    assert f"run {bad.id} failed unexpectedly: RuntimeError: a bug" in text
    assert set(_results(sweep.out)) == {good.id}      # a rerun retries the failed run
    assert [r["id"] for r in _summary(sweep.summary_path)] == [good.id]


def test_plot_draws_every_finished_run(finished, tmp_path):
    src, _, _ = finished
    shutil.copytree(src, tmp_path, dirs_exist_ok=True)
    png = tmp_path / "pareto.png"
    assert main(["sweep", str(tmp_path / "sweep.yaml"), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


# -- kill -9 and Ctrl-C of the driver ----------------------------------------------------------

def _start(path: Path, *extra: str) -> subprocess.Popen:
    """`python -m nnsolve.cli sweep` in a session of its own (so its workers can be found),
    its output in files next to the sweep file (pipes would stay open in stray workers)."""
    with open(path.parent / "stdout.txt", "w") as out, \
            open(path.parent / "stderr.txt", "w") as err:
        return subprocess.Popen([sys.executable, "-m", "nnsolve.cli", "sweep", str(path),
                                 *extra], cwd=ROOT, stdout=out, stderr=err,
                                start_new_session=True)


def _output(path: Path) -> tuple[str, str]:
    return (path.parent / "stdout.txt").read_text(), (path.parent / "stderr.txt").read_text()


def _wait_for_result(out: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not any(not p.name.startswith(".") for p in out.glob("*.json")):
        assert proc.poll() is None, "the sweep ended early"
        assert time.monotonic() < end, "no run finished"
        time.sleep(0.02)


def _live_in_session(sid: int) -> list[int]:
    """Processes of session ``sid`` that are still running (not zombies)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _kill_session(sid: int) -> None:
    for pid in _live_in_session(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_kill_9_loses_only_the_runs_in_flight(tmp_path):
    path = _setup(tmp_path, f"base: base.yaml\nout: out\nruns:\n  - {SLOW_ALEXNET}\n"
                            "  - {}\n  - {batch: 1}\n  - {hardware.gbuf_bytes: 512}\n"
                            "  - {network: mlp_s}\n")
    sweep = load_sweep(path)
    proc = _start(path, "--jobs", "2")
    try:
        _wait_for_result(sweep.out, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # The workers notice that the driver is gone and exit.
        end = time.monotonic() + 5
        while _live_in_session(proc.pid) and time.monotonic() < end:
            time.sleep(0.05)
        assert _live_in_session(proc.pid) == []
    finally:
        _kill_session(proc.pid)
    assert proc.returncode == -signal.SIGKILL
    kept = _results(sweep.out)                    # every file there parses ...
    ids = [r.id for r in sweep.runs]
    assert kept and set(kept) <= set(ids)
    for rid, doc in kept.items():                 # ... and is a complete result
        assert doc["run_id"] == rid and doc["status"] == "optimal" and doc["layers"]
    assert sweep.runs[0].id not in kept           # the slow run was in flight
    listed = [r["id"] for r in _summary(sweep.summary_path)]
    assert set(listed) <= set(kept)               # the summary never lists a missing file

    before = _mtimes(sweep.out)
    outcome = run_sweep(load_sweep(path), executor_factory(2, None), _quiet())
    assert sorted(outcome.solved) == sorted(set(ids) - set(kept))
    assert outcome.skipped == len(kept)
    assert all(_mtimes(sweep.out)[name] == t for name, t in before.items())
    assert set(_results(sweep.out)) == set(ids)
    assert [r["id"] for r in _summary(sweep.summary_path)] == ids


@pytest.mark.parametrize("backend", [["--jobs", "2"], ["--dask", "local", "--jobs", "2"]],
                         ids=["processes", "dask-local"])
def test_ctrl_c_keeps_finished_runs_and_stops_the_workers(tmp_path, backend):
    path = _setup(tmp_path, f"base: base.yaml\nout: out\nruns:\n  - {SLOW_GOOGLENET}\n"
                            "  - {}\n  - {batch: 1}\n  - {hardware.gbuf_bytes: 512}\n")
    sweep = load_sweep(path)
    proc = _start(path, *backend)
    try:
        _wait_for_result(sweep.out, proc)
        os.kill(proc.pid, signal.SIGINT)
        # The slow run needs ~15 s more: the driver does not wait for it.
        proc.wait(timeout=8)
        stdout, stderr = _output(path)
        assert proc.returncode == 130, stderr
        end = time.monotonic() + 5
        while _live_in_session(proc.pid) and time.monotonic() < end:
            time.sleep(0.05)
        assert _live_in_session(proc.pid) == []     # the workers are stopped too
    finally:
        _kill_session(proc.pid)
    kept = _results(sweep.out)
    assert kept and sweep.runs[0].id not in kept
    assert [r["id"] for r in _summary(sweep.summary_path)] == \
        [r.id for r in sweep.runs if r.id in kept]
    assert f"interrupted: kept the {len(kept)} finished run" in stdout
    assert "interrupted" in stderr and "Traceback" not in stderr
