"""Inter-layer pipelining: the network search over chains of pipeline segments.

The layers are scheduled in the scheduling DAG's order; a schedule of the network is a chain
of segments, each an interval of that order (network spec §3-4). As in nn_dataflow 2.1, the
search is a beam over prefixes: after every segment that ends at a layer, the ``beam_width``
best partial schedules ending there are kept. Inside a segment, every constraint tuple of
the segment's variables (ALLO groups, batch groups; §3.7) is tried in nn_dataflow's order,
skipping tuples dominated by one that already gave an in-budget schedule, and each layer is
solved *exactly* for its sub-region, data sources, constraint and the ifmap layout that the
partial schedule left (``partition_choice.choose``). The partial schedules are ranked by
the network totals of §4.1, with the segment timing of §3.9.

Without ``interlayer`` and ``save_writeback`` every segment is one layer and this reduces
to the layer-by-layer search of ``multinode``.
"""

from __future__ import annotations

import math
import time as _time
import uuid
import zlib
from dataclasses import dataclass, replace

from ..errors import InfeasibleError, NnsolveError, TooLarge
from ..heuristics.exhaustive import SpaceTooLarge
from ..model.dims import Loop
from ..model.evaluate import FLOOR_SLACK
from ..model.layout import DataLayout
from ..model.mapping import DEFAULT_RULES, ModelRules, map_layer
from ..model.pins import Pins, TopLoops
from ..model.resources import LayerSite
from ..model.schedule import Region
from ..model.segment_constraints import LayerConstraint
from ..model.segment_timing import segment_timing
from ..results import (
    LayerOutcome,
    NetworkResult,
    SegmentOutcome,
    SolveInterrupted,
    interrupted,
    proven_bound,
)
from ..scenario import Scenario
from .layer_solve import solver_threads
from .node_array import Chip
from .parallel import LanesFailed, Workers, default_workers
from .partition_choice import Candidate, PartitionChoice, candidates_of, choose
from .segment_bound import (
    SegmentFloor,
    TooLargeToBound,
    quick_floor,
    segment_floor,
    selection_bound,
)
from .segments import (
    Pick,
    SegmentPlan,
    SegmentPlans,
    State,
    layer_timing,
    partial_segment,
)

# -- the search -----------------------------------------------------------------------------


#: Least seconds a layer solve gets, also once the limit has run out: a share of a few
#: milliseconds would find no schedule at all, and every layer needs one.
MIN_SOLVE_S = 0.1


