"""The exact solve of a formulation, in stages, certified by the evaluator.

A formulation's model ranks schedules by integer-scaled energy and integer time; the
evaluator (the one cost model) scores them in floating point, and the exhaustive search
ranks by those floats, then by the other quantity, then by nn_dataflow's enumeration order.
To return exactly the schedule the exhaustive search would, the solve decomposes by mapping
candidate (fixing one at a time on the same model) and, per candidate, goes in stages:

1. minimise the goal's primary quantity (energy, or time for goal delay): its optimum and a
   proven bound; later candidates must come within the best one's window to be searched;
2. minimise the secondary quantity among schedules within the primary's *window* (the
   optimum plus the largest possible error of scaling and floating point; zero when both are
   exact), unless it cannot vary;
3. minimise the enumeration rank within the windows;
4. unless the arithmetic is exact, prove that no schedule with a different *key* (fetch counts
   and residency: all that energy and time depend on) lies in the windows, or score every such
   key with the evaluator and keep the best.

The candidates' results are then ranked as the exhaustive search ranks them, on the
evaluator's floats. Goal EDP minimises energy x time by the epsilon-constraint method over
time: the least energy with time at most tau, for tau running down the Pareto front, stopping
when no later point can beat the best product.

The objective reported is the evaluator's score of the returned schedule, and the model's own
value of that schedule must agree with it (otherwise the solve raises: the model is wrong).
The bound is the solver's proven bound, unscaled and lowered by the scaling error, and
never below the layer's closed-form floor (``evaluate.blocking_floor``): a solver cut off by
its time limit can report a dual bound far below it (HiGHS: negative energies), and the
reported bound is max(solver bound, floor). With inexact arithmetic (a scale below one, or
non-integer coefficients) the schedules within the model's rounding error of its optimum
are all scored by the evaluator; when there are too many of them to certify the optimum the
solve raises ModelTooLarge instead of guessing, and when the time limit cuts that search
short the best one met is returned as ``timeout`` with the model's bound.
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field

import numpy as np

from ..model.evaluate import LayerResult, blocking_floor, evaluate_blocking, stats_row
from ..model.goals import goal_value
from ..model.schedule import LayerSchedule
from .backend import FEASIBLE, INFEASIBLE, OPTIMAL, ModelTooLarge, Outcome

#: Float slack of the evaluator's energy, relative (a few dozen roundings of doubles).
FLOAT_SLACK = 4e-12
#: Most distinct keys examined in one window before giving up the tie-break.
MAX_KEYS = 64


@dataclass
class BlockingSolution:
    """What an exact solve returns.

    ``objective`` is the goal value of ``result`` (the evaluator's score of ``schedule``);
    ``bound`` is a proven lower bound on the goal value of any schedule; ``status`` is
    optimal, timeout (a schedule, not proven optimal), infeasible (proven: no schedule fits),
    or unknown (the limit came before any schedule).
    """

    status: str
    schedule: LayerSchedule | None
    result: LayerResult | None
    objective: float | None
    bound: float | None
    seconds: float
    solves: int = 0
    notes: list[str] = field(default_factory=list)
    energy_bound: float | None = None    # proven lower bounds on energy and time alone,
    time_bound: float | None = None      # when the solve established them (goal EDP)

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        if self.objective == 0:
            return 0.0
        return max(0.0, (self.objective - self.bound) / abs(self.objective))


@dataclass
class _Found:
    """The best schedule of one candidate."""

    values: dict
    energy: float
    time: float
    rank: int
    status: str               # optimal or timeout
    bound: float | None       # on the goal value, true units
    energy_floor: float | None = None   # proven lower bounds on energy and time alone
    time_floor: float | None = None


class _Run:
    """State of one staged solve."""

    def __init__(self, form, time_limit: float, workers: int, seed: int):
        self.form = form
        self.be = form.backend
        self.start = _time.perf_counter()
        self.deadline = self.start + time_limit
        self.workers, self.seed = workers, seed
        self.solves = 0
        self.candidate: int | None = None      # the candidate fixed now
        self.scores: dict[tuple, tuple[float, float, LayerResult, LayerSchedule]] = {}

    def left(self) -> float:
        return max(0.0, self.deadline - _time.perf_counter())

    def solve(self, terms, hint: dict | None = None) -> Outcome:
        self.be.minimize(terms)
        self.be.hint(hint or {})
        self.solves += 1
        return self.be.solve(self.left(), self.workers, self.seed)

    def score(self, values: dict) -> tuple[float, float, LayerResult, LayerSchedule]:
        """(energy, time, result, schedule) of a solution, by the evaluator."""
        key = self.form.key_of(values)
        cached = self.scores.get(key)
        index, blocking = self.form.decode(values)
        if cached is not None and cached[3].mapping_index == index \
                and cached[3].blocking == blocking:
            return cached
        problem = self.form.problem
        nld = problem.mapping.candidates[index]
        stats = evaluate_blocking(nld, np.asarray([blocking.factors]),
                                  np.asarray([blocking.positions()]), problem.env)
        result = stats_row(stats, 0, nld, problem.env.costs)
        if not result.valid:
            raise RuntimeError(f"the {self.be.name} model returned a schedule that the "
                               f"evaluator rejects ({blocking}): the model is wrong")
        out = (result.energy, result.time, result, LayerSchedule(index, blocking))
        self.scores.setdefault(key, out)
        return out

    def value(self, values: dict, terms) -> int:
        vid = self.be.var_id
        return sum(c * values.get(vid(v), 0) for c, v in terms)

    def floor(self) -> tuple[float, float, float] | None:
        """The layer's closed-form floor (evaluate.blocking_floor): (goal value, energy,
        time) that no schedule can go below, or None without a mapping."""
        if not hasattr(self, "_floor"):
            f = blocking_floor(self.form.problem)
            self._floor = None if f is None else \
                (goal_value(f.energy, f.time, self.form.goal), f.energy, f.time)
        return self._floor

    def done(self, status, found: _Found | None, bound, notes) -> BlockingSolution:
        """The solution; a bound that a solver left below the closed-form floor (or left
        out: CBC after a time limit) is raised to the floor, which is proven too."""
        seconds = _time.perf_counter() - self.start
        floor = self.floor() if status in ("timeout", "unknown") else None
        if floor is not None:
            bound = floor[0] if bound is None or not math.isfinite(bound) else \
                max(bound, floor[0])
        if found is None:
            return BlockingSolution(status, None, None, None, bound, seconds, self.solves, notes)
        energy, time, result, schedule = self.score(found.values)
        objective = goal_value(energy, time, self.form.goal)
        if bound is not None:
            bound = min(bound, objective)
        return BlockingSolution(status, schedule, result, objective, bound, seconds,
                                self.solves, notes)


def solve_exact(form, time_limit: float = math.inf, workers: int = 1,
                seed: int = 0) -> BlockingSolution:
    """Solve a loop-blocking formulation exactly; see the module docstring."""
    run = _Run(form, time_limit, workers, seed)
    if form.infeasible_reason:
        return run.done("infeasible", None, None, [form.infeasible_reason])
    found: list[_Found] = []
    bounds: list[float] = []
    notes: list[str] = []
    timed_out = False
    best_primary = None       # (model value, window, time) of the best candidate so far
    for cand in form.candidates:
        run.candidate = cand.index
        handle = form.fix_candidate(cand.index)
        cutoff = None
        if best_primary is not None and form.goal != "edp":
            terms = form.energy if form.goal == "energy" else form.time
            limit = best_primary[0] + best_primary[1]
            # Exact values, energy goal, fixed times: an equal-energy candidate that is not
            # faster loses the tie (the exhaustive ranking goes energy, time, enumeration), so
            # only a strictly better one is worth finding.
            if best_primary[1] == 0 and form.goal == "energy" and form.time_fixed and \
                    cand.proc_time >= best_primary[2]:
                limit -= 1
            cutoff = form.backend.add(terms, "<=", limit, temporary=True)
        try:
            if form.goal == "edp":
                result = _candidate_edp(run, notes)
            else:
                result = _candidate_lexicographic(run, notes)
        finally:
            form.backend.withdraw(handle)
            if cutoff is not None:
                form.backend.withdraw(cutoff)
        kind, item = result
        if kind == "infeasible":
            if best_primary is not None:
                bounds.append(_primary_bound(run, best_primary[0]))
            continue
        if kind == "unknown":
            timed_out = True
            if item is not None:
                bounds.append(item)
            continue
        found.append(item)
        if item.status != "optimal":
            timed_out = True
        if item.bound is not None:
            bounds.append(item.bound)
        primary = run.value(item.values, form.energy if form.goal == "energy" else form.time)
        window = _cutoff_window(run, primary)
        if best_primary is None or (primary, item.time) < best_primary[::2]:
            best_primary = (primary, window, item.time)
    if not found:
        if timed_out:
            return run.done("unknown", None, min(bounds) if bounds else None,
                            notes + ["time limit reached before any schedule was found"])
        return run.done("infeasible", None, None,
                        notes + ["no schedule satisfies the buffer capacities and pins"])
    secondary = (lambda f: f.energy) if form.goal == "delay" else (lambda f: f.time)
    best = min(found, key=lambda f: (goal_value(f.energy, f.time, form.goal), secondary(f),
                                     f.rank))
    bound = min(bounds) if bounds else None
    status = "timeout" if timed_out else "optimal"
    if status == "optimal":
        bound = goal_value(best.energy, best.time, form.goal)
    solution = run.done(status, best, bound, notes)
    if form.goal == "edp" and not timed_out:
        energies = [f.energy_floor for f in found if f.energy_floor is not None]
        times = [f.time_floor for f in found if f.time_floor is not None]
        if len(energies) == len(found) and len(times) == len(found):
            solution.energy_bound, solution.time_bound = min(energies), min(times)
    floor = run.floor()
    if form.goal == "edp" and floor is not None:
        # Energy and time alone are at least the closed-form floor's, proven or not.
        solution.energy_bound = max(solution.energy_bound or 0.0, floor[1])
        solution.time_bound = max(solution.time_bound or 0.0, floor[2])
    return solution


def _windows(run: _Run, energy_star: int) -> tuple[int, int]:
    """(energy window in scaled units, time window in cycles) around an optimum within one
    candidate. With exact integer costs and no energy term that varies in floats beyond the
    access energy, the model orders a candidate's schedules exactly as the evaluator: its
    constant (op energy, a float) is the same for all of them."""
    form = run.form
    varying_float = any(k for c in form.candidates for k in c.k_noc) or \
        (form.problem.env.costs.idle and not form.time_fixed)
    exact = form.float_exact and not varying_float
    de = 0 if exact else math.floor(2 * form.energy_error + FLOAT_SLACK * abs(energy_star)) + 1
    return de, form.time_error


def _cutoff_window(run: _Run, primary_star: int) -> int:
    """Slack for comparing model values across candidates, whose float constants the model
    rounds to integers."""
    de, dt = _windows(run, primary_star)
    if run.form.goal == "delay":
        return dt
    return de + (0 if all(float(c.const).is_integer() for c in run.form.candidates) else 1)


def _primary_bound(run: _Run, model_value: float | None) -> float | None:
    """A sound lower bound on the true primary quantity from a model bound."""
    if model_value is None or not math.isfinite(model_value):
        return None
    form = run.form
    if form.goal == "delay":
        return model_value - form.time_error
    return (model_value - form.energy_error - FLOAT_SLACK * abs(model_value)) / \
        form.scaling.scale


def _candidate_lexicographic(run: _Run, notes: list[str]):
    """The best schedule of the fixed candidate for goal energy or delay, in stages."""
    form, be = run.form, run.be
    by_energy = form.goal == "energy"
    primary = form.energy if by_energy else form.time
    secondary = form.time if by_energy else form.energy
    merged = _merged_objective(run)
    if merged is not None:
        return _candidate_merged(run, *merged)
    first = run.solve(primary)
    if first.status == INFEASIBLE:
        return "infeasible", None
    if first.status not in (OPTIMAL, FEASIBLE):
        return "unknown", _primary_bound(run, first.bound)
    if first.status == FEASIBLE:
        energy, time, _, _ = run.score(first.values)
        return "found", _Found(first.values, energy, time, run.value(first.values, form.rank),
                               "timeout", _primary_bound(run, first.bound))
    p_star = round(first.objective)
    de, dt = _windows(run, p_star if by_energy else 0)
    dp = de if by_energy else dt          # primary window
    ds = 0                                # secondary window (when stage 2 runs)
    handles = [be.add(primary, "<=", p_star + dp, temporary=True)]
    values = first.values
    seen = [values]                       # every schedule met, for a fallback
    settled = "complete"
    try:
        # Stage 2 only when the secondary can vary: not for energy with fixed time.
        if not (by_energy and form.time_fixed):
            second = run.solve(secondary, values)
            if second.status == OPTIMAL:
                values = second.values
                seen.append(values)
                s_star = round(second.objective)
                ds = dt if by_energy else _windows(run, s_star)[0]
                handles.append(be.add(secondary, "<=", s_star + ds, temporary=True))
            else:
                settled = "timeout"
        if settled == "complete":
            third = run.solve(form.rank, values)
            if third.status == OPTIMAL:
                values = third.values
                seen.append(values)
            else:
                settled = "timeout"
        if settled == "complete" and (dp or ds):
            values, settled, keys = _settle_keys(run, values, notes, value_exact=dp == 0)
            seen += keys
    finally:
        for h in handles:
            be.withdraw(h)
    if settled != "complete" and dp:
        # The window around the model's optimum is not exact and was not searched through
        # (time limit): the schedules in it differ in value, so the best one met is not
        # proven optimal. The bound is the model's optimum less its error.
        values = _best_scored(run, seen)
        energy, time, _, _ = run.score(values)
        _certify(run, values, energy, time)
        notes.append("time limit reached while searching the schedules within the model's "
                     "rounding error of its optimum: the best one found is not proven optimal")
        return "found", _Found(values, energy, time, run.value(values, form.rank), "timeout",
                               _primary_bound(run, p_star))
    if settled == "timeout":
        # An exact primary window: every schedule in it has the optimal value.
        notes.append("time limit reached while breaking ties: the value is optimal, the "
                     "choice among equal schedules may differ from the exhaustive search")
    energy, time, _, _ = run.score(values)
    _certify(run, values, energy, time)
    return "found", _Found(values, energy, time, run.value(values, form.rank), "optimal",
                           goal_value(energy, time, form.goal))


def _merged_objective(run: _Run) -> tuple[list, int] | None:
    """(terms, weight) of one objective equal to energy x weight + rank, whose least value
    is stages 1 and 3 at once, when that is exact: goal energy, fixed times (stage 2 cannot
    vary), exact arithmetic (no window: stage 4 has nothing to settle), a rank that varies
    by less than the weight, and values within the backend's integers. None otherwise."""
    form, be = run.form, run.be
    limit = getattr(be, "objective_limit", 0)
    if not limit or form.goal != "energy" or not form.time_fixed or _windows(run, 0)[0]:
        return None
    span = form.rank_span(run.candidate)
    if span is None:
        return None
    weight = span + 1
    terms = [(k * weight, v) for k, v in form.energy] + list(form.rank)
    if be.magnitude(terms) >= limit:
        return None
    return terms, weight


