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

import time as _time
from dataclasses import replace

from ..errors import InfeasibleError, NnsolveError, TooLarge
from ..model.dims import Loop
from ..model.evaluate import evaluate_layer
from ..model.layout import DataLayout
from ..model.mapping import DEFAULT_RULES, ModelRules
from ..model.partition import PartitionScheme
from ..model.pins import Pins, TopLoops
from ..model.resources import LayerSite, chip_regions
from ..model.schedule import LayerSchedule, Region
from ..model.segment import (
    Segment,
)
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
from .node_array import Chip
from .partition_choice import Candidate, PartitionChoice, candidates_of, choose
from .segment_bound import selection_bound
from .segments import (
    Pick,
    SegmentPlan,
    State,
    layer_timing,
    partial_segment,
    plan_segment,
    segment_plans,
)

# -- partial network schedules --------------------------------------------------------------










# -- the search -----------------------------------------------------------------------------


class PipelineSearch(Chip):
    """nn_dataflow's network search (§4.2) with exact per-layer solves; one per solve."""

    def __init__(self, scenario: Scenario, method: str, rules: ModelRules = DEFAULT_RULES
                 ) -> None:
        super().__init__(scenario, rules)
        self.method = method
        self.net = scenario.network
        self.goal = scenario.search.goal
        self.width = scenario.solver.beam_width
        self.solved: dict[tuple, PartitionChoice] = {}
        self.built: dict[tuple, list[Candidate]] = {}
        self.notes: list[str] = []
        self.timed_out = False          # the time limit cut the segment search short
        self.layer_solves = 0

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

    def floor_choice(self, sites: list[LayerSite]) -> PartitionChoice:
        """The least-energy schedule of a layer on ``sites`` by exhaustive search, whose
        bound and least time are the layer's floors (solved once per site tuple)."""
        key = ("floor", tuple(sites))
        if key not in self.solved:
            self.solved[key] = choose(sites, "exhaustive", "energy",
                                      candidates=self.candidates(sites))
            self.layer_solves += 1
        return self.solved[key]

    def _solve(self, name: str, sites: list[LayerSite], pins: Pins) -> PartitionChoice:
        key = (tuple(sites), pins)
        if key not in self.solved:
            solver = self.scenario.solver
            try:
                self.solved[key] = choose(sites, self.method, self.goal, pins,
                                          solver.time_limit_s, max(1, solver.workers),
                                          solver.milp_solver, self.candidates(sites))
            except TooLarge as exc:
                raise NnsolveError(f"layer {name}: {exc}") from None
            self.layer_solves += 1
            self.notes += [f"{name}: {n}" for n in self.solved[key].notes
                           if f"{name}: {n}" not in self.notes]
        return self.solved[key]

    def _add_layer(self, state: State, plan: SegmentPlan, sp: int, tm: int,
                   cons: LayerConstraint) -> State | None:
        name = plan.segment[sp][tm]
        sites = self.sites(state, plan, sp, tm)
        choice = self._solve(name, sites, self._pins(state, name, cons))
        if choice.candidate is None:
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
        timings = {n: p.timing for n, p in state.picks.items()}
        timings[name] = pick.timing
        present = set(plan.layers[:plan.layers.index(name) + 1])
        timing = segment_timing(self.net, partial_segment(plan.segment, present), timings)
        return state.extend(pick, plan, timing, input_scheme)

    # -- segments --

    def _segment(self, plan: SegmentPlan, prevs: list[State]) -> list[State]:
        """The best extensions of ``prevs`` by the segment (§4.2 segment_search)."""
        limit = self.scenario.search.pipeline_time_overhead
        layers = len(self.net.layers)
        frontier: list[tuple] = []
        found: list[State] = []
        for cons, hints in plan.constraints.enumerate(limit):
            if any(all(h >= f for h, f in zip(hints, fh, strict=True)) for fh in frontier):
                continue
            current = prevs
            for sp, entry in enumerate(plan.segment):
                for tm, _ in enumerate(entry):
                    nxt = [s for s in (self._add_layer(st, plan, sp, tm, cons[sp][tm])
                                       for st in current) if s is not None]
                    current = sorted(nxt, key=lambda s: s.key(self.goal, layers))[:self.width]
            keep = [s for s in current if all(t.overhead <= limit for t in s.timings)]
            if keep:
                frontier.append(hints)
            found += keep
        return sorted(found, key=lambda s: s.key(self.goal, layers))[:self.width]

    def follow(self, plans: list[SegmentPlan]) -> State | None:
        """The best schedule that takes exactly this chain of segments (None: none fits)."""
        current = [State()]
        for plan in plans:
            current = self._segment(plan, current)
            if not current:
                return None
        return current[0]

    def run(self, progress, deadline: float) -> State:
        """The best complete schedule (raises InfeasibleError when none exists)."""
        order, plans = segment_plans(self.scenario)
        tops: dict[str | None, list[State]] = {None: [State()]}
        progress.start(len(order))
        try:
            return self._run(order, plans, tops, progress, deadline)
        except KeyboardInterrupt:
            # The best schedule of the longest finished prefix of the layer order.
            prefix = 0
            while prefix < len(order) and tops.get(order[prefix]):
                prefix += 1
            raise BeamInterrupted(tops[order[prefix - 1]][0] if prefix else None) from None

    def _run(self, order, plans, tops, progress, deadline) -> State:
        layers = len(self.net.layers)
        late = False
        for i, last in enumerate(order):
            found: list[State] = []
            for plan in plans[last]:
                if late and len(plan.layers) > 1:
                    continue
                first = order.index(plan.segment[0][0])
                prevs = tops[None] if first == 0 else tops.get(order[first - 1], [])
                if prevs:
                    found += self._segment(plan, prevs)
                if not late and _time.perf_counter() > deadline:
                    late = True
                    self.timed_out = True
                    self.notes.append(f"time limit reached at layer {last}: the remaining "
                                      "layers were searched as single-layer segments only")
            tops[last] = sorted(found, key=lambda s: s.key(self.goal, layers))[:self.width]
            if not tops[last] and i == len(order) - 1:
                break
            progress.advance(last)
        best = tops.get(order[-1], [])
        if not best:
            raise InfeasibleError(f"{self.scenario.source}: no pipelined schedule of "
                                  f"{self.net.name} fits the hardware")
        return best[0]


