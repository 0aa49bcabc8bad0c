"""nn_dataflow 2.1, the test oracle: build its objects from nnsolve's and read its numbers.

Only tests and benchmarks import this module (the nnsolve package never imports nn_dataflow).
It fails loudly, never skips, when the oracle is missing: install with the `test` extra.
"""

from __future__ import annotations

from collections import OrderedDict

import nn_dataflow.core as nd
from nn_dataflow import util as nd_util
from nn_dataflow.core import partition as nd_partition
from nn_dataflow.nns import import_network

from nnsolve.hardware.spec import Costs
from nnsolve.model.evaluate import BlockingEnv
from nnsolve.model.layer import Layer

ORIGIN = nd.PhyDim2(0, 0)


def layer(ours: Layer):
    """The nn_dataflow layer of an nnsolve layer."""
    if ours.kind == "conv":
        return nd.ConvLayer(ours.in_channels, ours.out_channels, (ours.out_h, ours.out_w),
                            (ours.kernel_h, ours.kernel_w), (ours.stride_h, ours.stride_w))
    if ours.kind == "fc":
        return nd.FCLayer(ours.in_channels, ours.out_channels, (ours.kernel_h, ours.kernel_w))
    if ours.kind == "pool":
        return nd.PoolingLayer(ours.out_channels, (ours.out_h, ours.out_w),
                               (ours.kernel_h, ours.kernel_w), (ours.stride_h, ours.stride_w))
    return nd.EltwiseLayer(ours.out_channels, (ours.out_h, ours.out_w), ours.inputs)


def trivial_partition():
    """The single-node partition scheme."""
    return nd.PartitionScheme(order=range(nd.ParallelEnum.NUM),
                              pdims=[nd.PhyDim2(1, 1)] * nd.ParallelEnum.NUM)


def node_layer(ours: Layer, batch: int):
    """(layer, batch, occupancy) as nn_dataflow's scheduler hands them to the mapper."""
    return trivial_partition().part_layer(layer(ours), batch)


def nlds(ours: Layer, batch: int, pe_array: tuple[int, int]):
    """nn_dataflow's nested-loop descriptors (raises AssertionError at utilisation <= 50%)."""
    p_layer, p_batch, p_occ = node_layer(ours, batch)
    strategy = nd.MapStrategyEyeriss(p_layer, p_batch, p_occ, nd.PhyDim2(*pe_array))
    return strategy, list(strategy.gen_nested_loop_desc())


def cost(costs: Costs):
    return nd.Cost(mac_op=costs.mac, mem_hier=costs.mem_hier, noc_hop=costs.noc_hop,
                   idl_unit=costs.idle)


def regions(src: str = "dram", dst: str = "dram"):
    """(proc, dram, src, dst) node regions for one node at the origin.

    ``src``/``dst``: "dram", "local" (the processing node itself) or "other" (another node).
    """
    proc = nd.NodeRegion(dim=nd.PhyDim2(1, 1), origin=ORIGIN, type=nd.NodeRegion.PROC)
    dram = nd.NodeRegion(dim=nd.PhyDim2(1, 1), origin=ORIGIN, type=nd.NodeRegion.DRAM)
    other = nd.NodeRegion(dim=nd.PhyDim2(1, 1), origin=nd.PhyDim2(0, 5), type=nd.NodeRegion.PROC)
    pick = {"dram": dram, "local": proc, "other": other}
    return proc, dram, pick[src], pick[dst]


def resource(env: BlockingEnv, pe_array: tuple[int, int], src: str = "dram", dst: str = "dram"):
    """An nn_dataflow Resource matching a single-node BlockingEnv."""
    proc, dram, src_region, dst_region = regions(src, dst)
    return nd.Resource(proc_region=proc, dram_region=dram, src_data_region=src_region,
                       dst_data_region=dst_region, dim_array=nd.PhyDim2(*pe_array),
                       size_gbuf=env.gbuf_words, size_regf=env.regf_words,
                       array_bus_width=env.array_bus_width, dram_bandwidth=env.dram_bandwidth,
                       no_time_mux=env.no_time_mux)


