"""Re-scoring a result JSON: ``nnsolve evaluate``, ``nnsolve explain RESULT.json`` and the
Python API's ``rescore``.

A result's schedules are answers to the problem it was solved for, which the result carries
(``inputs``). Re-scoring them against another problem is refused, except for the costs when
the change is asked for explicitly (docs/results.md, "Re-scoring"):

* network (its layers), batch, word size, hardware and the search options that define the
  schedule space (bypass, partitioning, forwarding, sharing, pipelining) must match;
* costs and model rules may differ only when the user says so (``--set costs.KEY=VALUE``,
  ``--set model.KEY=VALUE``, or ``changed``);
* the name, the goal, pins, solve_loopblocking and the solver options steer a solve, not a
  score, and may differ freely.

Then every schedule is checked exactly (``schedule_check``) and scored by the one
evaluator. An interrupted solve's result is scored for the layers it holds; a compare result
needs a method.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import InputError, NnsolveError
from ..formats.result_json import SavedResult, read_result, scenario_differences
from ..formats.scenario_yaml import load_scenario, parse_override
from ..methods import METHODS
from ..model.mapping import ModelRules
from ..results import STATUSES, NetworkResult
from ..scenario import Scenario
from .network_search import evaluate_schedules

#: Scenario keys that steer a solve and do not change what a schedule scores.
FREE_KEYS = ("name", "search.goal", "search.pin", "search.solve_loopblocking")
FREE_SECTIONS = ("solver.",)
#: Keys that may change on purpose: the schedule stays meaningful, its score changes.
COST_SECTION = ("costs.", "model.")    # change the score, not the schedule


@dataclass
class Rescored:
    """A result JSON's schedules re-scored: the result, the scenario it was scored on, the
    file as read and what the user should know (also in ``result.notes``)."""

    result: NetworkResult
    scenario: Scenario
    saved: SavedResult
    notes: list[str] = field(default_factory=list)
    #: (key, value here, value when solved) of every scenario field that differs
    changes: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def present(self) -> int:
        """Layers scored."""
        return len(self.result.layers)

    @property
    def total(self) -> int:
        """Layers of the network."""
        return len(self.scenario.network.layers)


def rescore(result: str | Path, scenario: Scenario | str | Path | None = None,
            overrides: Sequence[str] = (), method: str | None = None,
            changed: Iterable[str] = (), rules: ModelRules | None = None,
            doc: Any = None) -> Rescored:
    """Re-score the schedules of the result JSON ``result`` on ``scenario`` (a scenario
    file or a Scenario; None: the one the result carries), ``overrides`` (``KEY=VALUE``)
    applied to it. A compare JSON needs ``method``. ``changed`` lists further scenario keys
    whose difference from the result's scenario is intended (only ``costs.*`` may be).
    ``doc``: the file already parsed. Mistakes are InputErrors naming file and field."""
    path = str(result)
    saved = read_result(path, method, doc)
    keys = {parse_override(item)[0] for item in overrides}
    stored = saved.stored_scenario()
    notes: list[str] = []
    if scenario is None:
        if stored is None:
            raise InputError(path, "inputs", "this result does not carry its scenario "
                             "(results written before nnsolve 0.1 do not); give the "
                             "scenario file too")
        if "network" in keys:
            raise InputError("--set", "network", "a result's schedules belong to the network "
                             "it carries; solve the other network's scenario instead")
        given = saved.scenario(list(overrides))
        label = "--set"
    elif isinstance(scenario, Scenario):
        if overrides:
            raise NnsolveError("rescore: overrides apply to a scenario file or to the "
                               "result's own scenario; change the Scenario object itself "
                               "and list the keys in changed")
        given, label = scenario, scenario.source
    else:
        given = load_scenario(scenario, list(overrides))
        label = str(scenario)
    changes: list[tuple[str, str, str]] = []
    if stored is None:
        notes.append(f"{path} does not carry the scenario it was solved for (written "
                     "before nnsolve 0.1): not checked against it")
    else:
        changes = scenario_differences(given, stored)
        notes += check_scenario(changes, keys | set(changed), label, keys, path)
    scored = evaluate_schedules(given, saved.schedules, rules, saved.input_partition,
                                saved.segments, saved=saved, partial=saved.interrupted)
    if len(scored.layers) < len(given.network.layers):
        notes.insert(0, scored.notes[0])    # "N of M layers present ..."
    scored.notes = notes + [n for n in scored.notes if n not in notes]
    return Rescored(scored, given, saved, notes, changes)


def check_scenario(diffs: list[tuple[str, str, str]], explicit: set[str], label: str,
                   overridden: set[str], path: str) -> list[str]:
    """Refuse a scenario whose differences (``scenario_differences``) from the one the
    result at ``path`` was solved for are not in free keys or costs changed on purpose
    (``explicit``); returns notes on the cost changes. ``label`` names the scenario (its
    file), ``overridden`` the --set keys."""
    fixed = [d for d in diffs if not _free(d[0]) and not d[0].startswith(COST_SECTION)]
    costs = [d for d in diffs if d[0].startswith(COST_SECTION)]
    unasked = [d for d in costs if d[0] not in explicit]
    if fixed:
        if all(k in overridden for k, _, _ in fixed):
            raise InputError("--set", ", ".join(k for k, _, _ in fixed),
                             f"{path} was solved for "
                             + "; ".join(f"{k} {b}, not {a}" for k, a, b in fixed)
                             + ": its schedules belong to that problem (only costs.* and "
                             "model.* may change when re-scoring; re-solve for other values)")
        raise InputError(label, None,
                         f"does not match the scenario {path} was solved for: "
                         f"{_listing(fixed)}; its schedules belong to that problem "
                         "(re-solve this one instead; only costs.* and model.* may change, "
                         "with --set)")
    if unasked:
        sets = " ".join(f"--set {k}={a}" for k, a, _ in unasked)
        raise InputError(label, None,
                         f"its costs or model rules differ from those {path} was solved "
                         f"for: {_listing(unasked)}; to re-score under others, ask for it: "
                         f"{sets}")
    if not costs:
        return []
    return ["re-scored under changed costs or model rules: "
            + ", ".join(f"{k} {a} (solved with {b})" for k, a, b in costs)
            + "; the bounds of the solve do not apply"]


def _free(key: str) -> bool:
    return key in FREE_KEYS or key.startswith(FREE_SECTIONS)


def _listing(diffs: list[tuple[str, str, str]]) -> str:
    return "; ".join(f"{k} {a} here, {b} in the result" for k, a, b in diffs)


def rescored_status(rescored: Rescored) -> NetworkResult:
    """The re-scored result with the statuses and bounds the solve proved (and, from method
    auto, the engine that proved each layer), when the problem is the one solved (nothing
    changed): what was proven about it still holds."""
    result = rescored.result
    if rescored.changes or rescored.saved.inputs is None:
        return result
    saved = {e.get("name"): e for e in rescored.saved.doc.get("layers", [])
             if isinstance(e, dict)}
    for i, lo in enumerate(result.layers):
        entry = saved.get(lo.name, {})
        status, bound = entry.get("status"), entry.get("bound")
        engine = entry.get("engine")
        result.layers[i] = replace(
            lo, status=status if _is_status(status) else lo.status,
            bound=float(bound) if isinstance(bound, (int, float))
            and not isinstance(bound, bool) else None,
            engine=engine if isinstance(engine, str) and engine in METHODS else None)
    return result


def _is_status(value: Any) -> bool:
    return isinstance(value, str) and value in STATUSES