class BeamInterrupted(KeyboardInterrupt):
    """Ctrl-C during the beam: the best state of the longest finished prefix, or None."""

    def __init__(self, state: State | None):
        super().__init__()
        self.state = state


def solve_pipelined(scenario: Scenario, method: str, progress,
                    rules: ModelRules = DEFAULT_RULES, improve: bool = True) -> NetworkResult:
    """Schedule the scenario's network with inter-layer pipelining and/or save-writeback.

    After the beam, the segment-selection bound is computed (exact methods); with
    ``improve`` the chain that attains it is solved too and kept when it beats the beam's
    (``improve=False`` returns nn_dataflow's beam result, as the oracle tests compare)."""
    if method == "analytical" and scenario.search.gbuf_sharing:
        raise NnsolveError(f"{scenario.source}: method analytical does not apply with "
                           "search.gbuf_sharing (nn_dataflow's solver forbids it too); use "
                           "cpsat or exhaustive")
    start = _time.perf_counter()
    deadline = start + scenario.solver.total_time_limit_s
    search = PipelineSearch(scenario, method, rules)
    # Under a time limit the beam gets 60% of it, the bound (and its chain) the rest.
    try:
        best = search.run(progress, start + 0.6 * scenario.solver.total_time_limit_s)
    except BeamInterrupted as stop:
        partial = None if stop.state is None else pipelined_result(
            scenario, method, search, stop.state, _time.perf_counter() - start)
        if partial is None:
            raise SolveInterrupted(None) from None
        raise interrupted(partial, scenario.network.layers) from None
    try:
        return _bound_and_improve(scenario, method, search, best, start, deadline, improve)
    except KeyboardInterrupt:
        result = pipelined_result(scenario, method, search, best,
                                  _time.perf_counter() - start)
        raise interrupted(result, scenario.network.layers) from None


