"""Regions, partition schemes, data layouts and NoC unit hops equal nn_dataflow 2.1's."""

from __future__ import annotations

import itertools
import random

import pytest

from nnsolve.hardware.regions import NodeRegion, memory_region, processing_region
from nnsolve.model.layer import Layer
from nnsolve.model.layout import DataLayout, ifmap_frng
from nnsolve.model.noc import unit_nhops
from nnsolve.model.partition import (
    PartitionOptions,
    PartitionScheme,
    data_ranges,
    gen_partitions,
    part_layer,
)
from tests import oracle
from tests.oracle import nd, nd_layout, nd_partition, nd_region, nd_scheme, record

LAYERS = {
    "conv": Layer.conv(64, 128, 28, 3),
    "conv_s2": Layer.conv(3, 96, 55, 11, 4),
    "conv_odd": Layer.conv(30, 50, 13, 3),
    "fc": Layer.fc(256, 1000, 6),
    "fc_small": Layer.fc(12, 10, 1),
    "pool": Layer.pool(64, 27, 3, 2),
    "eltwise": Layer.eltwise(32, 14, 2),
}
ARRAYS = [(2, 2), (4, 4), (2, 4), (4, 2), (1, 4), (3, 6)]
OPTION_SETS = [PartitionOptions(hybrid=False), PartitionOptions(),
               PartitionOptions(batch=True), PartitionOptions(batch=True, ifmaps=True)]


def nd_opts(o: PartitionOptions):
    return oracle.partition_options(o.hybrid, o.batch, o.ifmaps)


def test_rel2abs_and_allocate_match():
    cases = [NodeRegion((4, 8), (1, 3), wtot=3), NodeRegion((4, 8), (1, 3), wtot=3, wbeg=1),
             NodeRegion((4, 8), (1, 3), wtot=4, wbeg=-2), NodeRegion((4, 8), (1, 3),
                                                                     dist=(5, 3))]
    n = 0
    for region in cases:
        theirs = nd_region(region)
        for h, w in itertools.product(range(4), range(8)):
            assert region.rel2abs((h, w)) == tuple(theirs.rel2abs(nd.PhyDim2(h, w)))
            n += 1
    parent = NodeRegion((4, 4), (1, 3))
    for counts in ([2, 3, 3, 2, 4, 2], [5, 11], [2, 4, 4, 2, 4], [16], [3, 3]):
        ours = parent.allocate(counts)
        theirs = nd_region(parent).allocate(counts)
        assert [nd_region(r) for r in ours] == list(theirs)
        n += 1
    record("regions", n)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gen_partitions_match(name):
    """Square arrays: the same schemes in the same order. Non-square: nn_dataflow's list is
    ours with the transposed-twin filter on; ours adds exactly the schemes it drops."""
    layer = LAYERS[name]
    n = 0
    for dims, opts, batch in itertools.product(ARRAYS, OPTION_SETS, (1, 8)):
        theirs = [PartitionScheme(p.order, tuple(tuple(d) for d in p.pdims)) for p in
                  nd_partition.gen_partition(oracle.layer(layer), batch, nd.PhyDim2(*dims),
                                             nd_opts(opts), guaranteed=True)]
        faithful = gen_partitions(layer, batch, dims, PartitionOptions(
            opts.hybrid, opts.batch, opts.ifmaps, square_dedup=True))
        assert faithful == theirs
        ours = gen_partitions(layer, batch, dims, opts)
        if dims[0] == dims[1]:
            assert ours == theirs
        else:
            assert set(theirs) <= set(ours)
            for extra in set(ours) - set(theirs):
                hs = tuple(h for h, _ in extra.pdims)
                ws = tuple(w for _, w in extra.pdims)
                assert hs > ws and extra.size(1) == 1
        n += 1
    record("partition lists", n)


def test_non_square_keeps_dropped_scheme():
    """network spec §2.4: on 4x8 nodes OUTP (4,1) + BATP (1,8) is lost by nn_dataflow."""
    layer = LAYERS["conv"]
    opts = PartitionOptions(batch=True)
    wanted = ((4, 1), (1, 1), (1, 8), (1, 1))
    ours = {s.pdims for s in gen_partitions(layer, 8, (4, 8), opts)}
    theirs = {tuple(tuple(d) for d in p.pdims) for p in nd_partition.gen_partition(
        oracle.layer(layer), 8, nd.PhyDim2(4, 8), nd_opts(opts))}
    assert wanted in ours and wanted not in theirs


def _schemes(rng, layer, batch, dims, k=6):
    schemes = gen_partitions(layer, batch, dims, PartitionOptions(batch=True,
                                                                  ifmaps=layer.is_conv))
    return rng.sample(schemes, min(k, len(schemes)))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_part_layer_ranges_projection_match(name):
    layer = LAYERS[name]
    rng = random.Random(name)
    n = 0
    for dims in ARRAYS:
        region = processing_region(dims)
        for scheme in _schemes(rng, layer, 8, dims):
            theirs = nd_scheme(scheme)
            p_layer, p_batch, p_occ = theirs.part_layer(oracle.layer(layer), 8)
            node, node_batch, occ = part_layer(layer, 8, scheme)
            assert node_batch == p_batch and occ == pytest.approx(p_occ, rel=1e-15)
            assert (node.in_channels if layer.is_conv else node.out_channels) == p_layer.nifm
            assert (node.out_channels, node.out_h, node.out_w) == (p_layer.nofm, p_layer.hofm,
                                                                    p_layer.wofm)
            for pidx in scheme.indices:
                nd_pidx = tuple(nd.PhyDim2(*p) for p in pidx)
                fil, ifm, ofm = nd_partition.proc_data_range(oracle.layer(layer), 8, theirs,
                                                             nd_pidx)
                ours_fil, ours_ifm, ours_ofm = data_ranges(layer, 8, scheme, pidx)
                assert ours_ofm == tuple(ofm.beg_end("b", "n", "h", "w"))
                assert ours_ifm == (tuple(ifm.beg_end("b", "n", "h", "w")),)
                if layer.is_conv:
                    assert ours_fil == (tuple(fil[0]), tuple(fil[1]))
                assert scheme.coordinate(region, pidx) == tuple(
                    theirs.coordinate(nd_region(region), nd_pidx))
                n += 1
            for target in ((2, 2), (4, 4), (1, 3), (4, 30), (16, 16)):
                for fmap in (False, True):
                    proj = scheme.projection(NodeRegion(target), fmap)
                    assert nd_scheme(proj) == theirs.projection(
                        nd_region(NodeRegion(target)), appl2frng=fmap)
                    n += 1
    record("partition ranges", n)