class PipelineSearch(Chip):
    """nn_dataflow's network search (§4.2) with exact per-layer solves; one per solve."""

    def __init__(self, scenario: Scenario, method: str, rules: ModelRules = DEFAULT_RULES,
                 deadline: float = math.inf, workers: Workers | None = None) -> None:
        super().__init__(scenario, rules)
        self.workers = workers or Workers(1)
        self.method = method
        self.net = scenario.network
        self.goal = scenario.search.goal
        self.width = scenario.solver.beam_width
        self.solved: dict[tuple, PartitionChoice] = {}
        self.built: dict[tuple, list[Candidate]] = {}
        self.notes: list[str] = []
        self.timed_out = False          # the time limit cut the segment search short
        self.layer_solves = 0
        self.plans = SegmentPlans(scenario)
        self.deadline = deadline        # the whole solve's (solver.total_time_limit_s)
        self.beam_deadline = deadline   # the beam's: then single-layer segments only
        self.late = False               # past the beam's deadline
        self.layers_left = len(self.net.layers)   # (while late) layers still to schedule
        self.prune = True               # skip segments whose floor cannot enter the beam
        self.pruned = 0                 # segments skipped so far
        self.job = SearchJob(uuid.uuid4().hex, scenario, method, rules)
        self.floors: dict = {}          # segment -> SegmentFloor | None (segment_bound)
        self.unfloored: set = set()     # segments whose floor is beyond the budget
        self.quick_floors: dict = {}    # segment -> closed-form SegmentFloor | None

    def solve_limit(self) -> float:
        """Seconds for the next layer solve: the per-layer limit, within what is left of the
        whole solve (shared among the layers still to schedule once the beam is late), and
        at least MIN_SOLVE_S: the layers left when the limit runs out still get a schedule."""
        left = self.deadline - _time.perf_counter()
        share = left / max(1, self.layers_left) if self.late else left
        return min(self.scenario.solver.time_limit_s, max(share, MIN_SOLVE_S))

    # -- layers --

    def sites(self, state: State, plan: SegmentPlan, sp: int, tm: int) -> list[LayerSite]:
        """The layer at (sp, tm) of ``plan`` placed after ``state``: one site, or one per
        input layout while the input's layout is open."""
        name = plan.segment[sp][tm]
        place = plan.places[sp][tm]
        schemes = [state.input_scheme]
        if self.reads_input(name) and state.input_scheme is None:
            schemes = self.seeds
        fwd = plan.forwarded.get((sp, tm))
        sc = self.scenario
        out = []
        for scheme in schemes:
            layout = self.ifmap_layout(state.ofmaps, name, scheme)
            if fwd is not None:
                layout = DataLayout(layout.frngs, (fwd,) * len(layout.frngs),
                                    tuple(p.projection(fwd, fmap=True) for p in layout.parts))
            out.append(LayerSite(
                self.net.layers[name], sc.batch, sc.hardware, sc.costs,
                sc.search.bypass_mask, place.region, self.memory, layout, self.options,
                self.sharing, self.rules,
                src=None if place.src_is_dram else place.src,
                dst=None if place.dst_is_dram else place.dst,
                no_time_mux=place.no_time_mux))
        return out

    def _pins(self, state: State, name: str, cons: LayerConstraint) -> Pins:
        topofm = cons.topofm
        if cons.lazy_from is not None:
            topofm = state.picks[cons.lazy_from].choice.schedule.blocking.factors[0][Loop.O]
        pins = self.scenario.search.pins_for(name)
        top = TopLoops(cons.topbat, cons.topifm, topofm)
        return Pins(pins.mapping, pins.factors, pins.innermost, pins.resident,
                    None if top.free else top)

    def candidates(self, sites: list[LayerSite]) -> list[Candidate]:
        """The (seed, scheme) candidates of the sites, built once per site tuple."""
        key = tuple(sites)
        if key not in self.built:
            self.built[key] = candidates_of(sites)
        return self.built[key]

    def past(self, deadline: float) -> bool:
        return _time.perf_counter() > deadline

    def floor_choice(self, sites: list[LayerSite]) -> PartitionChoice:
        """The least-energy schedule of a layer on ``sites`` by exhaustive search, whose
        bound and least time are the layer's floors (solved once per site tuple)."""
        key = ("floor", tuple(sites))
        if key not in self.solved:
            start = _time.perf_counter()
            self.solved[key] = choose(sites, "exhaustive", "energy",
                                      candidates=self.candidates(sites))
            self.workers.busy += _time.perf_counter() - start
            self.layer_solves += 1
        return self.solved[key]

    def _solve(self, name: str, sites: list[LayerSite], pins: Pins) -> PartitionChoice:
        key = (tuple(sites), pins)
        if key not in self.solved:
            solver = self.scenario.solver
            try:
                limit = self.solve_limit()
                # Past the beam's deadline, layer solves hurry: the NoC hops of a
                # layer's schemes are computed only for those searched in its share.
                choice = choose(sites, self.method, self.goal, pins, limit,
                                solver_threads(solver.threads), solver.milp_solver,
                                self.candidates(sites), hurry=self.late)
                if choice.candidate is None and choice.status == "timeout":
                    choice = self._no_schedule_in_time(sites, pins, choice, limit)
                self.solved[key] = choice
            except TooLarge as exc:
                raise NnsolveError(f"layer {name}: {exc}") from None
            self.workers.busy += self.solved[key].seconds
            self.layer_solves += 1
            self.notes += [f"{name}: {n}" for n in self.solved[key].notes
                           if f"{name}: {n}" not in self.notes]
        return self.solved[key]

    def _no_schedule_in_time(self, sites: list[LayerSite], pins: Pins, cut: PartitionChoice,
                             limit: float) -> PartitionChoice:
        """A layer whose solve found no schedule within its ``limit``: the exhaustive search
        supplies one (as for a single layer), unless its space is beyond its budget."""
        try:
            choice = choose(sites, "exhaustive", self.goal, pins,
                            candidates=self.candidates(sites))
        except SpaceTooLarge:
            return cut
        choice.notes = [f"{self.method} found no schedule within {limit:.3g} s; the "
                        "exhaustive search supplied the optimum", *choice.notes]
        return choice

    def _add_layer(self, state: State, plan: SegmentPlan, sp: int, tm: int,
                   cons: LayerConstraint) -> State | None:
        name = plan.segment[sp][tm]
        sites = self.sites(state, plan, sp, tm)
        choice = self._solve(name, sites, self._pins(state, name, cons))
        if choice.candidate is None:
            if choice.status == "timeout":      # no schedule within the time left
                raise OutOfTime
            return None
        return self.extend_state(state, plan, sp, tm, choice, len(sites) > 1)

    def extend_state(self, state: State, plan: SegmentPlan, sp: int, tm: int,
                     choice: PartitionChoice, seeded: bool) -> State:
        """``state`` with the layer at (sp, tm) of ``plan`` scheduled as ``choice`` (whose
        seed fixes the input's layout when ``seeded``), its segment's timing updated."""
        name = plan.segment[sp][tm]
        seg_index = len(state.plans) if (sp, tm) == (0, 0) else len(state.plans) - 1
        input_scheme = state.input_scheme
        if seeded:
            input_scheme = self.seeds[choice.candidate.seed]
        site = choice.candidate.site
        pick = Pick(name, choice, site, seg_index, layer_timing(choice, site.region.size))
        present = set(plan.layers[:plan.layers.index(name) + 1])
        timings = {n: state.picks[n].timing for n in present if n != name}
        timings[name] = pick.timing
        timing = segment_timing(self.net, partial_segment(plan.segment, present), timings)
        return state.extend(pick, plan, timing, input_scheme)

    # -- segments --

    def _segment(self, plan: SegmentPlan, prevs: list[State]) -> list[State]:
        """The best extensions of ``prevs`` by the segment (§4.2 segment_search). Past the
        beam's deadline it stops after the first constraint tuple that gives a schedule; a
        layer that gets no schedule in the time left raises OutOfTime."""
        limit = self.scenario.search.pipeline_time_overhead
        layers = len(self.net.layers)
        frontier: list[tuple] = []
        found: list[State] = []
        for cons, hints in plan.constraints.enumerate(limit):
            if found and self.past(self.beam_deadline):
                self.timed_out = True
                break
            if any(all(h >= f for h, f in zip(hints, fh, strict=True)) for fh in frontier):
                continue
            current = prevs
            for sp, entry in enumerate(plan.segment):
                for tm, _ in enumerate(entry):
                    nxt = [s for s in (self._add_layer(st, plan, sp, tm, cons[sp][tm])
                                       for st in current) if s is not None]
                    current = sorted(nxt, key=lambda s: s.key(self.goal, layers))[:self.width]
            # Earlier segments' timings were kept within the limit already.
            keep = [s for s in current if s.timings[-1].overhead <= limit]
            if keep:
                frontier.append(hints)
            found += keep
        return sorted(found, key=lambda s: s.key(self.goal, layers))[:self.width]

    def follow(self, plans: list[SegmentPlan]) -> State | None:
        """The best schedule that takes exactly this chain of segments (None: none fits;
        OutOfTime as ``_segment``)."""
        current = [State()]
        for plan in plans:
            lanes = None
            if self.workers.started:     # on the lane that searched the plan in the beam
                try:
                    lanes = self._segment_in_lane(plan, current)
                except LanesFailed as exc:
                    self._lanes_failed(exc)
            current = lanes if lanes is not None else self._segment(plan, current)
            if not current:
                return None
        return current[0]

    def _segment_in_lane(self, plan: SegmentPlan, prevs: list[State]) -> list[State]:
        """``_segment`` on the plan's lane."""
        lane = self._lane(plan, self.workers.lanes())
        future = self.workers.submit(lane, lane_segment, self.job, plan, prevs,
                                     self._left(self.beam_deadline), self._left(self.deadline))
        self.workers.wait([future])
        answer = self._merge(self.workers.result(future))
        return answer.states

    # -- pruning by segment floors --

    def _prunes(self) -> bool:
        """Whether segments are pruned by their floors: for the energy goal, by exact
        methods (the floors are the selection bound's, solved anyway), while the beam has
        time."""
        return self.prune and self.goal == "energy" and self.method != "analytical" \
            and not self.late

    def floor_of(self, plan: SegmentPlan, quick: bool = False) -> SegmentFloor | None:
        """The segment's floors (segment_bound), computed once: in closed form with
        ``quick``, else exact. None when some layer has no schedule on its sites, its
        floor is beyond the exhaustive search's budget, or the beam's deadline passed."""
        key = plan.segment
        if quick:
            if key not in self.quick_floors:
                self.quick_floors[key] = quick_floor(self, plan, self.scenario.costs.idle)
            return self.quick_floors[key]
        if key in self.unfloored:
            return None
        if key not in self.floors:
            try:
                floor = segment_floor(self, plan, self.scenario.costs.idle,
                                      self.beam_deadline)
            except TooLargeToBound:
                # Not kept in ``floors``: for the bound this is no bound, not no schedule.
                self.unfloored.add(key)
                return None
            if floor is None and self.past(self.beam_deadline):
                return None             # not kept: the bound may price it later
            self.floors[key] = floor
        return self.floors[key]

    def _lower(self, plan: SegmentPlan, prevs: list[State], quick: bool = False) -> float:
        """A lower bound on the energy of every extension of ``prevs`` by the segment:
        the best prefix's dynamic energy plus the segment's dynamic floor (static energy
        is never negative); -inf when the segment has no floor."""
        floor = self.floor_of(plan, quick)
        if floor is None:
            return -math.inf
        return min(s.sum_cost - s.sum_static for s in prevs) + floor.dynamic

    def _best_floor_first(self, plans: list[tuple]):
        """(index, plan, prevs) in the order to search them: lowest exact floor first when
        pruning (so a good incumbent comes early; on AlexNet this order skips 35 of 73
        segments, the closed-form floors' order 26), else as listed."""
        indexed = [(index, plan, prevs) for index, (plan, prevs) in enumerate(plans)]
        if not self._prunes() or len(indexed) < 2:
            return indexed
        lows = {index: self._lower(plan, prevs) if prevs else math.inf
                for index, plan, prevs in indexed}
        return sorted(indexed, key=lambda t: (lows[t[0]], t[0]))

    def _beaten(self, plan: SegmentPlan, prevs: list[State], found: list[tuple]) -> bool:
        """Whether no extension by the segment can enter the beam: the beam is full and
        the segment's lower bound (closed form, then exact) exceeds the energy of its
        last (widest) state, past the rounding of the floors' sums."""
        if not self._prunes() or len(found) < self.width:
            return False
        worst = found[self.width - 1][0][0]
        # The closed-form floor is never above the exact one: once that is known, it alone.
        ways = (False,) if self.floors.get(plan.segment) is not None else (True, False)
        return any(self._lower(plan, prevs, quick) * (1 - FLOOR_SLACK) > worst
                   for quick in ways)

    def _why_stuck(self, name: str) -> str:
        """Why no schedule of the network's prefix reaches layer ``name``."""
        sc = self.scenario
        mapping = map_layer(self.net.layers[name].one_group(), sc.batch,
                            sc.hardware.pe_array, rules=self.rules)
        if not mapping.candidates:
            return f"layer {name} has no valid mapping on the PE array: {mapping.reason}"
        return (f"no segment ending at layer {name} fits (its data and the schedules of the "
                f"layers before it exceed the buffers or the node regions)")

    def run(self, progress, deadline: float) -> State:
        """The best complete schedule (raises InfeasibleError when none exists). After
        ``deadline`` (the beam's) only single-layer segments are tried; at the whole
        solve's deadline it stops with BeamCut."""
        order = self.plans.order
        tops: dict[str | None, list[State]] = {None: [State()]}
        progress.start(len(order))
        self.beam_deadline = min(deadline, self.deadline)

        def prefix_best() -> State | None:
            """The best schedule of the longest finished prefix of the layer order."""
            prefix = 0
            while prefix < len(order) and tops.get(order[prefix]):
                prefix += 1
            return tops[order[prefix - 1]][0] if prefix else None

        try:
            return self._run(order, tops, progress)
        except KeyboardInterrupt:
            raise BeamInterrupted(prefix_best()) from None
        except OutOfTime:
            self.timed_out = True
            raise BeamCut(prefix_best()) from None

    def _search_here(self, plans: list[tuple]) -> list[tuple]:
        """The extensions of the (plan, prevs) of one last layer, as (key, plan index, rank,
        state) sorted (the order of an unpruned search that takes the plans as listed):
        each segment searched in this process, best floor first."""
        layers = len(self.net.layers)
        found: list[tuple] = []
        for index, plan, prevs in self._best_floor_first(plans):
            if not prevs:
                continue
            if self._beaten(plan, prevs, found):
                self.pruned += 1
                continue
            found += [(s.key(self.goal, layers), index, rank, s)
                      for rank, s in enumerate(self._segment(plan, prevs))]
            found.sort(key=lambda f: f[:3])
            if not self.late and self.past(self.beam_deadline) and found:
                break           # the layer's other segments are not explored
        return found

    def _search_in_lanes(self, plans: list[tuple]) -> list[tuple]:
        """``_search_here`` on the workers' lanes: each plan goes to the lane ``_lane``
        picks, its exact floor first (every plan's floor, for the order), then its segment,
        so both share that lane's caches. Each lane takes its plans best floor first and
        skips those whose floor shows they cannot enter the beam found so far (exact, as
        here); the answers merge by the same key and tie-break as here, so without a time
        limit the result is ``_search_here``'s."""
        workers = self.workers
        lanes = workers.lanes()
        layers = len(self.net.layers)
        if self._prunes():
            floors = {}
            for plan, prevs in plans:
                key = plan.segment
                if prevs and key not in self.floors and key not in self.unfloored:
                    floors[workers.submit(self._lane(plan, lanes), lane_floor, self.job, plan,
                                          self._left(self.beam_deadline))] = key
            while floors:
                for future in workers.wait(floors):
                    key = floors.pop(future)
                    answer = workers.result(future)
                    self.layer_solves += answer.solves
                    if answer.unfloored:
                        self.unfloored.add(key)
                    elif answer.kept:
                        self.floors[key] = answer.floor
        queues: list[list[tuple]] = [[] for _ in range(lanes)]
        for index, plan, prevs in self._best_floor_first(plans):
            if prevs:
                queues[self._lane(plan, lanes)].append((index, plan, prevs))
        found: list[tuple] = []
        running: dict = {}              # future -> (lane, plan index)
        stop = False
        while True:
            busy = {lane for lane, _ in running.values()}
            for lane, queue in enumerate(queues):
                while queue and not stop and lane not in busy:
                    index, plan, prevs = queue.pop(0)
                    if self._beaten(plan, prevs, found):
                        self.pruned += 1
                        continue
                    future = workers.submit(lane, lane_segment, self.job, plan, prevs,
                                            self._left(self.beam_deadline),
                                            self._left(self.deadline))
                    running[future] = (lane, index)
                    busy.add(lane)
            if not running:
                return found
            for future in workers.wait(running):
                _, index = running.pop(future)
                try:
                    answer = self._merge(workers.result(future))
                except OutOfTime:
                    workers.forget(running)
                    raise
                found += [(s.key(self.goal, layers), index, rank, s)
                          for rank, s in enumerate(answer.states)]
                found.sort(key=lambda f: f[:3])
            if self.past(self.beam_deadline) and found:
                stop = True     # the layer's other segments are not explored

    def _lanes_failed(self, exc: LanesFailed) -> None:
        """The search goes on in this process (answers already merged are right: every
        task is a pure function of its arguments)."""
        self.workers.disable()
        self.notes.append(f"the worker processes failed ({exc}); the search went on in "
                          "this process (a script that solves with solver.workers above 1 "
                          "needs the if __name__ == '__main__': guard)")

    def _merge(self, answer: LaneSegment) -> LaneSegment:
        """A lane's answer for a segment counted here (OutOfTime when the lane ran out)."""
        self.layer_solves += answer.solves
        self.notes += [n for n in answer.notes if n not in self.notes]
        self.timed_out |= answer.timed_out
        if answer.out_of_time:
            raise OutOfTime
        return answer

    def _lane(self, plan: SegmentPlan, lanes: int) -> int:
        """The lane of a plan: by its first layer's shape and region size, so plans that
        solve equal layers on equal regions (AlexNet's twin halves) share a lane's caches."""
        first = (self.net.layers[plan.segment[0][0]], plan.places[0][0].region.dims)
        return zlib.crc32(repr(first).encode()) % lanes

    @staticmethod
    def _left(deadline: float) -> float:
        """Seconds to ``deadline``: what a lane turns into its own clock's deadline."""
        return deadline - _time.perf_counter()

    def _run(self, order, tops, progress) -> State:
        position = {name: i for i, name in enumerate(order)}
        for i, last in enumerate(order):
            self.layers_left = len(order) - i
            plans = []
            for plan in self.plans.ending_at(last, single=self.late,
                                             deadline=self.beam_deadline):
                first = position[plan.segment[0][0]]
                prevs = tops[None] if first == 0 else tops.get(order[first - 1], [])
                plans.append((plan, prevs))
            found = None
            if self.workers.ready and not self.late:
                try:
                    found = self._search_in_lanes(plans)
                except LanesFailed as exc:
                    self._lanes_failed(exc)
            if found is None:
                found = self._search_here(plans)
            if not self.late and (self.plans.stopped or self.past(self.beam_deadline)):
                self.late = True
                self.timed_out = True
                self.notes.append(f"time limit reached at layer {last}: the remaining "
                                  "layers were searched as single-layer segments only")
            tops[last] = [f[3] for f in found[:self.width]]
            if not tops[last] and i == len(order) - 1:
                break
            progress.advance(last)
        best = tops.get(order[-1], [])
        if not best:
            stuck = next(name for name in order if not tops.get(name))
            raise InfeasibleError(f"{self.scenario.source}: no pipelined schedule of "
                                  f"{self.net.name} fits the hardware: "
                                  f"{self._why_stuck(stuck)}")
        return best[0]


