"""Start-up (issue 18): each command imports what it uses and nothing more. ``--help``,
``nets``, ``net``, ``schema`` and a mistake in a scenario file load no solver engine, no
pandas, no matplotlib and not even numpy; a solve loads the engine of its method only.

Each command runs in a fresh interpreter, which reports the top-level packages it imported.
(Speed is measured in benchmarks/startup.py, not asserted here.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Never needed by the commands that solve nothing.
HEAVY = {"ortools", "pulp", "highspy", "pandas", "matplotlib", "numpy", "networkx", "onnx",
         "dask", "distributed"}
ENGINES = {"ortools", "pulp", "highspy"}

_CHILD = """\
import contextlib, io, json, sys
from nnsolve.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:        # --help
        code = exc.code
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""

NET = """\
name: tiny
input: {channels: 3, size: 8}
layers:
  - {name: conv, type: conv, out_channels: 8, out_size: 6, kernel: 3}
  - {name: fc, type: fc, out_channels: 4}
"""
SCENARIO = """\
network: net.yaml
batch: 2
hardware: {{nodes: [1, 1], pe_array: [4, 4], regf_bytes: 256, gbuf_bytes: 16384{extra}}}
"""


def imported(*argv: str, cwd: Path = ROOT) -> tuple[int, set[str]]:
    """(exit code, top-level packages imported) of ``nnsolve ARGV`` in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True,
                          text=True, cwd=cwd, check=True)
    report = json.loads(proc.stdout.splitlines()[-1])
    return report["code"], set(report["modules"])


@pytest.fixture
def scenarios(tmp_path: Path) -> Path:
    (tmp_path / "net.yaml").write_text(NET)
    (tmp_path / "s.yaml").write_text(SCENARIO.format(extra=""))
    (tmp_path / "typo.yaml").write_text(SCENARIO.format(extra=", gbuf_byts: 3"))
    (tmp_path / "broken.yaml").write_text("network: [net.yaml\n")
    (tmp_path / "huge.yaml").write_text("input: {channels: 1048576, size: 1024}\nlayers:\n"
                                        "  - {name: c, type: conv, out_channels: 1048576, "
                                        "out_size: 1024, kernel: 1}\n")
    (tmp_path / "big.yaml").write_text(SCENARIO.format(extra="").replace(
        "net.yaml", "huge.yaml").replace("batch: 2", "batch: 1048576"))
    return tmp_path


@pytest.mark.parametrize("argv", [["--help"], ["nets"], ["net", "alex_net"],
                                  ["net", "resnet50", "--batch", "4"], ["schema"],
                                  ["solve", "--help"]])
def test_commands_that_solve_nothing_load_nothing_heavy(argv):
    code, modules = imported(*argv)
    assert code == 0
    assert not modules & HEAVY, f"nnsolve {' '.join(argv)} imported {sorted(modules & HEAVY)}"
    assert "nnsolve" in modules


def test_help_loads_no_rich():
    assert "rich" not in imported("--help")[1]


@pytest.mark.parametrize("command", ["solve", "compare", "explain"])
@pytest.mark.parametrize("scenario", ["typo.yaml", "broken.yaml", "missing.yaml"])
def test_a_mistake_in_the_files_is_reported_before_anything_heavy_loads(scenarios, command,
                                                                        scenario):
    code, modules = imported(command, scenario, cwd=scenarios)
    assert code == 2
    assert not modules & HEAVY, sorted(modules & HEAVY)


@pytest.mark.parametrize("argv", [["evaluate", "typo.yaml", "r.json"],
                                  ["sweep", "sweep.yaml"]])
def test_a_mistake_in_a_sweep_or_evaluate_file_loads_nothing_heavy(scenarios, argv):
    (scenarios / "sweep.yaml").write_text("base: s.yaml\ngrid: {batch: [1, 2]}\nout: o\n"
                                          "bogus: 1\n")
    code, modules = imported(*argv, cwd=scenarios)
    assert code == 2
    assert not modules & HEAVY, sorted(modules & HEAVY)


@pytest.mark.parametrize("argv", [["s.yaml", "--json", "s.yaml"], ["big.yaml"]])
def test_a_mistake_found_in_a_loaded_scenario_loads_no_engine(scenarios, argv):
    # The layers' range check on the hardware is the model's (numpy), but no solver runs.
    code, modules = imported("solve", *argv, cwd=scenarios)
    assert code == 2        # big.yaml: beyond the cost model's exact range
    assert not modules & (ENGINES | {"pandas", "matplotlib"}), sorted(modules & HEAVY)


@pytest.mark.parametrize("method, engines", [("exhaustive", set()), ("analytical", set()),
                                             ("cpsat", {"ortools"}),
                                             ("milp", {"pulp", "highspy"})])
def test_a_solve_loads_only_the_engine_of_its_method(scenarios, method, engines):
    code, modules = imported("solve", "s.yaml", "--method", method, cwd=scenarios)
    assert code == 0
    assert modules & ENGINES == engines
    assert not modules & {"matplotlib", "networkx", "onnx", "dask"}


def test_import_nnsolve_loads_its_names_on_first_use():
    code = ("import sys, nnsolve\n"
            "assert not {'numpy', 'networkx', 'rich'} & set(sys.modules), sorted(sys.modules)\n"
            "assert 'nnsolve.search' not in sys.modules\n"
            "from nnsolve import Network, solve\n"
            "from nnsolve.search.network_search import solve as real\n"
            "assert solve is real and nnsolve.solve is real\n"
            "assert nnsolve.formulations.__name__ == 'nnsolve.formulations'\n"
            "assert set(nnsolve.__all__) <= set(dir(nnsolve))\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