def _layout_of_random_producer(rng, channels, h, w, batch, memory):
    """A DRAM layout as a producer with a random scheme would leave it."""
    fake = Layer.conv(channels, channels, (h, w), 1)
    prod_dims = (rng.choice([1, 2, 4]), rng.choice([1, 2, 4]))
    schemes = gen_partitions(fake, batch, prod_dims, PartitionOptions(batch=True))
    return DataLayout.of(ifmap_frng(batch, channels, h, w), memory, rng.choice(schemes))


@pytest.mark.parametrize("memory", ["2D", "3D"])
@pytest.mark.parametrize("forwarding", [False, True])
def test_unit_nhops_match(memory, forwarding):
    rng = random.Random(f"{memory}{forwarding}")
    n = 0
    for name, layer in sorted(LAYERS.items()):
        if layer.kind == "eltwise":
            continue   # its input window is nn_dataflow's quirk; covered below
        batch = 8
        for dims in ((2, 2), (4, 4), (2, 4), (3, 6)):
            region = processing_region(dims)
            mem = memory_region(dims, memory)
            for scheme in _schemes(rng, layer, batch, dims, k=4):
                lay_in = _layout_of_random_producer(rng, layer.in_channels, layer.in_h,
                                                    layer.in_w, batch, mem)
                out_frng = ifmap_frng(batch, layer.out_channels, layer.out_h, layer.out_w)
                lay_out = DataLayout.of(out_frng, mem, scheme)
                ours = unit_nhops(layer, batch, region, scheme, mem.nodes, lay_in, lay_out,
                                  forwarding)
                theirs = oracle.unit_nhops(
                    oracle.layer(layer), batch, nd_region(region), nd_scheme(scheme),
                    tuple(nd_region(mem).iter_node()), nd_layout(lay_in), nd_layout(lay_out),
                    oracle.partition_options(forwarding=forwarding))
                assert list(ours) == list(theirs), (name, dims, scheme)
                n += 1
    record("unit hops", n)


def test_eltwise_unit_nhops_nn_dataflow_window():
    """With nn_dataflow's reading of element-wise inputs (a window of the concatenation)."""
    layer = LAYERS["eltwise"]
    rng = random.Random(3)
    n = 0
    for dims in ((2, 2), (4, 4)):
        region, mem = processing_region(dims), memory_region(dims, "2D")
        for scheme in _schemes(rng, layer, 4, dims):
            halves = [_layout_of_random_producer(rng, 32, 14, 14, 4, mem) for _ in range(2)]
            lay_in = DataLayout.concat(halves)
            lay_out = DataLayout.of(ifmap_frng(4, 32, 14, 14), mem, scheme)
            ours = unit_nhops(layer, 4, region, scheme, mem.nodes, lay_in, lay_out, False)
            theirs = oracle.unit_nhops(
                oracle.layer(layer), 4, nd_region(region), nd_scheme(scheme),
                tuple(nd_region(mem).iter_node()), nd_layout(lay_in), nd_layout(lay_out),
                oracle.partition_options())
            assert list(ours) == list(theirs)
            n += 1
    record("unit hops", n)


def test_nn_dataflow_hop_cache_collision():
    """Pins docs/divergences.md §5: nn_dataflow's memoised filter hops return an earlier
    call's value when the node-to-range assignment is a permutation of it."""
    layer = LAYERS["fc"]
    region, mem = processing_region((3, 6)), memory_region((3, 6), "2D")
    scheme = PartitionScheme((1, 2, 0, 3), ((3, 3), (1, 1), (1, 1), (1, 2)))
    twin = PartitionScheme((2, 1, 3, 0), ((3, 3), (1, 1), (1, 1), (1, 2)))

    def call(s):
        lay_in = DataLayout.of(ifmap_frng(8, 256, 6, 6), mem, PartitionScheme.trivial())
        lay_out = DataLayout.of(ifmap_frng(8, 1000, 1, 1), mem, s)
        ours = unit_nhops(layer, 8, region, s, mem.nodes, lay_in, lay_out, False)
        theirs = nd_partition.unit_nhops_to_proc_region(
            oracle.layer(layer), 8, nd_region(region), nd_scheme(s),
            tuple(nd_region(mem).iter_node()), nd_layout(lay_in), nd_layout(lay_out),
            oracle.partition_options())
        return ours[0], theirs[0]

    oracle.clear_hop_caches()
    ours_twin, theirs_twin = call(twin)
    ours, theirs = call(scheme)
    assert ours_twin == theirs_twin and ours != ours_twin
    assert theirs == theirs_twin   # the stale value
