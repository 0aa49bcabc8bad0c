"""A network on a node array without inter-layer pipelining: every layer uses the whole
array, one after another, with DRAM between layers.

Layers are solved in network order. Each layer's ifmaps lie in DRAM as its producers left
them (their partition schemes projected onto the memory region), so the layer's partition
and blocking are chosen exactly *for that layout*; the network input's layout is chosen with
the first layer that reads it (as nn_dataflow seeds its search with every input layout).
A layer's bound holds for any ifmap layout, so the layers' bounds add up to a proven bound
on the whole network.
"""

from __future__ import annotations

import time as _time
from dataclasses import replace

from ..errors import InfeasibleError, NnsolveError, TooLarge
from ..model.layout import DataLayout, ifmap_frng
from ..model.mapping import DEFAULT_RULES, ModelRules
from ..model.network import INPUT
from ..model.partition import PartitionOptions, PartitionScheme
from ..model.resources import LayerSite, SharingOptions, chip_regions, input_schemes
from ..model.schedule import Region
from ..results import LayerOutcome, NetworkResult, interrupted, proven_bound
from ..scenario import Scenario
from .layer_solve import infeasibility_reason, solver_threads
from .partition_choice import choose
from .schedule_check import Checker

NOTE = ("node array: each layer is optimal for the ifmap layout its producers left in DRAM "
        "(layouts follow the chosen schemes in network order); the bound holds for any "
        "layouts")


def partition_options(scenario: Scenario) -> PartitionOptions:
    s = scenario.search
    return PartitionOptions(hybrid=s.partition == "hybrid", batch=s.batch_partition,
                            ifmaps=s.ifmap_partition)


def sharing_options(scenario: Scenario) -> SharingOptions:
    return SharingOptions(forwarding=scenario.search.access_forwarding,
                          sharing=scenario.search.gbuf_sharing)


class Chip:
    """A scenario's chip as the network search sees it: the processing and memory regions,
    the partition and sharing options, and the network input's possible layouts."""

    def __init__(self, scenario: Scenario, rules: ModelRules) -> None:
        self.scenario = scenario
        self.rules = rules
        self.proc, self.memory = chip_regions(scenario.hardware)
        self.options = partition_options(scenario)
        self.sharing = sharing_options(scenario)
        net = scenario.network
        self.seeds = input_schemes(net.input.channels, net.input.h, net.input.w,
                                   scenario.batch, self.memory, self.options)

    def source_layout(self, name: str, scheme: PartitionScheme) -> DataLayout:
        """The network input (or an external input) ``name`` in DRAM, split by ``scheme``."""
        c, h, w = self.scenario.network.fmap(name)
        return DataLayout((ifmap_frng(self.scenario.batch, c, h, w),), (self.memory,),
                          (scheme,))

    def reads_input(self, name: str) -> bool:
        net = self.scenario.network
        return any(p == INPUT or p in net.external for p in net.prevs[name])

    def ifmap_layout(self, ofmaps: dict[str, DataLayout], name: str,
                     input_scheme: PartitionScheme | None) -> DataLayout:
        """Where a layer's ifmaps lie: its producers' ``ofmaps`` and the inputs, in order."""
        parts = [ofmaps[p] if p in ofmaps else self.source_layout(p, input_scheme)
                 for p in self.scenario.network.prevs[name]]
        return DataLayout.concat(parts)


class _Placement(Chip):
    """Where the network's data lie in DRAM as layers are scheduled."""

    def __init__(self, scenario: Scenario, rules: ModelRules) -> None:
        super().__init__(scenario, rules)
        self.input_scheme: PartitionScheme | None = None
        self.ofmaps: dict[str, DataLayout] = {}

    def sites(self, name: str) -> list[LayerSite]:
        """One site per possible input layout (several only until the input's is fixed)."""
        schemes = [self.input_scheme]
        if self.reads_input(name) and self.input_scheme is None:
            schemes = self.seeds
        sc = self.scenario
        layer = sc.network.layers[name]
        return [LayerSite(layer, sc.batch, sc.hardware, sc.costs, sc.search.bypass_mask,
                          self.proc, self.memory, self.ifmap_layout(self.ofmaps, name, s),
                          self.options, self.sharing, self.rules) for s in schemes]


