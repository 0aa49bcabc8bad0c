"""nnsolve evaluate and explain on saved results (issue 14): a mismatched scenario or an
edited schedule is one error line (exit 2); costs change with --set; interrupted and compare
results are re-scored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnsolve.cli.main import main
from nnsolve.formats.files import write_json
from nnsolve.formats.result_json import result_document
from nnsolve.formats.scenario_yaml import load_scenario
from nnsolve.results import SolveInterrupted
from nnsolve.search.network_search import Progress, solve

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
MLP = str(CONFIGS / "single_node" / "mlp_s.yaml")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """MLP-S on one node: a solve's, a comparison's and an interrupted solve's JSON."""
    tmp = tmp_path_factory.mktemp("cli_rescore")
    solved, compared = tmp / "solved.json", tmp / "compared.json"
    assert main(["solve", MLP, "--method", "exhaustive", "--json", str(solved)]) == 0
    assert main(["compare", MLP, "--methods", "exhaustive,analytical",
                 "--json", str(compared)]) == 0
    sc = load_scenario(MLP)

    def stop_after_two(name, done=[]):     # noqa: B006 (one solve)
        done.append(name)
        if len(done) == 2:
            raise KeyboardInterrupt

    with pytest.raises(SolveInterrupted) as stop:
        solve(sc, "exhaustive", Progress(advance=stop_after_two))
    partial = tmp / "partial.json"
    write_json(result_document(stop.value.result, sc), partial)
    return {"solved": str(solved), "compared": str(compared), "partial": str(partial),
            "tmp": tmp}


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_error(err: str) -> str:
    assert err.count("error:") == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    return err


def test_evaluate_refuses_another_batch(capsys, results):
    code, out, err = _run(capsys, "evaluate", MLP, results["solved"], "--set", "batch=2")
    assert code == 2 and out == ""
    assert "--set: batch:" in _one_error(err) and "solved for batch 16, not 2" in err


def test_evaluate_rescores_under_costs_set_on_purpose(capsys, results):
    code, out, _ = _run(capsys, "evaluate", MLP, results["solved"], "--set", "costs.dram=100",
                        "--json", str(results["tmp"] / "cheap.json"))
    assert code == 0
    assert ("note: re-scored under changed costs or model rules: costs.dram 100 (solved with "
            "200)") in out
    doc = json.loads((results["tmp"] / "cheap.json").read_text())
    assert doc["inputs"]["scenario"]["costs"]["dram"] == 100
    assert doc["notes"][0].startswith("re-scored under changed costs or model rules")


def test_evaluate_refuses_an_edited_schedule_with_its_json_path(capsys, results):
    doc = json.loads(Path(results["solved"]).read_text())
    doc["layers"][1]["schedule"]["partition"]["factors"]["batch"] = [1, 2]
    bad = results["tmp"] / "bad.json"
    bad.write_text(json.dumps(doc))
    code, _, err = _run(capsys, "evaluate", MLP, str(bad))
    assert code == 2
    assert f"{bad}: layers[1].schedule.partition.factors: covers 1x2 nodes" in _one_error(err)


def test_evaluate_a_compare_result_needs_a_method(capsys, results):
    code, _, err = _run(capsys, "evaluate", MLP, results["compared"])
    assert code == 2
    assert "choose one with --method M" in _one_error(err)
    assert "required key" not in err
    code, out, _ = _run(capsys, "evaluate", MLP, results["compared"], "--method", "analytical")
    assert code == 0 and "total" in out
    code, _, err = _run(capsys, "evaluate", MLP, results["compared"], "--method", "milp")
    assert code == 2 and "holds no result of 'milp'" in _one_error(err)


def test_evaluate_and_explain_an_interrupted_result(capsys, results):
    out_json = results["tmp"] / "again.json"
    code, out, _ = _run(capsys, "evaluate", MLP, results["partial"], "--json", str(out_json))
    assert code == 0
    assert "note: 2 of 3 layers present" in out and "status interrupted" in out
    assert [lo["name"] for lo in json.loads(out_json.read_text())["layers"]] == ["fc1", "fc2"]
    code, out, _ = _run(capsys, "explain", results["partial"])
    assert code == 0
    assert "2 of 3 layers present" in out
    assert ": fc1 ━━" in out and ": fc2 ━━" in out and ": fc3 ━━" not in out
    code, _, err = _run(capsys, "explain", results["partial"], "--layer", "fc3")
    assert code == 2
    assert "has no schedule for fc3: 2 of 3 layers present" in _one_error(err)


def test_explain_a_compare_result_with_a_method(capsys, results):
    code, _, err = _run(capsys, "explain", results["compared"])
    assert code == 2 and "--method M" in _one_error(err)
    code, out, _ = _run(capsys, "explain", results["compared"], "--method", "exhaustive",
                        "--layer", "fc2")
    assert code == 0 and ": fc2 ━━" in out
    # Unchanged problem: the status the solve proved is shown.
    assert "status optimal" in out


def test_explain_refuses_hardware_overrides_on_a_result(capsys, results):
    code, _, err = _run(capsys, "explain", results["solved"], "--set",
                        "hardware.gbuf_bytes=1024")
    assert code == 2
    assert "--set: hardware.gbuf_bytes:" in _one_error(err)
