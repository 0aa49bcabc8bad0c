"""Output safety on the command line: no output replaces a file the run reads, outputs that
cannot be written fail before solving (naming the flag and the user's path), and the result
JSON is written before any table is rendered."""

import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from onnx import TensorProto, helper
from onnx import save as save_onnx

from nnsolve.cli.main import main
from nnsolve.errors import NnsolveError
from nnsolve.sweep.spec import run_id

NET = """\
name: two
input: {channels: 8, size: 6}
layers:
  - {name: conv, type: conv, out_channels: 8, out_size: 6, kernel: 3}
  - {name: fc, type: fc, out_channels: 4}
"""
# Modules by name: some share their name with a function the package exports.
cli_solving = importlib.import_module("nnsolve.cli.solving")
SCENARIO = """\
network: {network}
batch: 2
hardware: {{nodes: [1, 1], pe_array: [4, 4], regf_bytes: 256, gbuf_bytes: 16384}}
solver: {{method: analytical}}
"""


def setup(folder: Path, network: str = "net.yaml") -> Path:
    (folder / network).write_text(NET)
    scenario = folder / "s.yaml"
    scenario.write_text(SCENARIO.format(network=network))
    return scenario


def forbid_solving(monkeypatch) -> None:
    """Fail the test if anything is solved: the checks must come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("solved before the output checks")

    monkeypatch.setattr(cli_solving, "solve", refuse)
    monkeypatch.setattr(importlib.import_module("nnsolve.search.rescore"), "rescore", refuse)
    monkeypatch.setattr(importlib.import_module("nnsolve.search.compare"), "compare", refuse)
    monkeypatch.setattr(importlib.import_module("nnsolve.sweep.runner"), "run_sweep", refuse)


@pytest.fixture
def no_solve(monkeypatch):
    forbid_solving(monkeypatch)


def refused(capsys, argv, *words) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# -- an output never replaces an input ---------------------------------------------------

@pytest.mark.parametrize("command, output, what", [
    ("solve", "s.yaml", "the scenario file"),
    ("solve", "net.yaml", "the network file"),
    ("solve", "./net.yaml", "the network file"),
    ("solve", "hard.yaml", "the scenario file"),        # a hard link to it
    ("solve", "link.yaml", "the scenario file"),        # a symbolic link to it
    ("compare", "s.yaml", "the scenario file"),
    ("compare", "net.yaml", "the network file"),
    ("evaluate", "r.json", "the result JSON"),
    ("evaluate", "s.yaml", "the scenario file"),
])
def test_json_onto_an_input_is_refused_before_solving(tmp_path, capsys, monkeypatch, command,
                                                      output, what):
    scenario = setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["solve", "s.yaml", "--json", "r.json"]) == 0
    os.link(scenario, tmp_path / "hard.yaml")
    (tmp_path / "link.yaml").symlink_to("s.yaml")
    capsys.readouterr()
    before = contents(tmp_path)
    forbid_solving(monkeypatch)
    argv = [command, "s.yaml", *(["r.json"] if command == "evaluate" else []), "--json", output]
    refused(capsys, argv, f"error: --json: {output} is {what} this run reads")
    assert contents(tmp_path) == before
    assert (tmp_path / "link.yaml").is_symlink()


def test_the_network_named_with_an_override_is_protected(tmp_path, capsys, no_solve):
    scenario = setup(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(NET)
    refused(capsys, ["solve", str(scenario), "--set", f"network={other}", "--json", str(other)],
            f"--json: {other} is the network file")
    assert other.read_text() == NET


def test_plot_onto_an_input_or_onto_the_json_is_refused(tmp_path, capsys, no_solve):
    scenario = setup(tmp_path, network="./net.png")        # a network YAML under a .png name
    png = tmp_path / "net.png"
    refused(capsys, ["solve", str(scenario), "--plot", str(png)],
            f"--plot: {png} is the network file this run reads")
    out = tmp_path / "out.png"
    refused(capsys, ["compare", str(scenario), "--json", str(out), "--plot", str(out)],
            f"--plot: {out} is also the --json output")
    assert png.read_text() == NET and not out.exists()


def test_import_onto_its_model_is_refused(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    save_onnx(helper.make_model(graph), str(model))
    data = model.read_bytes()
    refused(capsys, ["import", str(model), "-o", str(model)],
            f"-o: {model} is the ONNX model this run reads")
    assert model.read_bytes() == data
    assert main(["import", str(model), "-o", str(tmp_path / "m.yaml")]) == 0
    assert "layers" in (tmp_path / "m.yaml").read_text()


def test_a_sweep_never_writes_over_its_inputs(tmp_path, capsys, no_solve):
    setup(tmp_path)
    rid = run_id({"batch": 1})
    base = tmp_path / f"{rid}.json"          # the base scenario where a result would go
    base.write_text(SCENARIO.format(network="net.yaml"))
    sweep = tmp_path / "sw.yaml"
    sweep.write_text(f"base: {base.name}\nruns: [{{batch: 1}}]\nout: .\n")
    refused(capsys, ["sweep", str(sweep)],
            f"{sweep}: out: {tmp_path / (rid + '.json')} is the base scenario this run reads")
    sweep.write_text("base: s.yaml\nruns: [{batch: 1}]\nout: res\n")
    link = tmp_path / "link.png"
    link.symlink_to("net.yaml")
    refused(capsys, ["sweep", str(sweep), "--plot", str(link)],
            f"--plot: {link} is the network file this run reads")
    assert (tmp_path / "net.yaml").read_text() == NET and not (tmp_path / "res").exists()


# -- outputs that cannot be written fail before solving ----------------------------------

@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "under a file"])
@pytest.mark.parametrize("command", ["solve", "compare", "evaluate", "schema"])
def test_an_unwritable_json_fails_at_once(tmp_path, capsys, no_solve, kind, command):
    scenario = setup(tmp_path)
    result = tmp_path / "r.json"
    result.write_text("{}")
    if kind == "directory":
        out = tmp_path / "dir.json"
        out.mkdir()
    elif kind == "fifo":
        out = tmp_path / "fifo.json"
        os.mkfifo(out)
    elif kind == "device":
        out = Path(os.devnull)
    else:
        out = tmp_path / "r.json" / "out.json"
    argv = {"solve": ["solve", str(scenario), "--json", str(out)],
            "compare": ["compare", str(scenario), "--json", str(out)],
            "evaluate": ["evaluate", str(scenario), str(result), "--json", str(out)],
            "schema": ["schema", "-o", str(out)]}[command]
    flag = "-o" if command == "schema" else "--json"
    err = refused(capsys, argv, f"error: {flag}: {out}: cannot write it")
    assert ".tmp" not in err


def test_an_unwritable_plot_or_sweep_output_fails_at_once(tmp_path, capsys, no_solve):
    scenario = setup(tmp_path)
    (tmp_path / "file").write_text("x")
    plot = tmp_path / "file" / "p.png"
    refused(capsys, ["solve", str(scenario), "--plot", str(plot)],
            f"--plot: {plot}: cannot write it")
    sweep = tmp_path / "sw.yaml"
    sweep.write_text("base: s.yaml\nruns: [{batch: 1}]\nout: res\n")
    refused(capsys, ["sweep", str(sweep), "--plot", str(plot)],
            f"--plot: {plot}: cannot write it")
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "summary.csv").mkdir()
    refused(capsys, ["sweep", str(sweep)],
            f"{sweep}: out: {tmp_path / 'res' / 'summary.csv'}: cannot write it: it is a "
            "directory")


def test_a_read_only_directory_fails_before_solving():
    """As a user who may not write the directory (nobody, when the tests run as root)."""
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        scenario = setup(folder)
        locked = folder / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        out = locked / "sub" / "r.json"
        # Everything imported (an error printed once) before giving up root: the Python
        # installation may be readable by root only.
        child = ("import os, sys\n"
                 "from nnsolve.cli.main import main\n"
                 "import nnsolve.cli.solving\n"
                 "main(['net', 'no-such-network'])\n"
                 "sys.modules['nnsolve.cli.solving'].solve = None\n"    # must not be reached
                 "if os.geteuid() == 0:\n"
                 "    os.setgid(65534); os.setuid(65534)\n"
                 f"sys.exit(main(['solve', {str(scenario)!r}, '--json', {str(out)!r}]))\n")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                              env=env, cwd="/")
        assert proc.returncode == 2, proc.stderr
        last = proc.stderr.splitlines()[-1]
        assert last == f"error: --json: {out}: cannot write it: permission denied in {locked}"
    finally:
        for p in (folder / "locked", folder):
            p.chmod(0o755)
        subprocess.run(["rm", "-rf", str(folder)], check=True)


# -- the result is written before the tables ---------------------------------------------

@pytest.mark.parametrize("command, table", [("solve", "result_table"),
                                            ("compare", "comparison_tables"),
                                            ("evaluate", "result_table")])
def test_the_json_is_written_before_a_table_fails(tmp_path, monkeypatch, command, table):
    scenario = setup(tmp_path)
    result = tmp_path / "r.json"
    assert main(["solve", str(scenario), "--json", str(result)]) == 0

    def broken(*args):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(cli_solving, table, broken)
    out = tmp_path / "out.json"
    argv = [command, str(scenario), *([str(result)] if command == "evaluate" else []),
            "--json", str(out)]
    if command == "compare":
        argv += ["--methods", "analytical"]
    with pytest.raises(RuntimeError, match="rendering failed"):
        main(argv)
    doc = json.loads(out.read_text())
    assert doc["inputs"]["source"] == str(scenario)
    assert "layers" in doc or "results" in doc


def test_an_existing_result_keeps_its_mode_and_its_symlink(tmp_path):
    scenario = setup(tmp_path)
    (tmp_path / "keep").mkdir()
    real = tmp_path / "keep" / "r.json"
    real.write_text("old")
    real.chmod(0o600)
    link = tmp_path / "r.json"
    link.symlink_to(real)
    assert main(["solve", str(scenario), "--json", str(link)]) == 0
    assert link.is_symlink() and (real.stat().st_mode & 0o777) == 0o600
    assert json.loads(real.read_text())["status"] == "heuristic"


def test_a_failed_plot_keeps_the_json_and_says_so(tmp_path, capsys, monkeypatch):
    scenario = setup(tmp_path)
    plots = importlib.import_module("nnsolve.report.plots")

    def broken(*args):
        raise NnsolveError("drawing failed")

    monkeypatch.setattr(plots, "plot_result", broken)
    out = tmp_path / "r.json"
    assert main(["solve", str(scenario), "--json", str(out), "--plot",
                 str(tmp_path / "r.png")]) == 2
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out and "error: drawing failed" in captured.err
    assert json.loads(out.read_text())["layers"]