@dataclass(frozen=True)
class SearchJob:
    """What a lane needs to hold a copy of a search (``token`` names the solve)."""

    token: str
    scenario: Scenario
    method: str
    rules: ModelRules


@dataclass
class LaneFloor:
    """A lane's answer for a segment's exact floor: the floor, whether it is beyond the
    exhaustive search's budget, whether it was kept (not cut by the deadline), and the
    layer solves it took."""

    floor: SegmentFloor | None
    unfloored: bool
    kept: bool
    solves: int


@dataclass
class LaneSegment:
    """A lane's answer for a segment: its best extensions of the prefixes, the notes and
    layer solves it added, whether the beam's deadline cut it, and whether the whole
    solve's time ran out (OutOfTime)."""

    states: list[State]
    notes: list[str]
    solves: int
    timed_out: bool
    out_of_time: bool


#: The search a worker process holds, by its job's token (one at a time).
_REPLICA: dict[str, PipelineSearch] = {}


def _replica(job: SearchJob) -> PipelineSearch:
    search = _REPLICA.get(job.token)
    if search is None:
        _REPLICA.clear()
        search = _REPLICA[job.token] = PipelineSearch(job.scenario, job.method, job.rules)
    return search


def lane_floor(job: SearchJob, plan: SegmentPlan, left: float) -> LaneFloor:
    """A lane's task: the segment's exact floor (``PipelineSearch.floor_of``), with
    ``left`` seconds to the beam's deadline."""
    search = _replica(job)
    search.beam_deadline = _time.perf_counter() + left
    before = search.layer_solves
    floor = search.floor_of(plan)
    return LaneFloor(floor, plan.segment in search.unfloored, plan.segment in search.floors,
                     search.layer_solves - before)


