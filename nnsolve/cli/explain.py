"""nnsolve explain: a scenario or a result JSON, one layer's schedule explained."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from ..errors import InputError, NnsolveError, did_you_mean, quote
from ..formats.fields import parse_json, read_input

if TYPE_CHECKING:
    from ..results import NetworkResult
    from ..scenario import Scenario


def cli_explain(args: argparse.Namespace, out: Console) -> int:
    """Run ``nnsolve explain TARGET [--layer NAME] ...``; returns the exit code."""
    target = args.target
    doc = _result_document(target)
    if doc is None:
        result, scenario = _solve_scenario(args)
    else:
        result, scenario = _rescore(args, target, doc, out)
    from ..report.explain import explain_layer  # here: a mistake in the files is told sooner

    names = [args.layer] if args.layer else [lo.name for lo in result.layers]
    for i, name in enumerate(names):
        if i:
            out.print()
        out.print(Text(f"━━ {scenario.name}: {name} ━━", style="bold"))
        out.print(explain_layer(result.layers[name], scenario))
    return 0


def _check_layer(args: argparse.Namespace, scenario: Scenario) -> None:
    name = args.layer
    layers = scenario.network.layers
    if name is not None and name not in layers:
        raise InputError("--layer", None, f"{scenario.network.name} has no layer {quote(name)}"
                         f"{did_you_mean(name, layers)}; layers: {', '.join(layers)}")


def _solve_scenario(args: argparse.Namespace) -> tuple[NetworkResult, Scenario]:
    from ..formats.scenario_yaml import load_scenario
    from .common import ProgressBar, overrides

    scenario = load_scenario(args.target, overrides(args))
    _check_layer(args, scenario)
    from ..search.network_search import solve  # the search: only once the inputs are good

    with ProgressBar() as progress:
        result = solve(scenario, scenario.solver.method, progress)
    return result, scenario


def _result_document(path: str) -> dict[str, Any] | None:
    """The parsed result JSON at ``path``, or None when it is not one (a scenario YAML)."""
    p = Path(path)
    if p.suffix.lower() in (".yaml", ".yml"):
        return None
    if not p.is_file():
        if p.suffix.lower() == ".json":
            raise InputError(path, None, "result file not found")
        return None
    text = read_input(p, "the file")
    if p.suffix.lower() != ".json" and not text.lstrip().startswith("{"):
        return None
    doc = parse_json(text, path)
    if not isinstance(doc, dict):
        raise InputError(path, None, "expected a result JSON object written by solve --json")
    return doc


def _rescore(args: argparse.Namespace, path: str, doc: dict[str, Any], out: Console
             ) -> tuple[NetworkResult, Scenario]:
    """The result JSON's schedules re-scored on the scenario it carries (--set applied: only
    costs may change); with --method, one method's of a compare JSON."""
    from ..search.rescore import rescore, rescored_status

    if args.time_limit is not None:
        raise NnsolveError("--time-limit applies to a scenario YAML; a result JSON is "
                           "re-scored as it is")
    done = rescore(path, None, args.set or [], args.method, doc=doc)
    scenario = done.scenario
    _check_layer(args, scenario)
    present = [lo.name for lo in done.result.layers]
    if args.layer is not None and args.layer not in present:
        raise InputError("--layer", None, f"{path} has no schedule for {args.layer}: "
                         f"{done.present} of {done.total} layers present (the solve was "
                         f"interrupted); present: {', '.join(present)}")
    for note in done.notes:
        out.print(Text(f"note: {note}"))
    # Without changes it is the problem solved: what the solver proved still holds.
    return rescored_status(done), scenario
