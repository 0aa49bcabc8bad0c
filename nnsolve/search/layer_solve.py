"""One layer on one node, with one method: the problem, the solve, and why nothing fits."""

from __future__ import annotations

import math
import time as _time

from ..errors import InfeasibleError, NnsolveError, TooLarge
from ..formulations.loop_blocking import build_cpsat, build_milp
from ..heuristics import analytical, exhaustive
from ..methods import ANALYTICAL_NEEDS_BYPASS, AUTO
from ..model.evaluate import LayerProblem
from ..model.goals import goal_value, repeated_goal
from ..model.layer import Layer
from ..model.mapping import DEFAULT_RULES, ModelRules
from ..model.pins import Pins
from ..results import LayerOutcome
from ..scenario import Scenario
from .portfolio import engine_for, enumerable


def layer_problem(scenario: Scenario, layer: Layer, rules: ModelRules = DEFAULT_RULES
                  ) -> LayerProblem:
    """One layer of the scenario on its (single) node: a grouped layer's one group
    (``grouped_outcome`` repeats its solve)."""
    hw = scenario.hardware
    if hw.num_nodes != 1:
        raise NnsolveError(f"{scenario.source}: hardware.nodes {list(hw.nodes)}: multi-node "
                           "scheduling is not available yet; use nodes: [1, 1]")
    return LayerProblem.single_node(layer.one_group(), scenario.batch, hw, scenario.costs,
                                    scenario.search.bypass_mask, rules)


def grouped_outcome(outcome: LayerOutcome, layer: Layer, goal: str) -> LayerOutcome:
    """A solve of a grouped layer's one group as the layer's outcome: its groups run one
    after another with that schedule, so the score and the bounds are ``layer.groups``
    times one group's (the goal bound: ``repeated_goal``). The layer itself otherwise."""
    g = layer.groups
    if g == 1:
        return outcome
    return LayerOutcome(outcome.name, layer, outcome.schedule, outcome.result.repeated(g),
                        outcome.status, repeated_goal(outcome.bound, g, goal), outcome.seconds,
                        None if outcome.min_energy is None else outcome.min_energy * g,
                        None if outcome.min_time is None else outcome.min_time * g,
                        list(outcome.notes), repeated_goal(outcome.free_bound, g, goal))


def solver_threads(workers: int) -> int:
    """Solver threads per layer model: 0 chooses one (the per-layer models solve in tens of
    milliseconds; CP-SAT's parallel portfolio costs more than it saves there)."""
    return workers if workers > 0 else 1


def solve_layer(name: str, problem: LayerProblem, method: str, goal: str = "energy",
                pins: Pins | None = None, time_limit: float = math.inf, workers: int = 1,
                milp_solver: str = "highs") -> LayerOutcome:
    """One layer with one method; raises InfeasibleError when nothing fits, and an
    NnsolveError naming the layer when it is too large for the model or the method. Method
    ``auto`` runs the engine ``portfolio.engine_for`` picks (the outcome's ``engine``)."""
    pins = pins or Pins()
    engine = engine_for(problem, pins) if method == AUTO else method
    try:
        try:
            outcome = _solve_layer(name, problem, engine, goal, pins, time_limit, workers,
                                   milp_solver)
        except TooLarge:
            if method != AUTO or engine == "exhaustive" or not enumerable(problem, pins):
                raise
            # Integers beyond CP-SAT's 64 bits: the enumeration is exact at any size.
            engine = "exhaustive"
            outcome = _exhaustive(name, problem, goal, pins)
    except TooLarge as exc:
        raise NnsolveError(f"layer {name}: {exc}") from None
    if method == AUTO:
        outcome.engine = engine
    return outcome


def _solve_layer(name: str, problem: LayerProblem, method: str, goal: str, pins: Pins,
                 time_limit: float, workers: int, milp_solver: str) -> LayerOutcome:
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
    start = _time.perf_counter()
    form = build_cpsat(problem, goal, pins) if method == "cpsat" else \
        build_milp(problem, goal, pins, solver=milp_solver)
    sol = form.solve(time_limit=time_limit, workers=workers if method == "cpsat" else 1)
    seconds = _time.perf_counter() - start
    if sol.status == "infeasible":
        raise InfeasibleError(infeasibility_reason(name, problem, pins, sol.notes))
    if sol.schedule is None:
        # The limit came before any schedule: the exhaustive search supplies the optimum.
        try:
            outcome = _exhaustive(name, problem, goal, pins)
        except exhaustive.SpaceTooLarge as exc:
            raise exc.advise(f"{method} found no schedule within {time_limit:g} s and this "
                             "is its fallback; raise solver.time_limit_s") from None
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
    if not problem.mapping.candidates:
        return infeasibility_reason(name, problem, pins)
    bypass = problem.env.bypass
    if sum(bypass) < 2:
        return f"layer {name}: {ANALYTICAL_NEEDS_BYPASS}"
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
