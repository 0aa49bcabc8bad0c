"""Segment plans (a segment on its regions and constraints) and the beam's partial schedules."""

from __future__ import annotations

import itertools
import math
import time as _time
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..hardware.regions import NodeRegion
from ..model.layout import DataLayout
from ..model.partition import PartitionScheme
from ..model.resources import LayerSite, chip_regions
from ..model.sched_dag import sched_dag
from ..model.segment import (
    CandidateSegments,
    LayerPlace,
    Segment,
    SegmentFlow,
    allocate_nodes,
    layer_places,
    segment_flow,
)
from ..model.segment_constraints import SegmentConstraints, segment_constraints
from ..model.segment_timing import LayerTiming, SegmentTiming, top_groups
from ..scenario import Scenario
from .partition_choice import PartitionChoice

Index = tuple[int, int]


@dataclass(frozen=True)
class SegmentPlan:
    """A valid candidate segment: its data flow, sub-regions, layer places, constraints and
    the regions its forwarded inputs are read from (§3.8)."""

    segment: Segment
    flow: SegmentFlow
    regions: tuple[NodeRegion, ...]
    places: tuple[tuple[LayerPlace, ...], ...]
    constraints: SegmentConstraints
    forwarded: dict[Index, NodeRegion]

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(name for entry in self.segment for name in entry)


#: Why a segment of several layers with a grouped CONV is not valid: its groups run one
#: after another on its region, one group's schedule repeated, and a pipeline's fine-grained
#: forwarding and on-chip hand-overs would interleave the groups with the other layers.
GROUPED_ALONE = "a grouped convolution forms a segment of its own (its groups run in turn)"


def plan_segment(scenario: Scenario, seg: Segment, region: NodeRegion, memory: NodeRegion
                 ) -> SegmentPlan | str:
    """The plan of one candidate segment, or why it is not valid."""
    net = scenario.network
    s = scenario.search
    names = [name for entry in seg for name in entry]
    if len(names) > 1 and any(net.layers[name].groups > 1 for name in names):
        return GROUPED_ALONE
    flow = segment_flow(net, seg, s.interlayer_opt)
    if isinstance(flow, str):
        return flow
    if len(seg) == 1:
        regions = (region,)
    else:
        ops = [sum(net.layers[name].ops(1) for name in entry) for entry in seg]
        if s.region_allocation == "exact":
            from ..formulations.region_allocation import exact_allocation

            nodes = exact_allocation(ops, region.dims)
        else:
            nodes = allocate_nodes(ops, region.dims)
        if nodes is None:
            return "no node allocation keeps 95% utilisation"
        regions = tuple(region.allocate(nodes))
    cons = segment_constraints(net, seg, flow, scenario.batch, scenario.hardware.gbuf_words,
                               [r.size for r in regions], s.interlayer_opt)
    if cons is None:
        return "the fully buffered fmaps do not fit the buffers"
    places = layer_places(net, seg, flow, list(regions), memory)
    forwarded: dict[Index, NodeRegion] = {}
    for readers in flow.ifmap_forwarding.values():
        for index in readers[1:]:
            forwarded[index] = regions[readers[0][0]]
    for src, dsts in flow.ofmap_forwarding.items():
        for index in dsts:
            forwarded[index] = regions[src[0]]
    return SegmentPlan(seg, flow, regions, places, cons, forwarded)


class SegmentPlans:
    """The valid candidate segments of a scenario grouped by their last layer, planned on
    demand and kept: for each layer, in nn_dataflow's generation order (spatial form before
    temporal form of one vertex range). The search walks the layers in order and may stop
    early (its time limit); nothing is planned for layers it does not reach."""

    def __init__(self, scenario: Scenario):
        net = scenario.network
        s = scenario.search
        self.scenario = scenario
        dag = sched_dag(net)
        self.order: tuple[str, ...] = dag.layer_order
        self.proc, self.memory = chip_regions(scenario.hardware)
        self.candidates = CandidateSegments(net, dag, s.interlayer, s.save_writeback,
                                            s.pipeline_max_degree)
        self._plans: dict[str, list[SegmentPlan]] = {}
        self._pending: dict[str, Iterator[Segment]] = {}
        self._seen: set[Segment] = set()
        self.planned = 0                     # candidates planned (valid or not)
        self.stopped = False                 # the last ending_at stopped at its deadline

    def ending_at(self, last: str, single: bool = False, deadline: float = math.inf
                  ) -> Iterator[SegmentPlan]:
        """The plans ending at layer ``last``, planned as they are taken; ``single``: only
        the layer alone (the first plan). Planning more than the layer alone stops at
        ``deadline`` (``stopped`` then says the plans were cut short)."""
        self.stopped = False
        done = self._plans.setdefault(last, [])
        i = 0
        while True:
            while i < len(done):
                if single and len(done[i].layers) > 1:
                    return
                yield done[i]
                i += 1
            if single and done:
                return
            if done and _time.perf_counter() > deadline:
                self.stopped = True         # (the layer alone is always planned)
                return
            plan = self._next(last, deadline if done else math.inf)
            if plan is None:
                if self._pending.get(last) is not _DONE:
                    self.stopped = True
                return
            done.append(plan)

    def _next(self, last: str, deadline: float = math.inf) -> SegmentPlan | None:
        """Plan the next candidate ending at ``last`` that is valid (None: no more, or the
        deadline passed)."""
        pending = self._pending.get(last)
        if pending is None:
            pending = self._pending[last] = self.candidates.ending_at(last)
        if pending is _DONE:
            return None
        for seg in pending:
            if _time.perf_counter() > deadline:
                self._pending[last] = itertools.chain((seg,), pending)
                return None
            if seg in self._seen:
                continue
            self._seen.add(seg)
            self.planned += 1
            plan = plan_segment(self.scenario, seg, self.proc, self.memory)
            if isinstance(plan, SegmentPlan):
                return plan
        self._pending[last] = _DONE
        return None

    def all(self) -> dict[str, list[SegmentPlan]]:
        """Every layer's plans (planning what is left)."""
        return {last: list(self.ending_at(last)) for last in self.order}