def env_for(regf: int, gbuf: int, bypass, costs: Costs, bus=float("inf"), dram_bw=float("inf"),
            src: str = "dram", dst: str = "dram", no_time_mux: bool = False) -> BlockingEnv:
    """A single-node BlockingEnv with the region flags of ``regions(src, dst)``."""
    return BlockingEnv(regf, gbuf, tuple(bypass), costs, 1, bus, dram_bw,
                       src_is_dram=src == "dram", src_is_local=src == "local",
                       dst_is_dram=dst == "dram", dst_is_local=dst == "local",
                       no_time_mux=no_time_mux)


class LayerOracle:
    """nn_dataflow's scoring of many blocking schemes of one layer, descriptor and resource:
    its LoopBlockingScheme, assembled into a layer result by its own Scheduling._get_result."""

    def __init__(self, ours: Layer, batch: int, res, costs: Costs, bypass):
        self.options = nd.Option(sw_gbuf_bypass=tuple(bypass))
        self.res = res
        self.cost = cost(costs)
        self.part = trivial_partition()
        nd_layer = layer(ours)
        self.sched = nd.Scheduling(nd_layer, batch, self.cost, nd.MapStrategyEyeriss)
        ofmap_range = nd.FmapRange(nd.FmapPosition(b=0, n=0, h=0, w=0),
                                   nd.FmapPosition(b=batch, n=nd_layer.nofm, h=nd_layer.hofm,
                                                   w=nd_layer.wofm))
        self.ofmap_layout = nd.DataLayout(
            frngs=(ofmap_range,), regions=(res.dst_data_region,),
            parts=(self.part.projection(res.dst_data_region, appl2frng=True),))
        self.bufshr = None

    def score(self, nld, bl_ts, bl_ords) -> dict | None:
        """The scheme's result dict (nn_dataflow's keys), or None when it is invalid."""
        if self.bufshr is None:
            self.bufshr = nd.BufShrScheme(self.res.proc_region, self.part, nld.data_loops)
        lbs = nd.LoopBlockingScheme(nld, bl_ts, bl_ords, self.res, self.bufshr, self.options)
        if not lbs.is_valid():
            return None
        result = self.sched._get_result(lbs, self.part, self.ofmap_layout, (0, 0, 0), [0, 0, 0])
        out = OrderedDict(result.scheme)
        out["stored_in_gbuf"] = list(lbs.stored_in_gbuf)
        return out


COMPARISONS: dict[str, int] = {}


def record(kind: str, count: int) -> None:
    """Count oracle comparisons by kind; the test session prints the totals."""
    COMPARISONS[kind] = COMPARISONS.get(kind, 0) + count


