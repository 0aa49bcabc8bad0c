"""Orchestration: a scenario's network -> one solved schedule per layer -> a NetworkResult.

On one node, layers run one after another with DRAM between them, so the network optimum is
every layer at its own optimum (for energy and delay; for EDP the per-layer optima give a
proven bound, see results.py). Identical layers (same shape, same pins) are solved once.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, replace

from .errors import InfeasibleError, NnsolveError
from .formulations.backend import ModelTooLarge
from .heuristics import analytical, exhaustive
from .model.evaluate import LayerProblem, evaluate_layer
from .model.goals import goal_value
from .model.layer import Layer
from .model.mapping import DEFAULT_RULES, ModelRules
from .model.pins import Pins
from .model.schedule import LayerSchedule
from .results import LayerOutcome, NetworkResult, interrupted
from .scenario import Scenario

#: Methods, and what they promise.
METHODS = {
    "cpsat": "exact CP-SAT model, proven optimal with bound and gap",
    "milp": "exact MILP model (HiGHS or CBC), proven optimal with bound and gap",
    "analytical": "TETRIS's closed-form bypass solver (nn_dataflow --solve-loopblocking)",
    "exhaustive": "scores every scheme of nn_dataflow's space (proven optimal)",
}


@dataclass
class Progress:
    """Callbacks for long solves: ``start(total)``, then ``advance(layer_name)`` per layer."""

    start: Callable[[int], None] = lambda total: None
    advance: Callable[[str], None] = lambda name: None


def layer_problem(scenario: Scenario, layer: Layer, rules: ModelRules = DEFAULT_RULES
                  ) -> LayerProblem:
    """One layer of the scenario on its (single) node."""
    hw = scenario.hardware
    if hw.num_nodes != 1:
        raise NnsolveError(f"{scenario.source}: hardware.nodes {list(hw.nodes)}: multi-node "
                           "scheduling is not available yet; use nodes: [1, 1]")
    return LayerProblem.single_node(layer, scenario.batch, hw, scenario.costs,
                                    scenario.search.bypass_mask, rules)


def solve(scenario: Scenario, method: str | None = None, progress: Progress | None = None,
          rules: ModelRules = DEFAULT_RULES, time_limit: float | None = None) -> NetworkResult:
    """Schedule every layer of the scenario's network with ``method`` (default: the scenario's
    solver.method); ``time_limit`` overrides solver.time_limit_s (seconds per layer)."""
    method = method or scenario.solver.method
    if time_limit is not None:
        scenario = replace(scenario, solver=replace(scenario.solver, time_limit_s=time_limit))
    if method not in METHODS:
        raise NnsolveError(f"method {method!r} is not available yet; available: "
                           f"{', '.join(METHODS)}")
    progress = progress or Progress()
    if scenario.search.interlayer or scenario.search.save_writeback:
        from .pipeline import solve_pipelined

        return solve_pipelined(scenario, method, progress, rules)
    if scenario.hardware.num_nodes != 1:
        from .multinode import solve_node_array

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
                solved[key] = solve_layer(name, problem, method, goal, pins, limit,
                                          _workers(solver.workers), solver.milp_solver)
                notes += [f"{name}: {n}" for n in solved[key].notes]
            first = solved[key]
            outcomes.append(LayerOutcome(name, layer, first.schedule, first.result,
                                         first.status, first.bound, first.seconds,
                                         first.min_energy, first.min_time))
            progress.advance(name)
        stopped = False
    except KeyboardInterrupt:
        stopped = True
    result = NetworkResult(scenario.name, method, goal, outcomes,
                           solve_seconds=_time.perf_counter() - start, notes=notes)
    if stopped:
        raise interrupted(result, net.layers)
    return result


def _workers(workers: int) -> int:
    """Solver threads per layer model: 0 chooses one (the per-layer models solve in tens of
    milliseconds; CP-SAT's parallel portfolio costs more than it saves there)."""
    return workers if workers > 0 else 1


def solve_layer(name: str, problem: LayerProblem, method: str, goal: str = "energy",
                pins: Pins | None = None, time_limit: float = math.inf, workers: int = 1,
                milp_solver: str = "highs") -> LayerOutcome:
    """One layer with one method; raises InfeasibleError when nothing fits."""
    pins = pins or Pins()
    if method == "exhaustive":
        return _exhaustive(name, problem, goal, pins)
    if method == "analytical":
        found = analytical.search_layer(problem, goal)
        ranked = [r for r in found.top if analytical.keeps_pins(r, pins)]
        if not ranked:
            raise InfeasibleError(_analytical_reason(name, problem, found, pins))
        best = ranked[0]
        status = "optimal" if found.fallback else "heuristic"
        bound = goal_value(best.result.energy, best.result.time, goal) if found.fallback \
            else None
        return LayerOutcome(name, problem.layer, best.schedule, best.result, status, bound,
                            found.seconds)
    from .formulations.loop_blocking import build_cpsat, build_milp

    start = _time.perf_counter()
    form = build_cpsat(problem, goal, pins) if method == "cpsat" else \
        build_milp(problem, goal, pins, solver=milp_solver)
    try:
        sol = form.solve(time_limit=time_limit, workers=workers if method == "cpsat" else 1)
    except ModelTooLarge as exc:
        raise NnsolveError(f"layer {name}: {exc}") from None
    seconds = _time.perf_counter() - start
    if sol.status == "infeasible":
        raise InfeasibleError(infeasibility_reason(name, problem, pins, sol.notes))
    if sol.schedule is None:
        # The limit came before any schedule: the exhaustive search supplies the optimum.
        outcome = _exhaustive(name, problem, goal, pins)
        outcome.seconds += seconds
        outcome.notes = [f"{method} found no schedule within {time_limit:g} s; the "
                         "exhaustive search supplied the optimum"]
        return outcome
    outcome = LayerOutcome(name, problem.layer, sol.schedule, sol.result,
                           "optimal" if sol.status == "optimal" else "timeout", sol.bound,
                           seconds, sol.energy_bound, sol.time_bound)
    outcome.notes = list(sol.notes)
    return outcome


def _exhaustive(name: str, problem: LayerProblem, goal: str, pins: Pins) -> LayerOutcome:
    found = exhaustive.search_layer(problem, goal, pins=pins)
    if found.best is None:
        raise InfeasibleError(infeasibility_reason(name, problem, pins))
    best = found.best
    bound = goal_value(best.result.energy, best.result.time, goal)
    return LayerOutcome(name, problem.layer, best.schedule, best.result, "optimal", bound,
                        found.seconds, found.min_energy, found.min_time)


def _analytical_reason(name: str, problem: LayerProblem, found, pins: Pins) -> str:
    bypass = problem.env.bypass
    if sum(bypass) < 2:
        return (f"layer {name}: the analytical solver keeps one data category in the global "
                "buffer and streams the other two, so it needs bypass permitted for at least "
                "two of weight, ifmap, ofmap (search.bypass)")
    if found.top and not pins.empty:
        return f"layer {name}: no closed-form schedule keeps the pins ({pins.describe()})"
    return f"layer {name}: the analytical solver finds no schedule that fits the buffers"


def infeasibility_reason(name: str, problem: LayerProblem, pins: Pins | None = None,
                         notes: list[str] | None = None) -> str:
    """Why no schedule of a layer fits the hardware, in the user's terms."""
    mapping = problem.mapping
    if not mapping.candidates:
        return f"layer {name}: no valid mapping on the PE array: {mapping.reason}"
    if pins is not None and not pins.empty:
        return f"layer {name}: no schedule keeps the pins ({pins.describe()}) and fits the " \
               "buffers"
    env = problem.env
    regf_need = min(sum(nld.usize_regf) for nld in mapping.candidates)
    gbuf_need = min(sum(s for s, bypass in zip(nld.usize_gbuf, env.bypass, strict=True)
                        if not bypass) for nld in mapping.candidates)
    parts = [f"layer {name}: no loop blocking fits the buffers"]
    if regf_need > env.regf_words:
        parts.append(f"one processing pass needs {regf_need} register-file words per PE, "
                     f"the register file holds {env.regf_words} (hardware.regf_bytes)")
    if gbuf_need > env.gbuf_words:
        parts.append(f"one processing pass needs {gbuf_need} global-buffer words for the data "
                     f"that may not bypass it, the buffer holds {env.gbuf_words} "
                     "(hardware.gbuf_bytes, search.bypass)")
    if len(parts) == 1:
        parts.append(f"register file {env.regf_words} words, global buffer {env.gbuf_words} "
                     "words per node")
    return "; ".join(parts)


def evaluate_schedules(scenario: Scenario, schedules: dict[str, LayerSchedule],
                       rules: ModelRules = DEFAULT_RULES, input_partition=None,
                       segments=None) -> NetworkResult:
    """Re-score saved schedules (one per layer of the scenario's network); on a node array,
    ``input_partition`` is how the network input lies in DRAM, and with pipelining
    ``segments`` lists the segments (the result's fields of those names)."""
    net = scenario.network
    missing = [n for n in net.layers if n not in schedules]
    if missing:
        raise NnsolveError(f"no schedule for layer(s) {', '.join(missing)} of {net.name}")
    extra = [n for n in schedules if n not in net.layers]
    if extra:
        raise NnsolveError(f"schedule(s) for {', '.join(extra)}, which {net.name} does not have")
    if segments is not None:
        from .pipeline import evaluate_pipelined

        return evaluate_pipelined(scenario, schedules, segments, input_partition, rules)
    if scenario.search.interlayer or scenario.search.save_writeback:
        raise NnsolveError(f"{scenario.source}: a pipelined scenario needs the segments of "
                           "the schedule (the result JSON's 'segments')")
    if scenario.hardware.num_nodes != 1:
        from .multinode import evaluate_node_array

        return evaluate_node_array(scenario, schedules, rules, input_partition)
    outcomes = []
    for name, layer in net.layers.items():
        problem = layer_problem(scenario, layer, rules)
        try:
            result = evaluate_layer(problem, schedules[name])
        except ValueError as exc:
            raise NnsolveError(f"layer {name}: {exc}") from None
        if not result.valid:
            raise NnsolveError(f"layer {name}: the schedule does not fit this hardware "
                               "(buffer capacity or on-chip data rules)")
        outcomes.append(LayerOutcome(name, layer, schedules[name], result, "feasible"))
    return NetworkResult(scenario.name, "evaluate", scenario.search.goal, outcomes)