_DONE: Iterator[Segment] = iter(())


def segment_plans(scenario: Scenario) -> tuple[tuple[str, ...], dict[str, list[SegmentPlan]]]:
    """The layer order and the valid segments grouped by their last layer, in nn_dataflow's
    generation order (spatial form before temporal form of one vertex range)."""
    plans = SegmentPlans(scenario)
    return plans.order, plans.all()


@dataclass(frozen=True)
class Pick:
    """One scheduled layer of a partial schedule."""

    name: str
    choice: PartitionChoice
    site: LayerSite
    segment: int
    timing: LayerTiming


@dataclass
class State:
    """A partial network schedule: its layers in scheduling order, where their ofmaps lie,
    the input's layout, its segments and the running sums of §4.1."""

    picks: dict[str, Pick] = field(default_factory=dict)
    ofmaps: dict[str, DataLayout] = field(default_factory=dict)
    input_scheme: PartitionScheme | None = None
    plans: list[SegmentPlan] = field(default_factory=list)
    timings: list[SegmentTiming] = field(default_factory=list)
    sum_cost: float = 0.0
    sum_static: float = 0.0
    sum_time: float = 0.0
    done_time: float = 0.0      # the times of every segment but the last, summed in order

    def extend(self, pick: Pick, plan: SegmentPlan, timing: SegmentTiming,
               input_scheme: PartitionScheme | None) -> State:
        """This state with one more layer (of ``plan``, the last or a new segment)."""
        new_segment = pick.segment == len(self.plans)
        r = pick.choice.result
        done = self.done_time + self.timings[-1].time if new_segment and self.timings \
            else self.done_time
        return State(
            {**self.picks, pick.name: pick},
            {**self.ofmaps, pick.name: pick.site.ofmap_layout(pick.choice.candidate.scheme)},
            input_scheme,
            self.plans + [plan] if new_segment else self.plans,
            (self.timings + [timing]) if new_segment else self.timings[:-1] + [timing],
            self.sum_cost + r.energy, self.sum_static + r.breakdown["static"],
            self.sum_time + r.time, done)

    def total_time(self, layers: int) -> float:
        if len(self.timings) == 1 and len(self.picks) == layers:
            return self.timings[0].critical_time
        if not self.timings:
            return 0
        return self.done_time + self.timings[-1].time     # sum(t.time for t in timings)

    def total_cost(self, layers: int) -> float:
        if self.sum_time == 0:
            return self.sum_cost
        return self.sum_cost - self.sum_static * (1 - self.total_time(layers) / self.sum_time)

    def key(self, goal: str, layers: int):
        cost, time = self.total_cost(layers), self.total_time(layers)
        if goal == "delay":
            return (time, cost)
        if goal == "edp":
            return (cost * time,)
        return (cost, time)


def layer_timing(choice: PartitionChoice, nodes: int) -> LayerTiming:
    """What the segment timing needs of a layer's chosen schedule."""
    r = choice.result
    blocking = choice.schedule.blocking
    tb, ti, to = top_groups(tuple(blocking.factors[0]), tuple(blocking.positions()[0]))
    return LayerTiming(r.time, max(r.proc_time, r.bus_time), r.dram_time, nodes, tb, ti, to)


def partial_segment(seg: Segment, names) -> Segment:
    return tuple(entry for entry in (tuple(n for n in e if n in names) for e in seg) if entry)