def _bound_and_improve(scenario: Scenario, method: str, search: PipelineSearch, best: State,
                       start: float, deadline: float, improve: bool) -> NetworkResult:
    """The segment-selection bound after the beam, and its chain when that is better."""
    beam_seconds = _time.perf_counter() - start
    bound = None
    if method != "analytical":
        bound = selection_bound(search, scenario.search.goal, deadline)
    notes = [f"beam search {beam_seconds:.1f} s"]
    if bound is not None and bound.bound is None:
        notes.append("segment-selection bound: " + ("time limit reached" if not bound.complete
                                                    else "no chain of segments has a bound"))
    elif bound is not None:
        shown = [" | ".join(" > ".join(e) for e in p.segment) for p in bound.chain[:12]]
        chain = " || ".join(shown) + (f" || ... ({len(bound.chain)} segments)"
                                      if len(bound.chain) > 12 else "")
        notes.append(f"segment-selection bound over {bound.segments} segments "
                     f"({bound.solves} layer bounds, {bound.seconds:.1f} s); the bound's "
                     f"chain: {chain}")
        # The chain the bound picks is a schedule too: solve it, keep the better one.
        if improve and [p.segment for p in bound.chain] != [p.segment for p in best.plans] \
                and _time.perf_counter() < deadline:
            other = search.follow(bound.chain)
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


def evaluate_pipelined(scenario: Scenario, schedules: dict[str, LayerSchedule],
                       segments: list[Segment], input_partition=None,
                       rules: ModelRules = DEFAULT_RULES) -> NetworkResult:
    """Re-score a pipelined schedule: its segments (spatial entries of temporal layers, in
    order), a schedule per layer and the network input's partition in DRAM."""
    search = PipelineSearch(scenario, "evaluate", rules)
    proc, memory = chip_regions(scenario.hardware)
    placed = [name for seg in segments for entry in seg for name in entry]
    if sorted(placed) != sorted(scenario.network.layers):
        raise NnsolveError(f"{scenario.source}: the segments must hold every layer of "
                           f"{scenario.network.name} once")
    inp = (PartitionScheme.from_partition(input_partition) if input_partition is not None
           else search.seeds[0])
    state = State(input_scheme=inp)
    for seg in segments:
        plan = plan_segment(scenario, seg, proc, memory)
        if isinstance(plan, str):
            raise NnsolveError(f"segment {[list(e) for e in seg]}: {plan}")
        for sp, entry in enumerate(seg):
            for tm, name in enumerate(entry):
                site = search.sites(state, plan, sp, tm)[0]
                sched = schedules[name]
                scheme = PartitionScheme.from_partition(sched.partition)
                if scheme.dim() != site.region.dims:
                    raise NnsolveError(f"layer {name}: partition covers "
                                       f"{list(scheme.dim())} nodes, its region has "
                                       f"{list(site.region.dims)}")
                problem = site.problem(scheme)
                try:
                    result = evaluate_layer(problem, sched)
                except (ValueError, TooLarge) as exc:
                    raise NnsolveError(f"layer {name}: {exc}") from None
                if not result.valid:
                    raise NnsolveError(f"layer {name}: the schedule does not fit this "
                                       "hardware (buffer capacity or on-chip data rules)")
                cand = Candidate(0, 0, scheme, site.node_problem(scheme),
                                 site).with_problem(problem)
                choice = PartitionChoice("feasible", cand, sched, result, None, None, None,
                                         0.0, 1, 0)
                state = search.extend_state(state, plan, sp, tm, choice, False)
    return pipelined_result(scenario, "evaluate", search, state, 0.0)


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
                                     c.seconds, c.min_energy, c.min_time, free_bound=c.bound))
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
    notes = [f"pipelined search (beam width {scenario.solver.beam_width}): "
             f"{len(segments)} segments, {search.layer_solves} distinct layer solves; "
             "each layer is optimal for its segment's constraint and ifmap layout"]
    return NetworkResult(scenario.name, method, scenario.search.goal, outcomes,
                         solve_seconds=seconds, notes=notes + search.notes,
                         input_partition=inp.to_partition(), segments=segments,
                         pipeline_totals=(total_cost, total_time, static))