def lane_segment(job: SearchJob, plan: SegmentPlan, prevs: list[State], beam_left: float,
                 total_left: float) -> LaneSegment:
    """A lane's task: the best extensions of ``prevs`` by the segment (``_segment``), with
    the seconds left to the beam's and to the whole solve's deadline."""
    search = _replica(job)
    now = _time.perf_counter()
    search.beam_deadline, search.deadline = now + beam_left, now + total_left
    notes, before = len(search.notes), search.layer_solves
    search.timed_out = False
    try:
        states, out = search._segment(plan, prevs), False
    except OutOfTime:
        states, out = [], True
    return LaneSegment(states, search.notes[notes:], search.layer_solves - before,
                       search.timed_out, out)


class OutOfTime(Exception):
    """The whole solve's time limit (solver.total_time_limit_s) has run out."""


class BeamCut(Exception):
    """The time limit cut the beam: the best state of the longest finished prefix, or None."""

    def __init__(self, state: State | None):
        super().__init__()
        self.state = state


class BeamInterrupted(KeyboardInterrupt):
    """Ctrl-C during the beam: the best state of the longest finished prefix, or None."""

    def __init__(self, state: State | None):
        super().__init__()
        self.state = state


def solve_pipelined(scenario: Scenario, method: str, progress,
                    rules: ModelRules = DEFAULT_RULES, improve: bool = True,
                    prune: bool = True, dask: str | None = None) -> NetworkResult:
    """Schedule the scenario's network with inter-layer pipelining and/or save-writeback.

    After the beam, the segment-selection bound is computed (exact methods); with
    ``improve`` the chain that attains it is solved too and kept when it beats the beam's
    (``improve=False`` returns nn_dataflow's beam result, as the oracle tests compare).
    ``prune=False`` solves every segment the beam meets (the same result, slower). Its
    segment and floor searches run on ``solver.workers`` local processes, or on the Dask
    cluster at ``dask`` (``"local"``: one started here); the result does not depend on
    either."""
    if method == "analytical" and scenario.search.gbuf_sharing:
        raise NnsolveError(f"{scenario.source}: method analytical does not apply with "
                           "search.gbuf_sharing (nn_dataflow's solver forbids it too); use "
                           "cpsat or exhaustive")
    count = scenario.solver.workers or default_workers()
    with Workers(count, dask) as workers:
        return _solve_pipelined(scenario, method, progress, rules, improve, prune, workers)


