"""Exact choice of a layer's partition scheme jointly with its loop blocking.

The joint problem min over (input layout seed, scheme P, blocking b) of the goal decomposes:
schemes with the same per-node layer, occupancy and shared-data groups give the same
blocking problem except for the NoC cost, which is linear in the top-level fetch counts F0:

    energy(P, b) = E0(b) + noc_hop * sum_d unit_hops(P)[d] * F0(b)[d]   (+ sharing hops >= 0)

So each such *group* is solved once without NoC cost, which bounds every scheme of the group
(F0 >= 1), and the schemes are then solved exactly in order of their bounds until no bound
can beat the best (an exact decomposition; network spec §7.3). A closed-form floor of each
group (``evaluate.blocking_floor``) orders the schemes first, so groups whose floor cannot
beat the best are never solved, and schemes with identical problems are solved once:

* ``exhaustive``: the group's whole blocking space is scored once with numpy, and each
  scheme's NoC term is one matrix product over it (with buffer sharing, whose hops depend on
  the scheme's blocking through a search, branch and bound over rows sorted by that bound);
* ``cpsat`` / ``milp``: each scheme's exact model (the loop-blocking formulations with its
  NoC coefficients), skipped when its bound is already worse than the incumbent, or settled
  without a solve when the group optimum attains the bound;
* ``analytical``: every scheme with the closed-form blocking (nn_dataflow's solver).

Ties break as brute force over (seed, scheme, blocking) in enumeration order would.

The layer's ``bound`` is independent of where its ifmaps lie in DRAM (every ifmap word
travels at least from its nearest memory channel), so the layers' bounds add up to a bound
on the network whatever layouts the producers chose.
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from ..errors import TooLarge
from ..formulations.loop_blocking import build_cpsat, build_milp
from ..heuristics import analytical
from ..heuristics.exhaustive import ByteLRU, SpaceTooLarge, scored_chunks, top_filter
from ..methods import AUTO, METHODS
from ..model.evaluate import (
    FLOOR_SLACK,
    LayerProblem,
    LayerResult,
    blocking_floor,
    check_energy,
    evaluate_blocking,
    stats_row,
)
from ..model.goals import goal_value, rank_order, repeated_goal
from ..model.noc import ifmap_hops_floor
from ..model.partition import PartitionScheme
from ..model.pins import Pins
from ..model.resources import LayerSite
from ..model.schedule import Blocking, LayerSchedule
from .portfolio import engine_for, enumerable


@dataclass
class Candidate:
    """One (input layout seed, partition scheme) of a layer, with its blocking problem.

    ``node_problem`` has no NoC hops; the full ``problem`` needs the ifmap hops from where
    the ifmaps lie, the dearest part to compute, so it is built only when asked for.
    ``floor_hops`` are the weight and ofmap hops with a layout-free ifmap floor, computed
    when first asked for too (``hops``, when given, supplies them).
    """

    order: int
    seed: int
    scheme: PartitionScheme
    node_problem: LayerProblem
    site: LayerSite
    hops: tuple[float, float, float] | None = None
    sources: tuple | None = field(default=None, repr=False, compare=False)
    _problem: LayerProblem | None = field(default=None, repr=False, compare=False)

    def with_problem(self, problem: LayerProblem) -> Candidate:
        """This candidate with its full problem known already (re-scoring a saved
        schedule, whose ifmap hops were computed by the caller)."""
        self._problem = problem
        return self

    @property
    def floor_hops(self) -> tuple[float, float, float]:
        if self.hops is None:
            site = self.site
            sources = self.sources if self.sources is not None else _ifmap_sources(site)
            floor = _ifmap_floor(site.geometry, self.scheme, site.ifmap_layout.full, sources)
            fil, ofm = site.fixed_hops(self.scheme)
            self.hops = (float(fil), float(floor), float(ofm))
        return self.hops

    @property
    def problem(self) -> LayerProblem:
        if self._problem is None:
            hops = (self.floor_hops[0], self.site.ifmap_hops(self.scheme), self.floor_hops[2])
            self._problem = LayerSite.with_hops(self.node_problem, hops)
        return self._problem


@dataclass
class PartitionChoice:
    """The chosen schedule of a layer on its region and what was proven about it.

    ``status``: optimal (for the ifmap layout it was given), timeout, heuristic or
    infeasible. ``bound``/``min_energy``/``min_time`` hold for any ifmap layout."""

    status: str
    candidate: Candidate | None
    schedule: LayerSchedule | None
    result: LayerResult | None
    bound: float | None
    min_energy: float | None
    min_time: float | None
    seconds: float
    schemes: int
    solved: int
    notes: list[str] = field(default_factory=list)
    engine: str | None = None     # method auto: the engine it ran (portfolio.engine_for)


def candidates_of(sites: list[LayerSite]) -> list[Candidate]:
    """Every (seed, scheme) of the sites, in nn_dataflow's order (their NoC hops are
    computed when a search first needs them)."""
    out = []
    for seed, site in enumerate(sites):
        sources = _ifmap_sources(site)
        for scheme in site.schemes:
            out.append(Candidate(len(out), seed, scheme, site.node_problem(scheme), site,
                                 sources=sources))
    return out


def _ifmap_sources(site: LayerSite) -> tuple:
    """Every node the site's ifmaps may be read from: its source (memory channels or the
    on-chip source region) and every region of its ifmap layout. In a pipeline segment an
    element-wise layer's inputs can lie in several producers' regions, or be forwarded from
    another reader's region, not only in ``src``: a floor from ``src`` alone exceeded the
    actual hops (a bound above the layer's value)."""
    nodes = dict.fromkeys(site.placement.source_nodes)
    if site.ifmap_layout is not None:
        for region in site.ifmap_layout.regions:
            nodes.update(dict.fromkeys(region.nodes))
    return tuple(nodes)


@lru_cache(maxsize=1 << 16)
def _ifmap_floor(placement: LayerSite, scheme: PartitionScheme, stored, sources) -> int:
    return ifmap_hops_floor(placement.unit, placement.batch, placement.region, scheme,
                            sources, stored, placement.sharing.forwards,
                            placement.rules.eltwise_ifmaps == "all")


def choose(sites: list[LayerSite], method: str, goal: str = "energy", pins: Pins | None = None,
           time_limit: float = math.inf, workers: int = 1, milp_solver: str = "highs",
           candidates: list[Candidate] | None = None, hurry: bool = False) -> PartitionChoice:
    """The best (seed, scheme, blocking) of a layer by ``method`` (see the module doc);
    ``candidates`` may pass in ``candidates_of(sites)`` computed before. With ``hurry`` (a
    search past its time limit), an enumeration orders the schemes by floors without NoC
    hops, so that only the schemes it reaches before ``time_limit`` get their hops computed
    (the best of those, and a weaker bound)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")     # a programming error here
    start = _time.perf_counter()
    pins = pins or Pins()
    cands = candidates_of(sites) if candidates is None else candidates
    groups: dict[LayerProblem, list[Candidate]] = {}
    for c in cands:
        groups.setdefault(c.node_problem, []).append(c)
    sharing = cands[0].node_problem.env.sharing is not None if cands else False
    pipelined = _pipelined(cands, pins)
    portfolio = method == AUTO
    if portfolio:
        method = "exhaustive" if sharing or pipelined else engine_for(groups, pins)
    if method == "analytical":
        choice = _analytical(cands, goal, pins)
    elif method == "exhaustive" or sharing or pipelined:
        # The time limit holds here too: the enumeration stops between schemes once it
        # has a schedule and the limit has passed (status timeout, with its bound).
        try:
            choice = _enumerated(groups, goal, pins, start + time_limit, hurry)
        except SpaceTooLarge as exc:
            if method == "exhaustive" and not portfolio:
                raise
            why = "buffer sharing" if sharing else "a pipeline segment"
            off = "search.gbuf_sharing" if sharing else "search.interlayer and " \
                "search.save_writeback"
            raise exc.advise(f"{why} needs it whatever the method; turn off {off}, or use a "
                             "smaller batch or layer") from None
        if sharing and method != "exhaustive":
            choice.notes.append("buffer sharing: the blocking of each scheme is chosen by "
                                "exact branch and bound over the enumerated space (the "
                                "sharing hops are a search, not a linear model)")
        elif pipelined and method != "exhaustive":
            choice.notes.append("pipeline segment: the blocking is chosen by exact "
                                "enumeration (the loop-blocking models do not encode "
                                "on-chip data, pinned weights or top-loop demands)")
    else:
        try:
            choice = _exact(groups, cands, method, goal, pins, start + time_limit, workers,
                            milp_solver)
        except TooLarge:
            if not portfolio or not all(enumerable(p, pins) for p in groups):
                raise
            # Integers beyond CP-SAT's 64 bits: the enumeration is exact at any size.
            method = "exhaustive"
            choice = _enumerated(groups, goal, pins, start + time_limit, hurry)
    if portfolio:
        choice.engine = method
    choice.schemes = len(cands)
    choice.seconds = _time.perf_counter() - start
    return _repeated(choice, sites[0].groups if sites else 1, goal)


def _repeated(choice: PartitionChoice, groups: int, goal: str) -> PartitionChoice:
    """A grouped layer's choice: its sites partition and block one group (``LayerSite.unit``),
    and the groups run one after another with that schedule, so the score and the bounds
    are ``groups`` times one group's (the goal bound: ``repeated_goal``)."""
    if groups == 1:
        return choice
    return replace(choice, result=None if choice.result is None
                   else choice.result.repeated(groups),
                   bound=repeated_goal(choice.bound, groups, goal),
                   min_energy=None if choice.min_energy is None
                   else choice.min_energy * groups,
                   min_time=None if choice.min_time is None else choice.min_time * groups)


# -- shared helpers -------------------------------------------------------------------------


def _pipelined(cands: list[Candidate], pins: Pins) -> bool:
    """Whether a layer sits in a pipeline segment in a way the exact models do not encode."""
    if pins.top is not None and not pins.top.free:
        return True
    return any(not e.src_is_dram or not e.dst_is_dram or e.no_time_mux
               for e in (c.node_problem.env for c in cands[:1]))


def _noc_energy(c: Candidate, fetch0, hops) -> np.ndarray:
    """NoC energy of F0 rows (K, 3) for unit hops ``hops``."""
    return c.node_problem.env.costs.noc_hop * (np.asarray(fetch0, float)
                                               @ np.asarray(hops, float))


def _key(result: LayerResult, goal: str, order: int, rank: int = 0) -> tuple:
    primary = goal_value(result.energy, result.time, goal)
    secondary = result.energy if goal == "delay" else result.time
    return (primary, secondary, order, rank)


def _score(c: Candidate, index: int, factors, positions) -> LayerResult:
    """The evaluator's score of one blocking under the candidate's full problem."""
    nld = c.problem.mapping.candidates[index]
    stats = evaluate_blocking(nld, np.asarray([factors]), np.asarray([positions]),
                              c.problem.env)
    return stats_row(stats, 0, nld, c.problem.env.costs)


def _schedule(c: Candidate, index: int, blocking: Blocking) -> LayerSchedule:
    return LayerSchedule(index, blocking, c.scheme.to_partition(), c.site.region_json)


@dataclass
class _Floors:
    """Per-candidate lower bounds: ``goal`` on the goal value for the candidate's own ifmap
    layout (to skip it), ``free`` (energy, time) for any layout (the layer's bound). They
    start from the closed-form blocking floor and tighten when the group is solved."""

    goal: dict[int, float] = field(default_factory=dict)
    free: dict[int, tuple[float, float]] = field(default_factory=dict)

    def tighten(self, c: Candidate, goal_name: str, fetch0, e0: float | None,
                t0: float | None) -> None:
        """Raise the candidate's floors with a group bound on E0 and/or time."""
        noc = c.node_problem.env.costs.noc_hop
        e_free, t_free = self.free[c.order]
        if e0 is not None:
            e_free = max(e_free, _below(e0 + noc * float(np.dot(c.floor_hops, fetch0))))
            e_own = _below(e0 + noc * float(np.dot(c.problem.env.unit_nhops, fetch0)))
        if t0 is not None:
            t_free = max(t_free, t0)
        self.free[c.order] = (e_free, t_free)
        if goal_name == "energy" and e0 is not None:
            self.goal[c.order] = max(self.goal[c.order], e_own)
        elif goal_name == "delay" and t0 is not None:
            self.goal[c.order] = max(self.goal[c.order], t0)
        elif goal_name == "edp" and e0 is not None and t0 is not None:
            self.goal[c.order] = max(self.goal[c.order], e_own * t_free)

    def drop(self, c: Candidate) -> None:
        """The candidate has no valid schedule."""
        self.goal.pop(c.order, None)
        self.free.pop(c.order, None)

    def bounds(self, goal_name: str):
        return _bounds(list(self.free.values()), goal_name)


def _below(value: float) -> float:
    """A sum of lower bounds, lowered past the rounding of another summation order."""
    return value * (1 - FLOOR_SLACK)


def _closed_form_floors(groups: dict[LayerProblem, list[Candidate]], goal: str,
                        hops: bool = True) -> tuple[_Floors, dict[LayerProblem, tuple]]:
    """Floors of every candidate from its group's closed-form blocking floor (NoC at the
    least fetch counts; none without ``hops``); groups without a mapping are left out. Also
    each group's F0 floor."""
    floors = _Floors()
    fetch0 = {}
    for key, members in groups.items():
        floor = blocking_floor(key)
        if floor is None:
            continue
        fetch0[key] = floor.fetch0
        for c in members:
            # The layout-free hops keep the ifmap hops unbuilt until a scheme may win.
            noc = c.node_problem.env.costs.noc_hop
            noc_floor = float(np.dot(c.floor_hops, floor.fetch0)) if hops else 0.0
            free = _below(floor.energy + noc * noc_floor)
            floors.goal[c.order] = goal_value(free, floor.time, goal)
            floors.free[c.order] = (free, floor.time)
    return floors, fetch0


def closed_form_floor(cands: list[Candidate]) -> tuple[float, float] | None:
    """Least energy and least time of any schedule of the candidates, whatever the ifmap
    layout, in closed form (the floors the exact searches start from; never above their
    ``min_energy`` and ``min_time``); None when no candidate has a mapping."""
    groups: dict[LayerProblem, list[Candidate]] = {}
    for c in cands:
        groups.setdefault(c.node_problem, []).append(c)
    floors, _ = _closed_form_floors(groups, "energy")
    if not floors.free:
        return None
    return (min(f[0] for f in floors.free.values()), min(f[1] for f in floors.free.values()))


def _bounds(floors: list[tuple[float, float]], goal: str):
    """(bound, min_energy, min_time) from per-candidate (energy floor, time floor)."""
    if not floors:
        return None, None, None
    e = min(f[0] for f in floors)
    t = min(f[1] for f in floors)
    if goal == "edp":
        return min(f[0] * f[1] for f in floors), e, t
    return (e if goal == "energy" else t), e, t


# -- enumeration ----------------------------------------------------------------------------


@dataclass
class _Space:
    """A group's scored blocking space (valid schemes that keep the pins)."""

    energy: np.ndarray     # without NoC (and without sharing hops)
    time: np.ndarray
    fetch0: np.ndarray     # (K, 3)
    rank: np.ndarray
    index: np.ndarray      # mapping candidate of each row (int32)
    factors: np.ndarray    # (K, 3, 3), int32 where they fit
    positions: np.ndarray  # (K, 2, 3), int8


def _enumerate(problem: LayerProblem, pins: Pins) -> _Space:
    """The group's scored space under the pins; a pipeline's top-loop demand only filters
    (and, for local-region layers, re-orders) the rows of the space scored without it, and
    the filtered space is kept too (many sites pose one problem under one demand)."""
    top = pins.top
    if top is None or top.free:
        return _scored_space(problem, _unpinned_top(pins))
    key = (_canonical(problem), pins, problem.env.costs.idle)
    return _PINNED.get(key, lambda: _top_filtered(problem, pins))


def _top_filtered(problem: LayerProblem, pins: Pins) -> _Space:
    space = _scored_space(problem, _unpinned_top(pins))
    if not len(space.energy):
        return space
    is_conv = problem.mapping.candidates[0].is_conv
    keep, positions, rank = top_filter(space.factors, space.positions, space.rank, pins.top,
                                       is_conv)
    return _Space(space.energy[keep], space.time[keep], space.fetch0[keep], rank[keep],
                  space.index[keep], space.factors[keep], positions[keep])


@lru_cache(maxsize=1 << 12)
def _unpinned_top(pins: Pins) -> Pins:
    return replace(pins, top=None)


#: Bytes one valid scheme of a scored space holds (energy, time, F0, rank, candidate,
#: factors, positions, and the energy at up to two static costs), the bytes one scored
#: space may hold (more is refused), and the bytes the cached spaces may hold together
#: (with the exhaustive search's caches, a zoo CNN's pipelined search peaks near 1.5 GB).
SPACE_ROW_BYTES = 8 + 8 + 3 * 8 + 8 + 4 + 9 * 4 + 6 + 2 * 8
SCORED_BYTES = 2**30
SCORED_CACHE_BYTES = 2**28


@dataclass
class _Scored:
    """A group's space scored without static energy, and its energy at each idle cost."""

    dynamic: _Space
    priced: dict[float, _Space] = field(default_factory=dict)

    def at(self, idle: float) -> _Space:
        """The space with static energy ``idle x time`` added: the evaluator adds static
        energy last, so the sum equals its score at that cost to the last unit."""
        if idle == 0:
            return self.dynamic
        if idle not in self.priced:
            space = self.dynamic
            energy = space.energy + idle * space.time
            check_energy(energy)
            self.priced[idle] = replace(space, energy=energy)
        return self.priced[idle]


def _space_bytes(space: _Space) -> int:
    return sum(getattr(space, f).nbytes for f in _Space.__dataclass_fields__)


def _scored_bytes(scored: _Scored) -> int:
    return _space_bytes(scored.dynamic) + 2 * scored.dynamic.energy.nbytes


_SCORED = ByteLRU(SCORED_CACHE_BYTES, _scored_bytes)
#: Spaces filtered by a top-loop demand (subsets of the scored ones), within a quarter.
_PINNED = ByteLRU(SCORED_CACHE_BYTES // 4, _space_bytes)


def _scored_space(problem: LayerProblem, pins: Pins) -> _Space:
    """The group's valid schemes, scored once and cached (within SCORED_CACHE_BYTES) for every
    problem with the same canonical form: layers on sites that differ only in their static
    energy cost (the exact segment floors price it at zero) or in the shape of their
    buffer-sharing groups share one scoring."""
    key = _canonical(problem)
    scored = _SCORED.get((key, pins), lambda: _Scored(_score_space(key, pins)))
    return scored.at(problem.env.costs.idle)


@lru_cache(maxsize=1 << 16)
def _canonical(problem: LayerProblem) -> LayerProblem:
    """The problem as its scored space (without the sharing hops) sees it: static energy at
    zero cost (added back exactly by ``_Scored.at``) and buffer-sharing groups reduced to
    their sizes, the only part of them the capacity check reads (their hops are added to
    chosen rows, from the candidate's own problem). Its mapping, which neither changes, is
    carried over rather than built again."""
    env = problem.env
    canon = env
    if env.costs.idle != 0:
        canon = replace(canon, costs=replace(env.costs, idle=0.0))
    if env.sharing is not None:
        canon = replace(canon, sharing=None, gbuf_subgroup=env.sharing.sizes)
    if canon is env:
        return problem
    out = replace(problem, env=canon)
    out.__dict__["mapping"] = problem.mapping      # the cached_property's slot
    return out


def _score_space(problem: LayerProblem, pins: Pins) -> _Space:
    parts: list[tuple] = []
    held = 0
    for chunk in scored_chunks(problem, pins, sharing_noc=False):
        stats, ok = chunk.stats, chunk.ok
        held += len(ok)
        if held * SPACE_ROW_BYTES > SCORED_BYTES:
            raise SpaceTooLarge(f"hold more than {held:.3g} valid schemes",
                                f"{SCORED_BYTES / 2**30:g} GiB")
        rows = chunk.lo + ok
        factors = chunk.space.factors[rows]
        # Held compactly (a cached space is the search's largest memory): loop positions
        # are 0-2, and factors fit 32 bits unless a loop count does not.
        if len(factors) and factors.max() < 2**31:
            factors = factors.astype(np.int32)
        parts.append((stats.energy[ok], stats.time[ok], stats.fetch[ok, 0, :], chunk.rank(),
                      np.full(len(ok), chunk.index, dtype=np.int32), factors,
                      chunk.space.positions[rows].astype(np.int8)))
    if not parts:
        empty = np.zeros(0)
        return _Space(empty, empty, np.zeros((0, 3)), empty.astype(np.int64),
                      empty.astype(np.int32), np.zeros((0, 3, 3), np.int32),
                      np.zeros((0, 2, 3), np.int8))
    cols = list(zip(*parts, strict=True))
    return _Space(*(np.concatenate(col) for col in cols))


def _enumerated(groups: dict[LayerProblem, list[Candidate]], goal: str, pins: Pins,
                deadline: float = math.inf, hurry: bool = False) -> PartitionChoice:
    floors, _ = _closed_form_floors(groups, goal, hops=not hurry)
    best = None   # (key, candidate, row, result, space)
    solved = 0
    cut = False
    # Groups in order of their best closed-form floor; stop when none can beat the best.
    ranked = sorted(((min(floors.goal[c.order] for c in members), i, key)
                     for i, (key, members) in enumerate(groups.items())
                     if members[0].order in floors.goal))
    for lowest, _, key_problem in ranked:
        if best is not None and lowest > best[0][0]:
            break
        if best is not None and _time.perf_counter() > deadline:
            cut = True
            break
        members = groups[key_problem]
        space = _enumerate(key_problem, pins)
        if not len(space.energy):
            for c in members:
                floors.drop(c)
            continue
        for c in members:
            if best is not None and _time.perf_counter() > deadline:
                cut = True      # (a group's schemes share the space, not their hops)
                break
            floor = space.energy + _noc_energy(c, space.fetch0, c.floor_hops)
            floors.free[c.order] = (float(floor.min()), float(space.time.min()))
            if best is not None and _below(float(np.min(goal_value(floor, space.time, goal)))) \
                    > best[0][0]:
                continue      # cannot win whatever its ifmap hops: leave them unbuilt
            energy = space.energy + _noc_energy(c, space.fetch0, c.problem.env.unit_nhops)
            order = rank_order(energy, space.time, space.rank, goal)
            if c.problem.env.sharing is None:
                row = int(order[0])
                # Scored by the evaluator only when it may beat the best (the matrix
                # product sums in another order than the evaluator).
                value = goal_value(energy[row], space.time[row], goal)
                if best is not None and value * (1 - FLOOR_SLACK) > best[0][0]:
                    continue
                solved += 1
                result = _score(c, int(space.index[row]), space.factors[row],
                                space.positions[row])
                key = _key(result, goal, c.order, int(space.rank[row]))
                if best is None or key < best[0]:
                    best = (key, c, row, result, space)
                continue
            # Buffer sharing adds hops >= 0 to the energy: branch and bound over the rows.
            solved += 1
            for row in order:
                row = int(row)
                lower = (goal_value(energy[row], space.time[row], goal),
                         energy[row] if goal == "delay" else space.time[row],
                         c.order, int(space.rank[row]))
                if best is not None and lower > best[0]:
                    break
                result = _score(c, int(space.index[row]), space.factors[row],
                                space.positions[row])
                key = _key(result, goal, c.order, int(space.rank[row]))
                if best is None or key < best[0]:
                    best = (key, c, row, result, space)
    bound, e_min, t_min = floors.bounds(goal)
    if best is None:
        return PartitionChoice("infeasible", None, None, None, None, None, None, 0.0, 0,
                               solved)
    _, c, row, result, space = best
    blocking = Blocking.from_positions(space.factors[row].tolist(),
                                       space.positions[row].tolist())
    schedule = _schedule(c, int(space.index[row]), blocking)
    notes = ["time limit reached before every partition scheme was searched"] if cut else []
    return PartitionChoice("timeout" if cut else "optimal", c, schedule, result, bound, e_min,
                           t_min, 0.0, 0, solved, notes)


# -- exact models per scheme ----------------------------------------------------------------


def _exact(groups, cands, method, goal, pins, deadline, workers, milp_solver
           ) -> PartitionChoice:
    def build(problem):
        if method == "cpsat":
            return build_cpsat(problem, goal, pins)
        return build_milp(problem, goal, pins, solver=milp_solver)

    def run(problem):
        left = max(0.0, deadline - _time.perf_counter())
        return build(problem).solve(time_limit=left, workers=workers if method == "cpsat"
                                    else 1)

    notes: list[str] = []
    timed_out = False
    floors, fetch0 = _closed_form_floors(groups, goal)
    group_sol = {}
    seen: set[LayerProblem] = set()
    best = None    # (key, candidate, schedule, result)
    solved = 0
    # Most promising first; stop when no floor can beat the best.
    closed = dict(floors.goal)
    pending = sorted((c for c in cands if c.order in closed),
                     key=lambda c: (closed[c.order], c.order))
    for c in pending:
        if best is not None and closed[c.order] > best[0][0]:
            break
        if _time.perf_counter() > deadline:
            timed_out = True
            notes.append("time limit reached before every partition scheme was solved")
            break
        key_problem = c.node_problem
        if key_problem not in group_sol:
            sol = run(key_problem)
            group_sol[key_problem] = sol
            if sol.status == "infeasible":
                for m in groups[key_problem]:
                    floors.drop(m)
            else:
                timed_out = timed_out or sol.status != "optimal"
                if goal == "energy":
                    e0, t0 = sol.bound, None
                elif goal == "delay":
                    e0, t0 = None, sol.bound
                else:
                    e0, t0 = sol.energy_bound, sol.time_bound
                for m in groups[key_problem]:
                    floors.tighten(m, goal, fetch0[key_problem], e0, t0)
        sol0 = group_sol[key_problem]
        if sol0.status == "infeasible" or c.problem in seen:
            continue
        if best is not None and floors.goal[c.order] > best[0][0]:
            continue
        seen.add(c.problem)    # a later scheme with the same problem loses on order
        # The group optimum attains the scheme's bound when it fetches everything once:
        # E0(b) >= E0(b*) and F0(b) >= 1 for every blocking b.
        if goal == "energy" and sol0.status == "optimal" and sol0.schedule is not None \
                and tuple(sol0.result.fetch[0]) == (1, 1, 1):
            result = _score(c, sol0.schedule.mapping_index, sol0.schedule.blocking.factors,
                            sol0.schedule.blocking.positions())
            if result.valid:
                key = _key(result, goal, c.order)
                if best is None or key < best[0]:
                    best = (key, c, _schedule(c, sol0.schedule.mapping_index,
                                              sol0.schedule.blocking), result)
                continue
        sol = run(c.problem)
        solved += 1
        if sol.status != "optimal":
            timed_out = timed_out or sol.status in ("timeout", "unknown")
        if sol.schedule is None:
            continue
        key = _key(sol.result, goal, c.order)
        if best is None or key < best[0]:
            best = (key, c, _schedule(c, sol.schedule.mapping_index, sol.schedule.blocking),
                    sol.result)
    bound, e_min, t_min = floors.bounds(goal)
    if bound is not None and not math.isfinite(bound):
        bound = None
    if best is None:
        status = "timeout" if timed_out else "infeasible"
        return PartitionChoice(status, None, None, None, bound, None, None, 0.0, 0, solved,
                               notes)
    _, c, schedule, result = best
    status = "timeout" if timed_out else "optimal"
    return PartitionChoice(status, c, schedule, result, bound,
                           e_min if e_min is not None and math.isfinite(e_min) else None,
                           t_min if t_min is not None and math.isfinite(t_min) else None,
                           0.0, 0, solved, notes)


# -- closed-form blocking per scheme ---------------------------------------------------------


def _analytical(cands: list[Candidate], goal: str, pins: Pins) -> PartitionChoice:
    best = None
    for c in cands:
        found = analytical.search_layer(c.problem, goal)
        for ranked in found.top:
            if not analytical.keeps_pins(ranked, pins):
                continue
            key = _key(ranked.result, goal, c.order, ranked.rank)
            if best is None or key < best[0]:
                best = (key, c, ranked)
            break
    if best is None:
        return PartitionChoice("infeasible", None, None, None, None, None, None, 0.0, 0,
                               len(cands))
    _, c, ranked = best
    schedule = _schedule(c, ranked.schedule.mapping_index, ranked.schedule.blocking)
    return PartitionChoice("heuristic", c, schedule, ranked.result, None, None, None, 0.0, 0,
                           len(cands))