def _candidate_merged(run: _Run, terms: list, weight: int):
    """The fixed candidate's best schedule by one solve of the merged objective (energy,
    then rank: ``_merged_objective``); the same schedule as the stages, certified alike."""
    form = run.form
    out = run.solve(terms)
    if out.status == INFEASIBLE:
        return "infeasible", None
    # The candidate's ranks lie in [its first rank, that + weight): a bound on the merged
    # objective floors to one on the energy.
    offset = next(c.rank_offset for c in form.candidates if c.index == run.candidate)
    bound = None if out.bound is None or not math.isfinite(out.bound) else \
        _primary_bound(run, math.floor((out.bound - offset) / weight))
    if out.status not in (OPTIMAL, FEASIBLE):
        return "unknown", bound
    energy, time, _, _ = run.score(out.values)
    _certify(run, out.values, energy, time)
    rank = run.value(out.values, form.rank)
    if out.status == FEASIBLE:
        return "found", _Found(out.values, energy, time, rank, "timeout", bound)
    return "found", _Found(out.values, energy, time, rank, "optimal",
                           goal_value(energy, time, form.goal))


def _best_scored(run: _Run, candidates: list[dict]) -> dict:
    """The best of some solutions as the exhaustive search ranks them: goal value (the
    evaluator's), then the other quantity, then enumeration rank."""
    form = run.form
    scored = []
    for vals in candidates:
        energy, time, _, _ = run.score(vals)
        second = energy if form.goal == "delay" else time
        scored.append((goal_value(energy, time, form.goal), second, run.value(vals, form.rank),
                       vals))
    return min(scored, key=lambda s: s[:3])[3]