def _solve_pipelined(scenario: Scenario, method: str, progress, rules: ModelRules,
                     improve: bool, prune: bool, workers: Workers) -> NetworkResult:
    start = _time.perf_counter()
    total = scenario.solver.total_time_limit_s
    deadline = start + total
    search = PipelineSearch(scenario, method, rules, deadline, workers)
    search.prune = prune
    # Under a time limit the beam gets 60% of it, the bound (and its chain) the rest.
    try:
        best = search.run(progress, start + 0.6 * total)
    except BeamInterrupted as stop:
        partial = None if stop.state is None else pipelined_result(
            scenario, method, search, stop.state, _time.perf_counter() - start)
        if partial is None:
            raise SolveInterrupted(None) from None
        raise interrupted(partial, scenario.network.layers) from None
    except BeamCut as cut:
        return _cut_result(scenario, method, search, cut.state, _time.perf_counter() - start)
    try:
        return _bound_and_improve(scenario, method, search, best, start, deadline, improve)
    except KeyboardInterrupt:
        result = pipelined_result(scenario, method, search, best,
                                  _time.perf_counter() - start)
        raise interrupted(result, scenario.network.layers) from None


def _cut_result(scenario: Scenario, method: str, search: PipelineSearch, state: State | None,
                seconds: float) -> NetworkResult:
    """The result of a search that the whole time limit cut before every layer had a
    schedule: the best schedule of the longest finished prefix (status timeout, no
    bound), or an error when not even the first layer has one."""
    layers = scenario.network.layers
    if state is None:
        raise NnsolveError(f"{scenario.source}: solver.total_time_limit_s "
                           f"({scenario.solver.total_time_limit_s:g} s) ran out before the "
                           "first layer had a pipelined schedule; raise it")
    result = pipelined_result(scenario, method, search, state, seconds)
    missing = [n for n in layers if n not in state.picks]
    shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8
                                      else "")
    result.notes.insert(0, f"time limit (solver.total_time_limit_s) reached: {len(missing)} of "
                           f"{len(layers)} layers not scheduled: {shown}; the totals cover "
                           "the scheduled layers only")
    result.override_status("timeout")
    return result


