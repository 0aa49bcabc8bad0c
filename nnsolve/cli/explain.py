"""nnsolve explain: a scenario or a result JSON, one layer's schedule explained."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from ..errors import InputError, NnsolveError, did_you_mean, quote
from ..formats.fields import parse_json, read_input
from ..report.explain import explain_layer
from ..results import NetworkResult
from ..scenario import Scenario


def cli_explain(args: argparse.Namespace, out: Console) -> int:
    """Run ``nnsolve explain TARGET [--layer NAME] ...``; returns the exit code."""
    target = args.target
    doc = _result_document(target)
    if doc is None:
        result, scenario = _solve_scenario(args)
    else:
        result, scenario = _rescore(args, target, doc)
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
    from ..search.network_search import solve
    from .common import ProgressBar, overrides

    scenario = load_scenario(args.target, overrides(args))
    _check_layer(args, scenario)
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
    if "results" in doc and "methods" in doc:
        raise InputError(path, None, "this is a compare result; explain the result of one "
                                     "method (solve --method M --json OUT)")
    return doc


def _rescore(args: argparse.Namespace, path: str, doc: dict[str, Any]
             ) -> tuple[NetworkResult, Scenario]:
    """The result JSON's schedules re-scored on the scenario it carries (--set applied)."""
    from ..formats.result_json import read_schedules, scenario_from_result
    from ..formats.scenario_yaml import apply_overrides
    from ..search.network_search import evaluate_schedules

    if args.method or args.time_limit is not None:
        raise NnsolveError("--method and --time-limit apply to a scenario YAML; a result "
                           "JSON is re-scored as it is")
    if any(item.split("=", 1)[0].strip() == "network" for item in args.set or ()):
        raise NnsolveError("--set network=...: a result JSON's schedules belong to the "
                           "network it carries; explain another network from its scenario")
    if args.set and isinstance(doc.get("inputs"), dict):
        inputs = dict(doc["inputs"])
        inputs["scenario"] = apply_overrides(inputs.get("scenario"), args.set)
        doc = {**doc, "inputs": inputs}
    scenario = scenario_from_result(doc, path)
    _check_layer(args, scenario)
    schedules, input_partition, segments = read_schedules(path, with_input=True)
    result = evaluate_schedules(scenario, schedules, input_partition=input_partition,
                                segments=segments)
    if not args.set:
        # The same problem: what the solver proved about it still holds.
        saved = {e.get("name"): e for e in doc.get("layers", []) if isinstance(e, dict)}
        for i, lo in enumerate(result.layers):
            entry = saved.get(lo.name, {})
            status, bound = entry.get("status"), entry.get("bound")
            result.layers[i] = replace(
                lo, status=status if isinstance(status, str) else lo.status,
                bound=float(bound) if isinstance(bound, (int, float)) else None)
    return result, scenario