def _settle_keys(run: _Run, values: dict, notes: list[str], value_exact: bool
                 ) -> tuple[dict, str, list[dict]]:
    """Make sure the chosen schedule is the best of every key inside the windows.

    Returns (schedule, how it ended, the first schedule of each key examined). It ends
    ``complete``, ``timeout`` (the time limit came first) or ``too_many`` (more than MAX_KEYS
    keys lie in the windows, with ``value_exact``: they all have the optimal value, only the
    tie-break is open). Too many keys in a window that is not exact raise ModelTooLarge: the
    model cannot tell their values apart, so it cannot certify an optimum (only the
    evaluator, i.e. the exhaustive search, can).
    """
    form, be = run.form, run.be
    found = {form.key_of(values): values}
    excluded = [form.exclude_key(k) for k in found]
    try:
        while len(found) <= MAX_KEYS:
            out = run.solve(form.rank)
            if out.status == INFEASIBLE:
                break
            if out.status != OPTIMAL:
                return values, "timeout", list(found.values())
            key = form.key_of(out.values)
            found[key] = out.values
            excluded.append(form.exclude_key(key))
        else:
            if not value_exact:
                raise ModelTooLarge(
                    f"the {run.be.name} model cannot certify an optimum: more than {MAX_KEYS} "
                    "schedules with different fetch counts lie within its rounding error "
                    f"(scale {form.scaling.scale:.3g}; sizes or costs this extreme); method "
                    "exhaustive handles them")
            notes.append(f"more than {MAX_KEYS} near-equal schedules: kept the first")
            return values, "too_many", list(found.values())
    finally:
        for h in excluded:
            be.withdraw(h)
    # Rank the keys as the exhaustive search ranks schedules. Each key's representative was
    # found by minimising rank with the earlier keys excluded: it is that key's first schedule.
    return _best_scored(run, list(found.values())), "complete", list(found.values())


