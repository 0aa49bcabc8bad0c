"""Depthwise convolution (an extension beyond nn_dataflow): its shape, row-stationary mapping
and data reuse, checked against what it must equal.

A depthwise layer of C channels is C independent one-channel convolutions. Where both can be
expressed (no PE-array replication over channels, the channel loop outermost at DRAM level)
every one of its schedules costs exactly C times the same schedule of the one-channel
convolution, term by term; with channels side by side on the PE array it can only be cheaper.
"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnsolve.heuristics.exhaustive import scheme_space, search_layer
from nnsolve.model.dims import Data, Level, Loop
from nnsolve.model.evaluate import BlockingEnv, LayerProblem, evaluate_blocking
from nnsolve.model.layer import Layer
from nnsolve.model.mapping import map_layer
from tests.strategies import PICO, STATIC, UNIT


def test_shape():
    layer = Layer.dwconv(32, 56, 3, 2)
    assert (layer.in_channels, layer.out_channels, layer.in_h) == (32, 32, 113)
    assert layer.has_weights and not layer.is_conv
    assert layer.weight_words() == 32 * 9
    assert layer.ops(2) == 32 * 56 * 56 * 9 * 2
    assert layer.data_loops == ((Loop.I, Loop.O), (Loop.O, Loop.B), (Loop.O, Loop.B))
    with pytest.raises(ValueError, match="keeps the number of channels"):
        Layer("dwconv", 4, 8, 5, 5, 3, 3)


def test_mapping_replicates_over_channels():
    """On a 16x16 array a 3x3 filter over 7 ofmap rows replicates 5x2: 10 channels a pass,
    each with its own filter, ifmap and ofmap."""
    m = map_layer(Layer.dwconv(20, 7, 3), 1, (16, 16))
    (nld,) = m.candidates
    assert m.repl == (5, 2)
    assert nld.loopcnt == (1, 2, 1)
    assert nld.repl_counts == (10, 10, 10)
    conv = map_layer(Layer.conv(1, 1, 7, 3), 1, (16, 16)).candidates[0]
    # One channel's unit pass is a one-channel convolution's; ten of them side by side.
    for level in Level:
        for d in Data:
            assert nld.unit_access[level][d] == pytest.approx(10 * conv.unit_access[level][d])
    assert nld.unit_ops == 10 * conv.unit_ops and nld.unit_time == conv.unit_time


@st.composite
def envs(draw):
    return BlockingEnv(
        regf_words=draw(st.sampled_from([8, 16, 32, 64])),
        gbuf_words=draw(st.sampled_from([64, 256, 1024, 4096, 65536])),
        bypass=tuple(draw(st.booleans()) for _ in range(3)),
        costs=draw(st.sampled_from([UNIT, PICO, STATIC])))


def _lift(factors: np.ndarray, positions: np.ndarray, channels: int):
    """A one-channel convolution's schemes as depthwise schemes: the channel loop O runs
    ``channels`` times at DRAM level, outermost."""
    f = np.array(factors)
    f[:, 0, Loop.O] = channels
    p = np.array(positions)
    others = [lp for lp in Loop if lp != Loop.O]
    for row in p:
        inner = sorted(others, key=lambda lp: row[0, lp])
        row[0, inner[0]], row[0, inner[1]], row[0, Loop.O] = 0, 1, 2
    return f, p


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.integers(1, 3), st.integers(1, 2),
       st.sampled_from([1, 2, 4]), envs())
def test_channels_are_independent_one_channel_convolutions(channels, out, kernel, stride,
                                                           batch, env):
    """No replication (a PE array too small to place two channels): every scheme of the
    one-channel convolution, lifted, costs exactly C times as much in every term."""
    pe = (kernel, out)                             # room for one set only
    dw = map_layer(Layer.dwconv(channels, out, kernel, stride), batch, pe)
    one = map_layer(Layer.conv(1, 1, out, kernel, stride), batch, pe)
    assert len(dw.candidates) == len(one.candidates) == 1
    d_nld, c_nld = dw.candidates[0], one.candidates[0]
    assert d_nld.loopcnt == (1, channels, c_nld.loopcnt[Loop.B])
    space = scheme_space(c_nld, canonical=False)
    conv = evaluate_blocking(c_nld, space.factors, space.positions, env)
    lifted = evaluate_blocking(d_nld, *_lift(space.factors, space.positions, channels), env)
    assert np.array_equal(conv.valid, lifted.valid)
    ok = conv.valid
    assert np.array_equal(conv.fetch[ok], lifted.fetch[ok])
    assert np.array_equal(conv.stored[ok], lifted.stored[ok])
    assert np.array_equal(conv.size_gbuf[ok], lifted.size_gbuf[ok])
    assert np.array_equal(lifted.proc_time[ok], channels * conv.proc_time[ok])
    assert np.allclose(lifted.access[ok], channels * conv.access[ok], rtol=1e-12, atol=0)
    for field in ("energy", "access_cost", "op_cost", "static_cost"):
        assert np.allclose(getattr(lifted, field)[ok], channels * getattr(conv, field)[ok],
                           rtol=1e-12, atol=0)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.integers(1, 3), st.sampled_from([1, 2, 4]),
       envs(), st.sampled_from([(3, 3), (8, 8), (12, 14)]))
def test_solved_together_equals_solved_apart(channels, out, kernel, batch, env, pe):
    """C channels solved as one depthwise layer against C one-channel convolutions solved
    alone. Where the array places one channel at a time the optima are equal (the lift above
    is a bijection onto the depthwise schemes that matter); where it places several side by
    side (the mapper replicates whenever there is room, as for CONV) the passes are fewer, so
    the least time is at most C times the one-channel least time."""
    dw = LayerProblem(Layer.dwconv(channels, out, kernel), batch, pe, env)
    one = LayerProblem(Layer.conv(1, 1, out, kernel), batch, pe, env)
    assert bool(dw.mapping.candidates) == bool(one.mapping.candidates)
    if not one.mapping.candidates:
        return
    d, c = search_layer(dw), search_layer(one)
    if d.best is None or c.best is None:
        assert dw.mapping.repl != (1, 1) or (d.best is None) == (c.best is None)
        return
    if dw.mapping.repl == (1, 1):
        assert math.isclose(d.best.result.energy, channels * c.best.result.energy,
                            rel_tol=1e-12)
        assert math.isclose(d.min_time, channels * c.min_time, rel_tol=1e-12)
    else:
        assert d.min_time <= channels * c.min_time


def test_ifmaps_and_ofmaps_are_fetched_once():
    """No input-channel reduction and no ifmap sharing between channels: whatever the
    scheme, ifmaps and ofmaps move from DRAM exactly once; only weights are re-fetched
    (by the batch loop)."""
    env = BlockingEnv(64, 4096, (False, False, False), UNIT)
    nld = map_layer(Layer.dwconv(8, 6, 3), 4, (8, 8)).candidates[0]
    space = scheme_space(nld, canonical=False)
    stats = evaluate_blocking(nld, space.factors, space.positions, env)
    assert np.all(stats.fetch[:, :, Data.IFM] == 1)
    assert np.all(stats.fetch[:, :, Data.OFM] == 1)
    assert stats.fetch[:, :, Data.FIL].max() > 1
    # Weights are re-fetched only by batch iterations outside the channel loop.
    for f, p, fetch in itertools.islice(zip(space.factors, space.positions, stats.fetch,
                                            strict=True), 0, None, 97):
        refetch = f[0, Loop.B] > 1 and f[0, Loop.O] > 1 and p[0, Loop.B] > p[0, Loop.O]
        assert (fetch[0, Data.FIL] > 1) == bool(refetch)


@pytest.mark.parametrize("dims", [(2, 2), (1, 4), (4, 4), (2, 3)])
def test_partitions_split_channels_with_their_filters(dims):
    """Over a node region a depthwise layer splits like a pooling layer (no input-channel
    partitioning: a channel's ifmap goes only to the node computing that channel), and each
    part brings the filters of exactly its own channels."""
    from nnsolve.model.partition import (
        INPP,
        PartitionOptions,
        data_ranges,
        gen_partitions,
        part_layer,
    )

    layer, batch = Layer.dwconv(24, 12, 3, 1), 4
    schemes = gen_partitions(layer, batch, dims, PartitionOptions(hybrid=True, batch=True,
                                                                  ifmaps=True))
    assert schemes and all(s.size(INPP) == 1 for s in schemes)
    for scheme in schemes:
        node, _, occupancy = part_layer(layer, batch, scheme)
        assert node.kind == "dwconv" and 0 < occupancy <= 1
        filters = set()
        for pidx in scheme.indices:
            fil, (ifm,), ofm = data_ranges(layer, batch, scheme, pidx)
            assert fil == ((0, 1), ofm[1]) and ifm[1] == ofm[1] and ifm[0] == ofm[0]
            filters.add(fil)
        assert sum(hi - lo for _, (lo, hi) in filters) == layer.out_channels


def test_noc_parts_read_what_the_partition_says():
    """The NoC's array view of the parts (noc.scheme_parts) holds the same ranges as
    partition.data_ranges, and a part's weight hops count its own channels' filters."""
    from nnsolve.hardware.regions import NodeRegion
    from nnsolve.model.noc import filter_hops, scheme_parts
    from nnsolve.model.partition import PartitionOptions, data_ranges, gen_partitions

    layer, batch = Layer.dwconv(12, 6, 3, 1), 2
    region = NodeRegion((2, 2), (0, 0))
    for scheme in gen_partitions(layer, batch, (2, 2), PartitionOptions(batch=True)):
        parts = scheme_parts(layer, batch, region, scheme)
        ranges = [data_ranges(layer, batch, scheme, pidx) for pidx in scheme.indices]
        assert parts.filters.tolist() == [list(map(list, fil)) for fil, _, _ in ranges]
        assert parts.ifmaps[:, 0].tolist() == [list(map(list, ifm)) for _, (ifm,), _ in ranges]
        # Weights from a memory channel at the corner, one filter of kh x kw per channel.
        near = [abs(r) + abs(c) for r, c in parts.nodes.tolist()]
        words = [(fil[1][1] - fil[1][0]) * 9 for fil, _, _ in ranges]
        assert filter_hops(layer, batch, region, scheme, ((0, 0),), False) == \
            sum(w * n for w, n in zip(words, near, strict=True))
