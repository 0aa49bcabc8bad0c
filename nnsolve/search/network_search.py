"""Orchestration: a scenario's network -> one solved schedule per layer -> a NetworkResult.

On one node, layers run one after another with DRAM between them, so the network optimum is
every layer at its own optimum (for energy and delay; for EDP the per-layer optima give a
proven bound, see results.py). Identical layers (same shape, same pins) are solved once.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, replace

from .. import methods as registry
from ..errors import InfeasibleError
from ..formats.result_json import SavedResult
from ..model.mapping import ModelRules
from ..model.partition import PartitionScheme
from ..model.schedule import LayerSchedule, Region
from ..results import LayerOutcome, NetworkResult, interrupted
from ..scenario import Scenario
from .layer_solve import grouped_outcome, layer_problem, solve_layer, solver_threads
from .node_array import evaluate_node_array, solve_node_array
from .pipeline import solve_pipelined
from .pipeline_rescore import evaluate_pipelined
from .schedule_check import Checker


@dataclass
class Progress:
    """Callbacks for long solves: ``start(total)``, then ``advance(layer_name)`` per layer."""

    start: Callable[[int], None] = lambda total: None
    advance: Callable[[str], None] = lambda name: None


def solve(scenario: Scenario, method: str | None = None, progress: Progress | None = None,
          rules: ModelRules | None = None, time_limit: float | None = None,
          dask: str | None = None) -> NetworkResult:
    """Schedule every layer of the scenario's network with ``method`` (default: the scenario's
    solver.method); ``time_limit`` overrides solver.time_limit_s (seconds per layer);
    ``rules`` override the scenario's model section. A pipelined search sends its
    independent solves to ``solver.workers`` local processes, or with ``dask`` to the Dask
    cluster at that address (``"local"``: a LocalCluster started here)."""
    method = method or scenario.solver.method
    rules = scenario.rules if rules is None else rules
    if time_limit is not None:
        scenario = replace(scenario, solver=replace(scenario.solver, time_limit_s=time_limit))
    why_not = registry.method(method).applies(scenario)   # unknown or removed: an error
    if why_not is not None:
        raise InfeasibleError(f"{scenario.source}: method {method}: {why_not}")
    progress = progress or Progress()
    if scenario.search.interlayer or scenario.search.save_writeback:
        return solve_pipelined(scenario, method, progress, rules, dask=dask)
    if scenario.hardware.num_nodes != 1:
        return solve_node_array(scenario, method, progress, rules)
    solver = scenario.solver
    goal = scenario.search.goal
    start = _time.perf_counter()
    deadline = start + solver.total_time_limit_s
    net = scenario.network
    progress.start(len(net.layers))
    solved: dict[tuple, LayerOutcome] = {}
    outcomes = []
    notes: list[str] = []
    try:
        for name, layer in net.layers.items():
            pins = scenario.search.pins_for(name)
            key = (layer, pins)
            if key not in solved:
                problem = layer_problem(scenario, layer, rules)
                limit = max(0.0, min(solver.time_limit_s, deadline - _time.perf_counter()))
                solved[key] = grouped_outcome(
                    solve_layer(name, problem, method, goal, pins, limit,
                                solver_threads(solver.threads), solver.milp_solver),
                    layer, goal)
                notes += [f"{name}: {n}" for n in solved[key].notes]
            first = solved[key]
            outcomes.append(LayerOutcome(name, layer, first.schedule, first.result,
                                         first.status, first.bound, first.seconds,
                                         first.min_energy, first.min_time,
                                         engine=first.engine))
            progress.advance(name)
        stopped = False
    except KeyboardInterrupt:
        stopped = True
    result = NetworkResult(scenario.name, method, goal, outcomes,
                           solve_seconds=_time.perf_counter() - start, notes=notes)
    if stopped:
        raise interrupted(result, net.layers)
    return result


def evaluate_schedules(scenario: Scenario, schedules: dict[str, LayerSchedule],
                       rules: ModelRules | None = None, input_partition=None,
                       segments=None, saved: SavedResult | None = None,
                       partial: bool = False) -> NetworkResult:
    """Re-score saved schedules (one per layer of the scenario's network); on a node array,
    ``input_partition`` is how the network input lies in DRAM, and with pipelining
    ``segments`` lists the segments (the result's fields of those names).

    Every schedule is checked exactly first (``schedule_check``): a schedule the scenario's
    search could not have produced is an InputError, named by layer, or with ``saved`` (the
    file the schedules were read from) by file and JSON path. ``partial``: the schedules of
    an interrupted solve, the first layers in solve order; only those are scored (the
    result's status is then interrupted, and a note says how many layers it covers).
    ``rules`` override the scenario's model section."""
    rules = scenario.rules if rules is None else rules
    check = Checker(scenario, saved)
    result = _evaluate(scenario, schedules, rules, input_partition, segments, check, partial)
    total = len(scenario.network.layers)
    if len(result.layers) < total:
        result.override_status("interrupted")
        result.notes.insert(0, f"{len(result.layers)} of {total} layers present (an "
                               "interrupted solve's); the totals cover those only")
    return result


def _evaluate(scenario: Scenario, schedules: dict[str, LayerSchedule], rules: ModelRules,
              input_partition, segments, check: Checker, partial: bool) -> NetworkResult:
    if scenario.search.interlayer or scenario.search.save_writeback:
        if segments is None:
            raise check.error(check.path("segments"),
                              f"{scenario.source} pipelines layers: re-scoring needs the "
                              "segments of the schedule (the result JSON's 'segments')")
        return evaluate_pipelined(scenario, schedules, segments, input_partition, rules,
                                  check, partial)
    check.no_segments(segments)
    if scenario.hardware.num_nodes != 1:
        return evaluate_node_array(scenario, schedules, rules, input_partition, check,
                                   partial)
    check.no_input_partition(input_partition)
    net = scenario.network
    outcomes = []
    for name in check.layer_names(list(net.layers), schedules, partial):
        layer = net.layers[name]
        sched = schedules[name]
        check.region(name, sched, Region(), 0)
        check.partition(name, sched, [PartitionScheme.trivial()], (1, 1))
        problem = layer_problem(scenario, layer, rules)
        result = check.score(name, problem, sched)
        outcomes.append(LayerOutcome(name, layer, sched, result, "feasible"))
    return NetworkResult(scenario.name, "evaluate", scenario.search.goal, outcomes)
