"""Orchestration: a scenario's network -> one solved schedule per layer -> a NetworkResult.

On one node, layers run one after another with DRAM between them, so the network optimum is
every layer at its own optimum; identical layers (same shape) are solved once.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import InfeasibleError, NnsolveError
from .heuristics import exhaustive
from .model.evaluate import LayerProblem, evaluate_layer
from .model.layer import Layer
from .model.mapping import DEFAULT_RULES, ModelRules
from .model.schedule import LayerSchedule
from .results import LayerOutcome, NetworkResult
from .scenario import Scenario

#: Methods that are implemented, and what they promise.
METHODS = {
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
          rules: ModelRules = DEFAULT_RULES) -> NetworkResult:
    """Schedule every layer of the scenario's network with ``method``."""
    method = method or scenario.solver.method
    if method not in METHODS:
        raise NnsolveError(f"method {method!r} is not available yet; available: "
                           f"{', '.join(METHODS)}")
    progress = progress or Progress()
    goal = scenario.search.goal
    start = _time.perf_counter()
    net = scenario.network
    progress.start(len(net.layers))
    solved: dict[Layer, LayerOutcome] = {}
    outcomes = []
    for name, layer in net.layers.items():
        if layer not in solved:
            problem = layer_problem(scenario, layer, rules)
            solved[layer] = _solve_exhaustive(name, problem, goal)
        first = solved[layer]
        outcomes.append(LayerOutcome(name, layer, first.schedule, first.result, first.status,
                                     first.bound, first.seconds, first.min_energy,
                                     first.min_time))
        progress.advance(name)
    return NetworkResult(scenario.name, method, goal, outcomes,
                         solve_seconds=_time.perf_counter() - start)


def _solve_exhaustive(name: str, problem: LayerProblem, goal: str) -> LayerOutcome:
    found = exhaustive.search_layer(problem, goal)
    if found.best is None:
        raise InfeasibleError(infeasibility_reason(name, problem))
    best = found.best
    bound = {"energy": found.min_energy, "delay": found.min_time}.get(goal)
    if goal == "edp":
        bound = best.result.edp     # exhaustive: the best EDP of this layer is proven
    return LayerOutcome(name, problem.layer, best.schedule, best.result, "optimal", bound,
                        found.seconds, found.min_energy, found.min_time)


def infeasibility_reason(name: str, problem: LayerProblem) -> str:
    """Why no schedule of a layer fits the hardware, in the user's terms."""
    mapping = problem.mapping
    if not mapping.candidates:
        return f"layer {name}: no valid mapping on the PE array: {mapping.reason}"
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
                       rules: ModelRules = DEFAULT_RULES) -> NetworkResult:
    """Re-score saved schedules (one per layer of the scenario's network)."""
    net = scenario.network
    missing = [n for n in net.layers if n not in schedules]
    if missing:
        raise NnsolveError(f"no schedule for layer(s) {', '.join(missing)} of {net.name}")
    extra = [n for n in schedules if n not in net.layers]
    if extra:
        raise NnsolveError(f"schedule(s) for {', '.join(extra)}, which {net.name} does not have")
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