def _bound_and_improve(scenario: Scenario, method: str, search: PipelineSearch, best: State,
                       start: float, deadline: float, improve: bool) -> NetworkResult:
    """The segment-selection bound after the beam, and its chain when that is better."""
    beam_seconds = _time.perf_counter() - start
    bound = None
    if method != "analytical":
        bound = selection_bound(search, scenario.search.goal, deadline)
    search.late = True              # the beam is done: what follows shares what is left
    notes = [f"beam search {beam_seconds:.1f} s"]
    if search.pruned:
        notes[0] += f" ({search.pruned} segments skipped: their floors cannot enter the beam)"
    if bound is not None and bound.bound is None:
        why = "time limit reached" if not bound.complete else \
            bound.note or "no chain of segments has a bound"
        notes.append("segment-selection bound: " + why)
    elif bound is not None:
        shown = [" | ".join(" > ".join(e) for e in p.segment) for p in bound.chain[:12]]
        chain = " || ".join(shown) + (f" || ... ({len(bound.chain)} segments)"
                                      if len(bound.chain) > 12 else "")
        notes.append(f"segment-selection bound over {bound.segments} segments "
                     f"({bound.solves} layer bounds, {bound.seconds:.1f} s)"
                     + (f"; the bound's chain: {chain}" if bound.chain else ""))
        if bound.note:
            notes.append("segment-selection bound: " + bound.note)
        # The chain the bound picks is a schedule too: solve it, keep the better one.
        if improve and [p.segment for p in bound.chain] != [p.segment for p in best.plans] \
                and _time.perf_counter() < deadline:
            search.layers_left = len(bound.chain)
            search.beam_deadline = deadline
            try:
                other = search.follow(bound.chain)
            except OutOfTime:
                other = None
                search.timed_out = True
                notes.append("time limit reached while solving the bound's chain of segments")
            layers = len(scenario.network.layers)
            if other is not None and other.key(scenario.search.goal, layers) < \
                    best.key(scenario.search.goal, layers):
                notes.append("the bound's chain of segments, solved, beat the beam's "
                             f"({other.total_cost(layers):.6g} against "
                             f"{best.total_cost(layers):.6g}); it is the result")
                best = other
    result = pipelined_result(scenario, method, search, best, _time.perf_counter() - start)
    result.notes[1:1] = notes
    if bound is not None:
        result.pipeline_bound = bound.bound
    if search.timed_out or (bound is not None and not bound.complete):
        result.override_status("timeout")
    return result


