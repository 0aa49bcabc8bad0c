"""A partitioned layer scores as in nn_dataflow 2.1: per-node layer and descriptor, access
forwarding, NoC unit hops from the producers' layout, and the layer result assembly.

Random (layer, node array, memory placement, partition scheme, producer layout, blocking)
cases, with and without access forwarding (buffer sharing: test_bufshr_oracle.py)."""

from __future__ import annotations

import random
from collections import OrderedDict

import numpy as np
import pytest

from nnsolve.formats.network_yaml import load_zoo
from nnsolve.hardware.spec import Costs, Hardware
from nnsolve.model.evaluate import evaluate_blocking
from nnsolve.model.layer import Layer
from nnsolve.model.layout import DataLayout, ifmap_frng
from nnsolve.model.mapping import ModelRules
from nnsolve.model.partition import PartitionOptions, gen_partitions
from nnsolve.model.resources import LayerSite, SharingOptions, chip_regions
from tests import oracle
from tests.oracle import nd, nd_layout, nd_region, nd_scheme

RULES = ModelRules(eltwise_ifmaps="nn_dataflow")
LAYERS = sorted({lay for net in ("alex_net", "mlp_s", "resnet50")
                 for lay in load_zoo(net).layers.values()}, key=repr)
ARRAYS = [(2, 2), (4, 4), (2, 4), (4, 2), (3, 6)]
COSTS = [Costs(1, 200, 6, 2, 1, 10, 0), Costs(1, 200, 6, 2, 1, 50, 50)]


def _producer_layout(rng, layer: Layer, batch, memory):
    fake = Layer.conv(layer.in_channels, layer.in_channels, (layer.in_h, layer.in_w), 1)
    dims = (rng.choice([1, 2, 4]), rng.choice([1, 2, 4]))
    scheme = rng.choice(gen_partitions(fake, batch, dims, PartitionOptions(batch=True)))
    return DataLayout.of(ifmap_frng(batch, layer.in_channels, layer.in_h, layer.in_w), memory,
                         scheme)


def _case(rng, forwarding: bool) -> tuple[int, int]:
    while True:
        layer = rng.choice(LAYERS)
        dims, batch = rng.choice(ARRAYS), rng.choice([1, 4, 8])
        memory = rng.choice(["2D", "3D"])
        hw = Hardware(dims, (8, 8), rng.choice([32, 64, 256]),
                      rng.choice([8192, 16384, 65536]), memory=memory,
                      dram_bandwidth=rng.choice([np.inf, 16.0]))
        proc, mem = chip_regions(hw)
        schemes = gen_partitions(layer, batch, dims,
                                 PartitionOptions(batch=True, ifmaps=layer.is_conv))
        scheme = rng.choice(schemes)
        costs = rng.choice(COSTS)
        bypass = tuple(rng.random() < 0.5 for _ in range(3))
        site = LayerSite(layer, batch, hw, costs, bypass, proc, mem,
                         _producer_layout(rng, layer, batch, mem),
                         sharing=SharingOptions(forwarding=forwarding), rules=RULES)
        problem = site.problem(scheme)
        if problem.mapping.candidates:
            break
    index = rng.randrange(len(problem.mapping.candidates))
    nld = problem.mapping.candidates[index]

    part = nd_scheme(scheme)
    nd_layer = oracle.layer(layer)
    p_layer, p_batch, p_occ = part.part_layer(nd_layer, batch)
    strategy = nd.MapStrategyEyeriss(p_layer, p_batch, p_occ, nd.PhyDim2(*hw.pe_array))
    their_nld = list(strategy.gen_nested_loop_desc())[index]
    assert their_nld.loopcnt == nld.loopcnt
    res = nd.Resource(proc_region=nd_region(proc), dram_region=nd_region(mem),
                      src_data_region=nd_region(mem), dst_data_region=nd_region(mem),
                      dim_array=nd.PhyDim2(*hw.pe_array), size_gbuf=hw.gbuf_words,
                      size_regf=hw.regf_words, array_bus_width=hw.array_bus_width,
                      dram_bandwidth=hw.dram_bandwidth, no_time_mux=False)
    options = oracle.partition_options(forwarding=forwarding, bypass=bypass)
    sched = nd.Scheduling(nd_layer, batch, oracle.cost(costs), nd.MapStrategyEyeriss)
    ofmap_layout = nd_layout(site.ofmap_layout(scheme))
    unit = oracle.unit_nhops(nd_layer, batch, nd_region(proc), part,
                             tuple(nd_region(mem).iter_node()), nd_layout(site.ifmap_layout),
                             ofmap_layout, options)
    assert list(problem.env.unit_nhops) == list(unit)
    bufshr = nd.BufShrScheme(nd_region(proc), part, their_nld.data_loops)

    triples = [oracle.factorize3(n) for n in nld.loopcnt]
    factors, positions = [], []
    for _ in range(10):
        chosen = [rng.choice(tr[: max(1, len(tr) // 4)] if rng.random() < 0.5 else tr)
                  for tr in triples]
        factors.append(tuple(zip(*(c[::-1] for c in chosen), strict=True)))
        positions.append(tuple(tuple(rng.sample(range(3), 3)) for _ in range(2)))
    stats = evaluate_blocking(nld, np.array(factors), np.array(positions), problem.env)
    valid = 0
    for row, (bl_ts, bl_ords) in enumerate(zip(factors, positions, strict=True)):
        lbs = nd.LoopBlockingScheme(their_nld, bl_ts, bl_ords, res, bufshr, options)
        where = (layer, dims, memory, scheme, bl_ts, bl_ords)
        assert bool(stats.valid[row]) == lbs.is_valid(), where
        if not lbs.is_valid():
            continue
        valid += 1
        theirs = OrderedDict(sched._get_result(lbs, part, ofmap_layout, (0, 0, 0),
                                               unit).scheme)
        close = dict(rel=1e-9, abs=1e-300)
        assert stats.energy[row] == pytest.approx(theirs["cost"], **close), where
        assert stats.time[row] == theirs["time"], where
        assert stats.ops[row] == pytest.approx(theirs["ops"], **close), where
        assert stats.access_cost[row] == pytest.approx(theirs["cost_access"], **close), where
        assert stats.noc_cost[row] == pytest.approx(theirs["cost_noc"], **close), where
        assert stats.access[row] == pytest.approx(np.array(theirs["access"], float), **close)
        assert stats.noc_hops[row] == pytest.approx(np.array(theirs["total_nhops"], float))
        assert stats.fetch[row].tolist() == [list(f) for f in theirs["fetch"]], where
    return len(factors), valid


@pytest.mark.parametrize("forwarding", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_partitioned_layers_equal_nn_dataflow(seed, forwarding):
    rng = random.Random(seed * 2 + forwarding)
    compared = valid = 0
    for _ in range(40):
        n, v = _case(rng, forwarding)
        compared += n
        valid += v
    oracle.record("multi-node layer results", compared)
    assert valid > compared // 10