def factorize3(n: int) -> list[tuple[int, int, int]]:
    """All ordered triples with product n, in nn_dataflow's order (fast, by divisors)."""
    divs = [d for d in range(1, n + 1) if n % d == 0]
    return [(a, b, n // a // b) for a in divs for b in divs if (n // a) % b == 0]


__all__ = ["import_network", "nd", "nd_partition", "nd_util"]


# -- nn_dataflow's own searches ----------------------------------------------------------


def single_node_resource(hardware):
    """nn_dataflow's Resource for one node with DRAM at the same place (as its Eyeriss tests)."""
    proc, dram, src, dst = regions()
    return nd.Resource(proc_region=proc, dram_region=dram, src_data_region=src,
                       dst_data_region=dst, dim_array=nd.PhyDim2(*hardware.pe_array),
                       size_gbuf=hardware.gbuf_words, size_regf=hardware.regf_words,
                       array_bus_width=hardware.array_bus_width,
                       dram_bandwidth=hardware.dram_bandwidth, no_time_mux=False)


GOAL_CODES = {"energy": "e", "delay": "d", "edp": "ed"}


def options(bypass, solve: bool = False, goal: str = "energy", nprocesses: int = 1, ntops=1):
    return nd.Option(sw_gbuf_bypass=tuple(bypass), sw_solve_loopblocking=solve,
                     opt_goal=GOAL_CODES[goal], nprocesses=nprocesses, ntops=ntops)


def search_layer(ours: Layer, batch: int, hardware, costs: Costs, bypass, solve: bool = False,
                 goal: str = "energy", nprocesses: int = 1):
    """nn_dataflow's best schedule of one layer on one node (Scheduling.schedule_search):
    its scheme dict, or None when it finds nothing."""
    nd_layer = layer(ours)
    res = single_node_resource(hardware)
    inp = nd_layer.input_layer()
    ifmap_layout = nd.DataLayout(
        frngs=(nd.FmapRange((0, 0, 0, 0), nd.FmapPosition(b=batch, n=inp.nofm, h=inp.hofm,
                                                          w=inp.wofm)),),
        regions=(res.src_data_region,),
        parts=(trivial_partition().projection(res.src_data_region, appl2frng=True),))
    condition = nd.SchedulingCondition(resource=res, constraint=nd.SchedulingConstraint(),
                                       ifmap_layout=ifmap_layout, sched_seq=(0, 0, 0))
    sched = nd.Scheduling(nd_layer, batch, cost(costs), nd.MapStrategyEyeriss)
    tops = sched.schedule_search(condition, options(bypass, solve, goal, nprocesses))
    return dict(tops[0].scheme) if tops else None


def search_network(net_name: str, batch: int, hardware, costs: Costs, bypass,
                   solve: bool = False, goal: str = "energy", nprocesses: int = 1):
    """nn_dataflow's whole-network search on one node (its NNDataflow driver): the best
    NNDataflowScheme, or None."""
    network = import_network(net_name)
    res = single_node_resource(hardware)
    nnd = nd.NNDataflow(network, batch, res, cost(costs), nd.MapStrategyEyeriss)
    tops, _ = nnd.schedule_search(options(bypass, solve, goal, nprocesses))
    return tops[0] if tops else None


# -- multi-node: regions, partitions, layouts --------------------------------------------


def nd_region(region):
    """nn_dataflow's NodeRegion of an nnsolve NodeRegion."""
    kind = nd.NodeRegion.PROC if region.kind == "proc" else nd.NodeRegion.DRAM
    wtot, wbeg = region.fold
    return nd.NodeRegion(dim=nd.PhyDim2(*region.dims), origin=nd.PhyDim2(*region.origin),
                         dist=nd.PhyDim2(*region.dist), type=kind, wtot=wtot, wbeg=wbeg)


def nd_scheme(scheme):
    """nn_dataflow's PartitionScheme of an nnsolve PartitionScheme."""
    return nd.PartitionScheme(order=scheme.order, pdims=[nd.PhyDim2(*p) for p in scheme.pdims])


def nd_frng(frng):
    (b0, b1), (n0, n1), (h0, h1), (w0, w1) = frng
    return nd.FmapRange(nd.FmapPosition(b=b0, n=n0, h=h0, w=w0),
                        nd.FmapPosition(b=b1, n=n1, h=h1, w=w1))


def nd_layout(layout):
    """nn_dataflow's DataLayout of an nnsolve DataLayout."""
    return nd.DataLayout(frngs=tuple(nd_frng(f) for f in layout.frngs),
                         regions=tuple(nd_region(r) for r in layout.regions),
                         parts=tuple(nd_scheme(p) for p in layout.parts))


def partition_options(hybrid=True, batch=False, ifmaps=False, forwarding=False, sharing=False,
                      bypass=(True, True, True), goal="energy", ntops=1, solve=False):
    return nd.Option(partition_hybrid=hybrid, partition_batch=batch, partition_ifmaps=ifmaps,
                     hw_access_forwarding=forwarding, hw_gbuf_sharing=sharing,
                     sw_gbuf_bypass=tuple(bypass), opt_goal=GOAL_CODES[goal], ntops=ntops,
                     sw_solve_loopblocking=solve)


def clear_hop_caches() -> None:
    """Empty nn_dataflow's memoised hop counts. Its cache keys compare a dict's keys and its
    values as two separate sets, so a call whose node-to-range assignment permutes an earlier
    one's gets the earlier result (docs/divergences.md §5); tests compare fresh values."""
    for fn in (nd_partition.unit_nhops_to_proc_region, nd_partition._unit_nhops_to_fil,
               nd_partition._unit_nhops_to_ifm, nd_partition._unit_nhops_to_ofm):
        fn.cache_clear()


def unit_nhops(*args):
    """nn_dataflow's unit hops, computed afresh."""
    clear_hop_caches()
    return nd_partition.unit_nhops_to_proc_region(*args)


def nd_network(ours):
    """nn_dataflow's Network of an nnsolve Network (same names, order and connections)."""
    from nnsolve.model.network import INPUT

    net = nd.Network(ours.name)
    net.set_input_layer(nd.InputLayer(ours.input.channels, (ours.input.h, ours.input.w)))
    for name, fm in ours.external.items():
        net.add_ext(name, nd.InputLayer(fm.channels, (fm.h, fm.w)))
    for name, ours_layer in ours.layers.items():
        prevs = tuple(net.INPUT_LAYER_KEY if p == INPUT else p for p in ours.prevs[name])
        net.add(name, layer(ours_layer), prevs=prevs)
    return net


def interlayer(net):
    """nn_dataflow's InterLayerPipeline of a network (the resource does not matter for the
    scheduling DAG and the vertex segments)."""
    from nnsolve.hardware.spec import Hardware

    hw = Hardware((1, 1), (4, 4), 64, 1024)
    return nd.InterLayerPipeline(net, 1, single_node_resource(hw))


def vertex_segments(ilp) -> list[tuple[int, ...]]:
    return list(ilp._gen_vseg())


def _segment_resource(region_dims, gbuf_words=1024):
    """The chip a segment is placed on: a processing region and one DRAM node."""
    proc = nd.NodeRegion(dim=nd.PhyDim2(*region_dims), origin=ORIGIN,
                         type=nd.NodeRegion.PROC)
    dram = nd.NodeRegion(dim=nd.PhyDim2(1, 1), origin=ORIGIN, type=nd.NodeRegion.DRAM)
    return nd.Resource(proc_region=proc, dram_region=dram, src_data_region=dram,
                       dst_data_region=dram, dim_array=nd.PhyDim2(4, 4), size_gbuf=gbuf_words,
                       size_regf=64, array_bus_width=float("inf"),
                       dram_bandwidth=float("inf"), no_time_mux=False)


def full_segment(seg, net, batch, region_dims, gbuf_words, with_opt=True):
    """An nn_dataflow PipelineSegment built in full (constraints included)."""
    from nn_dataflow.core.pipeline_segment import PipelineSegment

    return PipelineSegment(seg, net, batch, _segment_resource(region_dims, gbuf_words),
                           max_util_drop=0.05, with_opt=with_opt)


def pipeline_segment(seg, net, region_dims=(16, 16), with_opt=True):
    """An nn_dataflow PipelineSegment with only its dependency and node-allocation steps
    run (its constructor would go on to the sympy constraints): (segment, deps valid)."""
    from nn_dataflow.core.pipeline_segment import PipelineSegment

    ps = object.__new__(PipelineSegment)
    ps.seg = seg
    ps.network = net
    ps.batch_size = 1
    ps.resource = _segment_resource(region_dims)
    ps.max_util_drop = 0.05
    ps.with_opt = with_opt
    return ps, ps._init_deps()


# -- whole-network search on a node array, pipelining included ---------------------------


def chip(scenario):
    """nn_dataflow's Resource for a scenario's chip, as its command-line tool builds it."""
    from nnsolve.model.resources import chip_regions

    hw = scenario.hardware
    proc, memory = chip_regions(hw)
    dram = nd_region(memory)
    return nd.Resource(proc_region=nd_region(proc), dram_region=dram, src_data_region=dram,
                       dst_data_region=dram, dim_array=nd.PhyDim2(*hw.pe_array),
                       size_gbuf=hw.gbuf_words, size_regf=hw.regf_words,
                       array_bus_width=hw.array_bus_width, dram_bandwidth=hw.dram_bandwidth,
                       no_time_mux=False)


def scenario_options(scenario, nprocesses: int = 1):
    """nn_dataflow's Option for a scenario's search fields."""
    s = scenario.search
    bypass = [True] * 3
    for cat, value in zip((nd.DataCategoryEnum.FIL, nd.DataCategoryEnum.IFM,
                           nd.DataCategoryEnum.OFM), s.bypass_mask, strict=True):
        bypass[cat] = bool(value)
    return nd.Option(sw_gbuf_bypass=tuple(bypass), partition_hybrid=s.partition == "hybrid",
                     partition_batch=s.batch_partition, partition_ifmaps=s.ifmap_partition,
                     hw_access_forwarding=s.access_forwarding, hw_gbuf_sharing=s.gbuf_sharing,
                     partition_interlayer=s.interlayer, hw_gbuf_save_writeback=s.save_writeback,
                     layer_pipeline_time_ovhd=s.pipeline_time_overhead,
                     layer_pipeline_max_degree=s.pipeline_max_degree,
                     layer_pipeline_opt=s.interlayer_opt, opt_goal=GOAL_CODES[s.goal],
                     ntops=scenario.solver.beam_width, nprocesses=nprocesses)


def search_scenario(scenario, nprocesses: int = 1):
    """nn_dataflow's whole-network search of a scenario (its network converted with
    ``nd_network``): the best NNDataflowScheme, or None."""
    nnd = nd.NNDataflow(nd_network(scenario.network), scenario.batch, chip(scenario),
                        cost(scenario.costs), nd.MapStrategyEyeriss)
    tops, _ = nnd.schedule_search(scenario_options(scenario, nprocesses))
    return tops[0] if tops else None


def replay(scenario, top, rules):
    """nn_dataflow's network schedule ``top`` in nnsolve's terms: (schedules by layer,
    segments, input partition). A layer's mapping candidate is the one with nn_dataflow's
    loop counts and unit sizes."""
    from nnsolve.model.mapping import map_layer
    from nnsolve.model.partition import PartitionScheme, part_layer
    from nnsolve.model.schedule import Blocking, LayerSchedule

    def scheme_of(part):
        return PartitionScheme(tuple(part.order), tuple((d.h, d.w) for d in part.pdims))

    schedules, seats = {}, {}
    for name, r in top.res_dict.items():
        s = r.scheme
        scheme = scheme_of(s["part"])
        layer = scenario.network.layers[name]
        node_layer, node_batch, occupancy = part_layer(layer, scenario.batch, scheme)
        cands = map_layer(node_layer, node_batch, scenario.hardware.pe_array, occupancy,
                          rules).candidates
        tvals = [list(level) for level in s["tvals"]]
        loopcnt = tuple(tvals[0][lp] * tvals[1][lp] * tvals[2][lp] for lp in range(3))
        units = [tuple(u) for u in s["unit_size"] if u]
        index = next(i for i, c in enumerate(cands)
                     if tuple(c.loopcnt) == loopcnt
                     and [tuple(c.usize_gbuf), tuple(c.usize_regf)] == units)
        blocking = Blocking.from_positions(tvals, [list(o) for o in s["orders"]])
        schedules[name] = LayerSchedule(index, blocking, scheme.to_partition())
        seats[name] = tuple(r.sched_seq)
    segments = []
    for name, (seg, sp, _) in sorted(seats.items(), key=lambda kv: kv[1]):
        while len(segments) <= seg:
            segments.append([])
        while len(segments[seg]) <= sp:
            segments[seg].append([])
        segments[seg][sp].append(name)
    segs = [tuple(tuple(entry) for entry in seg) for seg in segments]
    inp = scheme_of(top.input_layout.parts[0]).to_partition()
    return schedules, segs, inp