def some_names(names, most: int = 6) -> str:
    """The first ``most`` names, comma-separated (and \", ...\" when there are more)."""
    names = list(names)
    return ", ".join(names[:most]) + (", ..." if len(names) > most else "")


def pipelined_result(scenario: Scenario, method: str, search: PipelineSearch, best: State,
                     seconds: float) -> NetworkResult:
    """The NetworkResult of a schedule (complete, or a prefix of the layer order after
    Ctrl-C): layers in network order, segments, totals."""
    layers = len(scenario.network.layers)
    outcomes = []
    for name, layer in scenario.network.layers.items():
        if name not in best.picks:      # an interrupted search's prefix
            continue
        pick = best.picks[name]
        c = pick.choice
        schedule = c.schedule
        region = pick.site.region
        schedule = replace(schedule, region=Region(region.origin, region.dims),
                           segment=pick.segment)
        # Optimal for its segment's constraint and ifmap layout: the layer's bound is its
        # value (what was proven); the choice's bound holds for any layout.
        shown = proven_bound(c.status, c.result, scenario.search.goal, c.bound)
        outcomes.append(LayerOutcome(name, layer, schedule, c.result, c.status, shown,
                                     c.seconds, c.min_energy, c.min_time, free_bound=c.bound,
                                     engine=c.engine))
    segments = []
    for plan, timing in zip(best.plans, best.timings, strict=True):
        segments.append(SegmentOutcome(
            plan.segment, tuple(Region(r.origin, r.dims) for r in plan.regions),
            timing.time, timing.critical_time, timing.node_time, timing.dram_time,
            timing.batch_groups, timing.overhead))
    total_time = best.total_time(layers)
    total_cost = best.total_cost(layers)
    static = best.sum_static - (best.sum_static * (1 - total_time / best.sum_time)
                                if best.sum_time else 0.0)
    inp = best.input_scheme or search.seeds[0]
    cut = [o.name for o in outcomes if o.status != "optimal"]
    proven = "each layer is optimal for its segment's constraint and ifmap layout" \
        if not cut else (f"each layer is optimal for its segment's constraint and ifmap "
                         f"layout but {len(cut)} ({some_names(cut)}; see their status)")
    notes = [f"pipelined search (beam width {scenario.solver.beam_width}): "
             f"{len(segments)} segments, {search.layer_solves} distinct layer solves; "
             + proven]
    if search.workers.tasks:
        notes.append(f"{search.workers.tasks} segment and floor searches ran on "
                     f"{search.workers.description}")
    return NetworkResult(scenario.name, method, scenario.search.goal, outcomes,
                         solve_seconds=seconds, notes=notes + search.notes,
                         input_partition=inp.to_partition(), segments=segments,
                         pipeline_totals=(total_cost, total_time, static))


