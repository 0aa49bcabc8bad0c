"""Exact segment selection: a proven lower bound on every pipelined schedule of a network.

A schedule is a chain of candidate segments covering the scheduling order (each segment an
interval of it), so choosing the chain is a shortest path over layer positions (network
spec §7.2); the path's network matrix is totally unimodular and a dynamic programme solves
it exactly. Each segment is priced by a lower bound that holds for *every* way of running
it, whatever the earlier segments left in DRAM and whatever constraint tuple it takes:

* each layer's dynamic energy (everything but static energy) is at least its exact
  per-layer bound on its sub-region with its data sources, computed without constraints
  (constraints only remove schedules) and with NoC hops from the nearest possible source
  (``partition_choice``'s layout-free bound), with static energy priced at zero;
* the segment's time is at least, for every spatial entry, the sum of its layers' least
  times (an entry runs its layers one after another; segment spec §3.9), which also bounds
  a whole-network segment's critical time;
* static energy is ``idle x time``, so a segment costs at least its dynamic floor plus
  ``idle x`` its time floor (network spec §4.1's static correction makes this exact).

The shortest path over these prices bounds the whole network; for EDP the energy and time
paths are taken separately and multiplied. The beam search's schedule is feasible, so the
relative difference is the most the beam can have left on the table.
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, replace

from ..errors import TooLarge
from ..heuristics.exhaustive import SpaceTooLarge
from ..model.dims import Data, Level
from ..model.layout import DataLayout, ifmap_frng
from ..model.mapping import map_layer
from ..model.partition import PartitionScheme
from .partition_choice import closed_form_floor
from .segments import State


class TooLargeToBound(Exception):
    """A layer whose floor (an exhaustive search) is beyond its budget: no bound."""


@dataclass(frozen=True)
class SegmentFloor:
    """Lower bounds on one segment: ``energy`` with static energy at its time floor,
    ``time``, and ``dynamic`` energy (everything but static energy)."""

    energy: float
    time: float
    dynamic: float


@dataclass
class SelectionBound:
    """The segment-selection model's answer: the network's goal bound, the energy and time
    bounds, the chain of segment plans that attains the bound, and what it took."""

    bound: float | None
    energy: float | None
    time: float | None
    chain: list
    segments: int
    solves: int
    seconds: float
    complete: bool = True
    note: str = ""               # why there is no bound, when it was not the time limit


def _priced(search, plan, idle: float, layer_floor) -> SegmentFloor | None:
    """The segment's floors from ``layer_floor(sites, name)``, each layer's (dynamic
    energy, time) floor on its bound sites or None (then the segment's is None)."""
    costs = replace(search.scenario.costs, idle=0.0)
    dynamic = 0.0
    entry_time = []
    for sp, entry in enumerate(plan.segment):
        total = 0.0
        for tm, name in enumerate(entry):
            sites = [replace(s, costs=costs) for s in _bound_sites(search, plan, sp, tm)]
            floor = layer_floor(sites, name)
            if floor is None:
                return None
            dynamic += floor[0]
            total += floor[1]
        entry_time.append(total)
    time = max(entry_time)
    return SegmentFloor(dynamic + idle * time, time, dynamic)


def segment_floor(search, plan, idle: float, deadline: float = math.inf
                  ) -> SegmentFloor | None:
    """Lower bounds of one segment plan (None: some layer has no schedule, or the
    deadline passed)."""
    def exact(sites, name: str):
        if _time.perf_counter() > deadline:
            return None
        try:
            choice = search.floor_choice(sites)
        except SpaceTooLarge as exc:
            raise TooLargeToBound(f"layer {name}: {exc}") from None
        if choice.candidate is None or choice.bound is None or choice.min_time is None:
            return None
        return choice.bound, choice.min_time

    return _priced(search, plan, idle, exact)


def quick_floor(search, plan, idle: float) -> SegmentFloor | None:
    """Lower bounds of one segment plan in closed form: as ``segment_floor`` with each
    layer's closed-form floor in place of its exhaustive bound, so never above it (None:
    some layer has no mapping, or its candidates are too many to build)."""
    def closed_form(sites, name: str):
        try:
            return closed_form_floor(search.candidates(sites))
        except TooLarge:
            return None

    return _priced(search, plan, idle, closed_form)


def _bound_sites(search, plan, sp: int, tm: int):
    """The layer's sites with every producer's ofmaps in DRAM, split as the first input
    layout (any layout gives the same bound; one layout lets plans share solves)."""
    name = plan.segment[sp][tm]
    state = State(input_scheme=search.seeds[0])
    trivial = PartitionScheme.trivial()
    for p in search.net.prevs[name]:
        if p in search.net.layers:
            c, h, w = search.net.fmap(p)
            state.ofmaps[p] = DataLayout.of(ifmap_frng(search.scenario.batch, c, h, w),
                                            search.memory, trivial)
    return search.sites(state, plan, sp, tm)


def any_floor(search, name: str) -> SegmentFloor:
    """A lower bound on layer ``name`` in every schedule the search can find, on any region,
    in any segment, with any data sources: its MACs, and the register-file accesses every
    MAC makes in the row-stationary model (its operands read and its partial sum read and
    written), which no partitioning or blocking changes; every other term, and time, is
    priced at zero. Weak, but it needs no solve: the price of segments not priced by the
    time limit. Cached on the search."""
    cache = search.__dict__.setdefault("_any_floors", {})
    if name not in cache:
        sc = search.scenario
        layer = search.net.layers[name]
        mapping = map_layer(layer.one_group(), sc.batch, sc.hardware.pe_array,
                            rules=search.rules)
        per_op = [sum(nld.unit_access[Level.REGF][d] * (2 if d == Data.OFM else 1)
                      for d in Data) / nld.unit_ops
                  for nld in mapping.candidates if nld.unit_ops > 0]
        regf = min(per_op) if per_op else 0.0
        ops = float(layer.ops(sc.batch))
        # Far below any rounding of the evaluator's per-node products.
        energy = (sc.costs.mac + sc.costs.regf * regf) * ops * (1 - ANY_FLOOR_SLACK)
        cache[name] = SegmentFloor(energy, 0.0, energy)
    return cache[name]


#: Relative slack of ``any_floor`` (the evaluator's op counts carry occupancy fractions).
ANY_FLOOR_SLACK = 1e-6


def select(order, plans, floors: dict, goal: str, singles: dict | None = None
           ) -> tuple[float, list]:
    """The least-price chain of segments covering ``order`` (the plans grouped by their
    last layer), by dynamic programme over positions: (price, chain). ``singles`` (layer ->
    SegmentFloor) adds each layer alone at that price, standing for every segment not
    priced (a chain through one costs at least its layers' singles); such a step is None
    in the chain."""
    position = {name: i for i, name in enumerate(order)}
    best: list[tuple[float, list]] = [(math.inf, [])] * len(order)
    for i, last in enumerate(order):
        if singles is not None:
            f = singles[last]
            before = (0.0, []) if i == 0 else best[i - 1]
            best[i] = (before[0] + (f.time if goal == "delay" else f.energy),
                       before[1] + [None])
        for plan in plans[last]:
            f = floors.get(plan.segment)
            if f is None:
                continue
            first = position[plan.segment[0][0]]
            before = (0.0, []) if first == 0 else best[first - 1]
            price = before[0] + (f.time if goal == "delay" else f.energy)
            if price < best[i][0]:
                best[i] = (price, before[1] + [plan])
    return best[-1]


def selection_bound(search, goal: str, deadline: float = math.inf, lazy: bool = True
                    ) -> SelectionBound:
    """The proven bound on the network's goal over every chain of the search's segments.

    With ``lazy`` each segment is first priced by its closed-form floor (``quick_floor``),
    and only the segments on the cheapest chains get their exact floor, until those chains
    are priced exactly: the same bound as pricing every segment exactly (the exact floors
    are never lower), with far fewer solves. If the deadline passes while refining, the
    bound of the prices so far is returned (still a bound, only weaker)."""
    start = _time.perf_counter()
    solves0 = search.layer_solves
    order = search.plans.order
    plans: dict[str, list] = {}
    idle = search.scenario.costs.idle
    floors: dict = {}
    exact: set = set()          # segments priced exactly (or as well as they can be)
    complete = True
    count = 0

    def stop(note: str = "", done: bool = True) -> SelectionBound:
        return SelectionBound(None, None, None, [], count, search.layer_solves - solves0,
                              _time.perf_counter() - start, done, note)

    for last in order:
        plans[last] = []
        for plan in search.plans.ending_at(last, deadline=deadline):
            plans[last].append(plan)
            count += 1
            key = plan.segment
            if key in search.floors and search.floors[key] is not None:
                floors[key] = search.floors[key]        # priced by the beam already
                exact.add(key)
                continue
            if key in search.floors:                    # no schedule at all
                floors[key] = None
                exact.add(key)
                continue
            if _time.perf_counter() > deadline:
                complete = False
                continue                # left unpriced: the layers' singles stand for it
            quick = quick_floor(search, plan, idle) if lazy else None
            if quick is not None:
                floors[key] = quick
                continue
            try:
                f = segment_floor(search, plan, idle, deadline)
            except TooLargeToBound as exc:
                if not lazy:
                    return stop(str(exc))
                complete = False        # no price: the singles stand for it
                continue
            if f is None and _time.perf_counter() > deadline:
                complete = False
                continue
            floors[key] = f
            exact.add(key)
        if search.plans.stopped:
            complete = False            # segments never planned: the singles stand for them
    singles = None
    notes = []
    if not complete:
        singles = {name: any_floor(search, name) for name in order}
        notes.append("time limit reached before every segment was priced: those left count "
                     "at their layers' MACs and register-file accesses only (a weaker "
                     "bound)")
    while True:
        energy, chain = select(order, plans, floors, "energy", singles)
        time, time_chain = select(order, plans, floors, "delay", singles)
        todo = list({p.segment: p for p in chain + time_chain
                     if p is not None and p.segment not in exact}.values())
        if not todo:
            break
        if _time.perf_counter() > deadline:
            notes.append("time limit reached: some segments are priced by closed-form "
                         "floors (a weaker bound)")
            break
        for plan in todo:
            try:
                f = segment_floor(search, plan, idle, deadline)
            except TooLargeToBound as exc:
                # The closed-form floor stays: a bound still, only a weaker one.
                notes.append(f"priced in closed form: {exc}")
                exact.add(plan.segment)
                continue
            if f is None and _time.perf_counter() > deadline:
                break
            floors[plan.segment] = f
            search.floors[plan.segment] = f
            exact.add(plan.segment)
    seconds = _time.perf_counter() - start
    solves = search.layer_solves - solves0
    if goal == "delay":
        bound, chain = time, time_chain
    elif goal == "edp":
        bound = energy * time
    else:
        bound = energy
    if not math.isfinite(bound):
        return SelectionBound(None, None, None, [], count, solves, seconds)
    if any(p is None for p in chain):
        chain = []                      # not a chain of real segments: nothing to follow
    return SelectionBound(bound, energy, time, chain, count, solves, seconds, complete,
                          note="; ".join(notes))
