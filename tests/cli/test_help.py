"""Help texts say what the commands do (issue 14): each claim of a subcommand's --help is
checked against its behaviour (explain --help called --set "scenario only" while the guide
uses it on results)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from nnsolve.cli.main import build_parser, main
from nnsolve.search.compare import DEFAULT_METHODS

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "configs" / "single_node" / "mlp_s.yaml")


def _helps(command: str) -> dict[str, str]:
    """Option -> help text of one subcommand."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {opt: " ".join((action.help or "").split())
            for action in sub.choices[command]._actions for opt in action.option_strings
            if opt.startswith("--")}


@pytest.fixture(scope="module")
def result_json(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("help") / "mlp.json"
    assert main(["solve", MLP, "--method", "analytical", "--json", str(out)]) == 0
    return str(out)


def test_every_option_has_a_help_text():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        assert p.format_help()
        for action in p._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings[0]} has no help"


def test_explain_set_works_on_a_result_json(result_json, capsys):
    helps = _helps("explain")
    assert "scenario only" not in helps["--set"] and "result JSON" in helps["--set"]
    capsys.readouterr()
    assert main(["explain", result_json, "--layer", "fc1", "--set", "costs.dram=100"]) == 0
    changed = capsys.readouterr().out
    assert main(["explain", result_json, "--layer", "fc1"]) == 0
    same = capsys.readouterr().out
    # re-scored under the changed cost, "without the saved status and bound"
    assert "status feasible" in changed and "status heuristic" in same
    assert changed.split("cost units")[0] != same.split("cost units")[0]


def test_explain_time_limit_refuses_a_result_json(result_json, capsys):
    assert "scenario YAML only" in _helps("explain")["--time-limit"]
    assert main(["explain", result_json, "--time-limit", "5"]) == 2
    assert "applies to a scenario YAML" in capsys.readouterr().err


def test_explain_method_on_a_result_json_picks_a_compare_method(result_json, capsys):
    assert "a compare JSON: the method" in _helps("explain")["--method"]
    assert main(["explain", result_json, "--method", "cpsat", "--layer", "fc1"]) == 2
    assert "picks one method of a compare result" in capsys.readouterr().err


def test_compare_default_methods_are_the_helps():
    assert f"default {','.join(DEFAULT_METHODS)}" in _helps("compare")["--methods"]


@pytest.mark.parametrize("command", ["solve", "compare", "evaluate"])
def test_plot_help_names_the_suffix_formats(command):
    assert "suffix" in _helps(command)["--plot"]


def test_plot_writes_the_format_its_suffix_names(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "mlp.svg"
    assert main(["solve", MLP, "--method", "analytical", "--plot", str(out)]) == 0
    assert out.read_text().lstrip().startswith("<?xml")


def test_evaluate_reads_what_evaluate_writes(result_json, tmp_path, capsys):
    again = tmp_path / "again.json"
    assert main(["evaluate", MLP, result_json, "--json", str(again)]) == 0
    assert main(["evaluate", MLP, str(again)]) == 0
    assert json.loads(again.read_text())["status"] == "feasible"