def _certify(run: _Run, values: dict, energy: float, time: float) -> None:
    """The model's energy and time of the returned schedule must match the evaluator's."""
    form = run.form
    model_energy = run.value(values, form.energy) / form.scaling.scale
    tolerance = (form.energy_error + 1) / form.scaling.scale + FLOAT_SLACK * abs(energy)
    if abs(model_energy - energy) > tolerance:
        raise RuntimeError(f"{run.be.name}: the model's energy {model_energy!r} differs from the "
                           f"evaluator's {energy!r} for the same schedule")
    model_time = run.value(values, form.time)
    if form.goal != "energy" and abs(model_time - time) > form.time_error:
        raise RuntimeError(f"{run.be.name}: the model's time {model_time} differs from the "
                           f"evaluator's {time} by more than {form.time_error}")


def _candidate_edp(run: _Run, notes: list[str]):
    """The least energy x time of the fixed candidate (epsilon-constraint over time).

    Each Pareto point (least energy at time <= cap, then the least time at that energy) is
    recorded with its model values; the best points by the evaluator's floats are then searched
    for their first schedule in enumeration order, as the exhaustive search breaks ties.
    """
    form, be = run.form, run.be
    fastest = run.solve(form.time)
    if fastest.status == INFEASIBLE:
        return "infeasible", None
    if fastest.status != OPTIMAL:
        return "unknown", None
    t_min = max(0, round(fastest.objective) - form.time_error)
    points = []     # (edp, time, energy window bound, time bound, values, least edp in it)
    lowest_energy = None
    cap = None
    complete = True
    while True:
        handle = be.add(form.time, "<=", cap, temporary=True) if cap is not None else None
        out = run.solve(form.energy)
        if handle is not None:
            be.withdraw(handle)
        if out.status == INFEASIBLE:
            break
        if out.status != OPTIMAL:
            complete = False
            break
        e_star = round(out.objective)
        lower = _primary_bound(run, e_star)
        if lowest_energy is None:
            lowest_energy = lower
        de, dt = _windows(run, e_star)
        handle = be.add(form.energy, "<=", e_star + de, temporary=True)
        fast = run.solve(form.time, out.values)
        be.withdraw(handle)
        if fast.status != OPTIMAL:
            complete = False
            break
        t_star = round(fast.objective)
        energy, time, _, _ = run.score(fast.values)
        floor = lower * max(0, t_star - dt) if lower is not None else -math.inf
        points.append((energy * time, time, e_star + de, t_star + dt, fast.values, floor))
        best = min(points, key=lambda p: p[:2])
        if lower is not None and lower * t_min >= best[0]:
            break        # every later point has energy >= lower and time >= t_min
        cap = t_star - 1
        if cap < t_min:
            break
    if not points:
        return "unknown", None
    best_value = min(p[:2] for p in points)
    chosen = []
    for edp, time, e_cap, t_cap, values, floor in points:
        # A point whose windows may hold a schedule as good as the best representative is
        # searched too (with inexact arithmetic its representative may not be its best).
        if (edp, time) != best_value and floor * (1 - FLOAT_SLACK) > best_value[0]:
            continue
        if complete:
            handles = [be.add(form.energy, "<=", e_cap, temporary=True),
                       be.add(form.time, "<=", t_cap, temporary=True)]
            try:
                ranked = run.solve(form.rank, values)
                if ranked.status == OPTIMAL:
                    values = ranked.values
                    if e_cap != round(run.value(values, form.energy)) or form.time_error:
                        values, settled, keys = _settle_keys(run, values, notes,
                                                             value_exact=False)
                        complete &= settled == "complete"
                        if settled != "complete":
                            values = _best_scored(run, keys + [values])
                else:
                    complete = False
            finally:
                for h in handles:
                    be.withdraw(h)
        energy, time, _, _ = run.score(values)
        chosen.append((energy * time, time, run.value(values, form.rank), values))
    edp, _, rank, values = min(chosen, key=lambda c: c[:3])
    energy, time, _, _ = run.score(values)
    bound = edp if complete else (lowest_energy * t_min if lowest_energy is not None else None)
    return "found", _Found(values, energy, time, rank, "optimal" if complete else "timeout",
                           bound, lowest_energy, t_min)