def solve_node_array(scenario: Scenario, method: str, progress, rules: ModelRules = DEFAULT_RULES
                     ) -> NetworkResult:
    """Schedule every layer of the scenario on its node array with ``method``."""
    if method == "analytical" and scenario.search.gbuf_sharing:
        raise NnsolveError(f"{scenario.source}: method analytical does not apply with "
                           "search.gbuf_sharing (nn_dataflow's solver forbids it too); use "
                           "cpsat or exhaustive")
    solver = scenario.solver
    start = _time.perf_counter()
    deadline = start + solver.total_time_limit_s
    place = _Placement(scenario, rules)
    net = scenario.network
    progress.start(len(net.layers))
    outcomes, notes = [], [NOTE]
    try:
        _place_layers(scenario, method, place, deadline, outcomes, notes, progress)
        stopped = False
    except KeyboardInterrupt:
        stopped = True
    inp = place.input_scheme or place.seeds[0]
    result = NetworkResult(scenario.name, method, scenario.search.goal, outcomes,
                           solve_seconds=_time.perf_counter() - start, notes=notes,
                           input_partition=inp.to_partition())
    if stopped:
        raise interrupted(result, net.layers)
    return result


def _place_layers(scenario: Scenario, method: str, place: _Placement, deadline: float,
                  outcomes: list, notes: list, progress) -> None:
    """Solve the layers in network order, appending to ``outcomes`` and ``notes``."""
    solver = scenario.solver
    solved: dict[tuple, tuple] = {}
    for name, layer in scenario.network.layers.items():
        pins = scenario.search.pins_for(name)
        sites = place.sites(name)
        key = (layer, pins, tuple(s.ifmap_layout for s in sites))
        if key not in solved:
            limit = max(0.0, min(solver.time_limit_s, deadline - _time.perf_counter()))
            try:
                choice = choose(sites, method, scenario.search.goal, pins, limit,
                                solver_threads(solver.threads), solver.milp_solver)
            except TooLarge as exc:
                raise NnsolveError(f"layer {name}: {exc}") from None
            if choice.candidate is None:
                raise InfeasibleError(_reason(name, sites, choice.status))
            solved[key] = (choice, [f"{name}: {n}" for n in choice.notes])
            notes += solved[key][1]
        choice = solved[key][0]
        cand = choice.candidate
        if len(sites) > 1:
            place.input_scheme = place.seeds[cand.seed]
        place.ofmaps[name] = cand.site.ofmap_layout(cand.scheme)
        # The choice's bound holds for any ifmap layout (the network's bound adds those);
        # the layer shows what was proven for the layout it was solved for.
        shown = proven_bound(choice.status, choice.result, scenario.search.goal, choice.bound)
        outcomes.append(LayerOutcome(name, layer, choice.schedule, choice.result, choice.status,
                                     shown, choice.seconds, choice.min_energy,
                                     choice.min_time, free_bound=choice.bound,
                                     engine=choice.engine))
        progress.advance(name)


def _reason(name: str, sites: list[LayerSite], status: str) -> str:
    if status == "timeout":
        return f"layer {name}: the time limit came before any schedule was found"
    site = sites[0]
    scheme = site.schemes[0]
    detail = infeasibility_reason(name, site.problem(scheme))
    return (f"layer {name}: no partition scheme over {site.region.dims[0]}x"
            f"{site.region.dims[1]} nodes has a schedule that fits (e.g. {detail})")


def evaluate_node_array(scenario: Scenario, schedules, rules: ModelRules = DEFAULT_RULES,
                        input_partition=None, check: Checker | None = None,
                        partial: bool = False
                        ) -> NetworkResult:
    """Re-score saved schedules on the node array (ifmap layouts follow their schemes),
    each checked by ``check`` (a ``schedule_check.Checker``) first."""
    check = check or Checker(scenario)
    place = _Placement(scenario, rules)
    place.input_scheme = check.input_partition(input_partition, place.seeds)
    whole = Region(place.proc.origin, place.proc.dims)
    outcomes = []
    for name in check.layer_names(list(scenario.network.layers), schedules, partial):
        layer = scenario.network.layers[name]
        sched = schedules[name]
        check.region(name, sched, whole, 0)
        sched = replace(sched, region=whole)      # a file may leave the region out
        site = place.sites(name)[0]
        scheme = check.partition(name, sched, site.schemes, place.proc.dims)
        problem = site.problem(scheme)
        result = check.score(name, problem, sched)
        place.ofmaps[name] = site.ofmap_layout(scheme)
        outcomes.append(LayerOutcome(name, layer, sched, result, "feasible"))
    return NetworkResult(scenario.name, "evaluate", scenario.search.goal, outcomes,
                         input_partition=place.input_scheme.to_partition())
