"""Re-scoring a saved pipelined schedule: its segments, regions and layer schedules checked
against what the scenario's search considers, then scored layer by layer by the evaluator
(``nnsolve evaluate`` on a pipelined result)."""

from __future__ import annotations

from ..errors import did_you_mean, join
from ..model.mapping import DEFAULT_RULES, ModelRules
from ..model.resources import chip_regions
from ..model.sched_dag import sched_dag
from ..model.schedule import LayerSchedule, Region
from ..model.segment import Segment, candidate_segments
from ..results import NetworkResult
from ..scenario import Scenario
from .partition_choice import Candidate, PartitionChoice
from .pipeline import PipelineSearch, pipelined_result, some_names
from .schedule_check import Checker
from .segments import SegmentPlan, State, plan_segment


def evaluate_pipelined(scenario: Scenario, schedules: dict[str, LayerSchedule],
                       segments: list[Segment], input_partition=None,
                       rules: ModelRules = DEFAULT_RULES, check: Checker | None = None,
                       partial: bool = False) -> NetworkResult:
    """Re-score a pipelined schedule: its segments (spatial entries of temporal layers, in
    order), a schedule per layer and the network input's partition in DRAM; each checked
    by ``check`` (a ``schedule_check.Checker``) first."""
    check = check or Checker(scenario)
    search = PipelineSearch(scenario, "evaluate", rules)
    proc, memory = chip_regions(scenario.hardware)
    order = sched_dag(scenario.network).layer_order
    names = check.layer_names(order, schedules, partial)
    plans = check_segments(scenario, check, segments, names, proc, memory)
    state = State(input_scheme=check.input_partition(input_partition, search.seeds))
    for index, (seg, plan) in enumerate(zip(segments, plans, strict=True)):
        for sp, entry in enumerate(seg):
            for tm, name in enumerate(entry):
                site = search.sites(state, plan, sp, tm)[0]
                sched = schedules[name]
                region = Region(site.region.origin, site.region.dims)
                check.region(name, sched, region, index)
                scheme = check.partition(name, sched, site.schemes, site.region.dims)
                problem = site.problem(scheme)
                result = check.score(name, problem, sched)
                cand = Candidate(0, 0, scheme, site.node_problem(scheme),
                                 site).with_problem(problem)
                choice = PartitionChoice("feasible", cand, sched, result, None, None, None,
                                         0.0, 1, 0)
                state = search.extend_state(state, plan, sp, tm, choice, False)
    return pipelined_result(scenario, "evaluate", search, state, 0.0)


def check_segments(scenario: Scenario, check: Checker, segments: list[Segment],
                   names: list[str], proc, memory) -> list[SegmentPlan]:
    """The plans of saved segments, if they are segments the scenario's search considers,
    chained over ``names`` (the scheduled layers, in the scheduling DAG's order) and, where
    the file gives their regions, on the regions their node allocation gives."""
    s = scenario.search
    net = scenario.network
    allowed = set(candidate_segments(net, sched_dag(net), s.interlayer, s.save_writeback,
                                     s.pipeline_max_degree))
    saved = check.saved
    plans, done = [], 0
    for i, seg in enumerate(segments):
        where = check.path("segments", i)
        shown = [list(e) for e in seg]
        flat = [name for entry in seg for name in entry]
        expected = names[done:done + len(flat)]
        if flat != expected:
            unknown = [n for n in flat if n not in net.layers]
            if unknown:
                raise check.error(join(where, "layers"), f"{net.name} has no layer "
                                  f"{unknown[0]!r}{did_you_mean(unknown[0], net.layers)}")
            raise check.error(join(where, "layers"),
                              f"{shown}: the segments must hold the scheduled layers once "
                              f"each, in the scheduling order ({some_names(names)}); here "
                              f"{some_names(expected) or 'no more layers'} come next")
        done += len(flat)
        if seg not in allowed:
            raise check.error(join(where, "layers"),
                              f"{shown} is not a segment this scenario allows: segments are "
                              "ranges of the scheduling DAG's vertices, spatial (one entry "
                              "per vertex) with search.interlayer, temporal (one entry) with "
                              f"search.save_writeback, of at most search.pipeline_max_degree "
                              f"vertices (interlayer {str(s.interlayer).lower()}, "
                              f"save_writeback {str(s.save_writeback).lower()})")
        plan = plan_segment(scenario, seg, proc, memory)
        if isinstance(plan, str):
            raise check.error(join(where, "layers"), f"{shown} is not a valid segment here: "
                                                     f"{plan}")
        stated = None
        if saved is not None and saved.segment_regions is not None:
            stated = saved.segment_regions[i]
        if stated is not None:
            _check_regions(check, join(where, "regions"), stated, plan, proc)
        plans.append(plan)
    if done != len(names):
        raise check.error(check.path("segments"),
                          f"hold {done} of the {len(names)} scheduled layers; "
                          f"{some_names(names[done:])} are in no segment")
    return plans


def _check_regions(check: Checker, where: str, stated, plan: SegmentPlan, proc) -> None:
    """A segment's regions as a file gives them: inside the array, not overlapping, and
    the ones the segment's node allocation gives (search.region_allocation)."""
    h, w = proc.dims
    for k, region in enumerate(stated):
        r, c = region.origin
        if not (r < h and c < w) or region.dims[0] * region.dims[1] > h * w:
            raise check.error(join(where, k), f"origin {list(region.origin)} dims "
                                              f"{list(region.dims)} lies outside the "
                                              f"{h}x{w} node array")
    used = sum(rg.dims[0] * rg.dims[1] for rg in stated)
    origins = [rg.origin for rg in stated]
    if used > h * w or len(set(origins)) != len(origins):
        raise check.error(where, f"the regions overlap: {used} nodes in {len(stated)} "
                                 f"regions on a {h}x{w} node array")
    for k, (region, planned) in enumerate(zip(stated, plan.regions, strict=True)):
        want = Region(planned.origin, planned.dims)
        if region != want:
            raise check.error(join(where, k),
                              f"origin {list(region.origin)} dims {list(region.dims)} is not "
                              f"this entry's region: the segment's node allocation "
                              f"(search.region_allocation "
                              f"{check.scenario.search.region_allocation}) gives origin "
                              f"{list(want.origin)} dims {list(want.dims)}")
