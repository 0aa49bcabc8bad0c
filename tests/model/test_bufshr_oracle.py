"""Access forwarding and global-buffer sharing equal nn_dataflow 2.1's.

* Sharing groups (dims, neighbour spacing) of every partition scheme of a few layers on
  2x2, 4x4, 2x4, 4x2 and 3x6 regions, and of nn_dataflow's own unit-test schemes, against
  its ``BufShrScheme``.
* The rotation and wide-fetch hop kernels against its ``nhops_rotate_all`` and
  ``nhops_wide_fetch_once`` for every subgroup size, unit count and many widths, and the
  hand-computed values of its unit tests (network spec §2.8).
* Random partitioned layers (random schemes of ``gen_partitions`` with batch and ifmap
  partitioning, the per-node layer and its row-stationary descriptors) with random loop
  blockings and bypass permissions, scored by ``evaluate_blocking`` with ``env.sharing`` and
  by its ``LoopBlockingScheme(..., BufShrScheme, Option(hw_gbuf_sharing=True))`` assembled
  by ``Scheduling._get_result`` (random unit NoC hops stand in for the memory placement,
  which only enters through them): validity, every ``bufshr_*`` field, the reordered buffer
  level, ``get_noc_access()``, buffer sizes, accesses, NoC hops and costs.
* The same with plain access forwarding (``hw_access_forwarding``), where nnsolve only sets
  ``env.accfwd`` to the group sizes.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import OrderedDict

import numpy as np
import pytest

from nnsolve.hardware.regions import NodeRegion
from nnsolve.hardware.spec import Costs
from nnsolve.model.bufshr import (
    ShareGroups,
    rotation_hops,
    share_groups,
    subgroup_shape,
    wide_fetch_hops,
)
from nnsolve.model.dims import Data
from nnsolve.model.evaluate import BlockingEnv, add_sharing_noc, evaluate_blocking
from nnsolve.model.layer import Layer
from nnsolve.model.mapping import ModelRules, map_layer
from nnsolve.model.partition import PartitionOptions, PartitionScheme, gen_partitions, part_layer
from tests import oracle
from tests.oracle import nd, nd_scheme, record

LAYERS = [Layer.conv(64, 128, 28, 3), Layer.conv(30, 50, 13, 3), Layer.conv(96, 256, 27, 5),
          Layer.conv(16, 32, 8, 3), Layer.fc(256, 1000, 6), Layer.fc(512, 256, 1),
          Layer.pool(64, 27, 3, 2)]
REGIONS = [(2, 2), (4, 4), (2, 4), (4, 2)]
OPTIONS = [PartitionOptions(batch=True, ifmaps=True), PartitionOptions(ifmaps=True),
           PartitionOptions(batch=True)]
ARRAYS = [(8, 8), (12, 14), (16, 16)]
BATCHES = [1, 2, 4, 8]
# (regf words per PE, gbuf words per node): tight to roomy, so that schemes fail, fit only
# when spread over the group, or leave room to shrink the subgroups.
CAPACITIES = [(64, 512), (128, 2048), (256, 8192), (512, 32768), (128, 131072)]
COSTS = [Costs(1, 200, 6, 2, 1, 10, 50), Costs(2e-12, 460e-12, 15e-12, 4e-12, 1e-12,
                                               7e-13, 30e-3 / 200e6)]
RULES = ModelRules(eltwise_ifmaps="nn_dataflow")
ORIGIN = nd.PhyDim2(0, 0)


def _nd_region(dims) -> nd.NodeRegion:
    return nd.NodeRegion(dim=nd.PhyDim2(*dims), origin=ORIGIN, type=nd.NodeRegion.PROC)


def _nd_groups(dims, scheme: PartitionScheme, layer: Layer):
    return nd.BufShrScheme(_nd_region(dims), nd_scheme(scheme), oracle.layer(layer).data_loops())


def _assert_groups_equal(ours: ShareGroups, theirs, where) -> None:
    for d in Data:
        assert ours.dims[d] == tuple(theirs.dims[d]), where
        assert ours.nbr_dists[d] == tuple(theirs.nbr_dists[d]), where
        assert ours.size(d) == theirs.size(d), where


# -- sharing groups and kernels ------------------------------------------------------------


def _all_schemes():
    """(region dims, layer, scheme) over the layers, regions and options (deduplicated)."""
    seen = set()
    for dims, layer, opts in itertools.product([*REGIONS, (3, 6)], LAYERS, OPTIONS):
        for batch in (1, 8):
            for scheme in gen_partitions(layer, batch, dims, opts):
                key = (dims, layer, scheme)
                if key not in seen:
                    seen.add(key)
                    yield key


def test_share_groups_equal_nn_dataflow():
    n = 0
    for dims, layer, scheme in random.Random(3).sample(list(_all_schemes()), 500):
        ours = share_groups(NodeRegion(dims), scheme, layer.data_loops)
        _assert_groups_equal(ours, _nd_groups(dims, scheme, layer), (dims, layer, scheme))
        n += 1
    # nn_dataflow's unit-test schemes (CONV data loops), on regions of their own size, and
    # adjacent / separated OFMP and BATP in both nestings.
    batp, outp, ofmp, inpp = 2, 0, 1, 3
    small = ((2, 1), (1, 2), (3, 1), (1, 3))
    cases = [((batp, outp, ofmp, inpp), ((2, 3), (3, 1), (1, 5), (5, 2))),
             ((0, 1, 2, 3), ((2, 2), (3, 1), (1, 2), (1, 1))),
             ((0, 1, 2, 3), ((1, 6), (1, 2), (4, 1), (3, 5))),
             ((inpp, outp, batp, ofmp), small), ((inpp, ofmp, batp, outp), small),
             ((batp, outp, inpp, ofmp), small), ((ofmp, outp, inpp, batp), small)]
    conv = Layer.conv(8, 8, 8, 3)
    for order, pdims in cases:
        scheme = PartitionScheme(order, pdims)
        dims = scheme.dim()
        ours = share_groups(NodeRegion(dims), scheme, conv.data_loops)
        _assert_groups_equal(ours, _nd_groups(dims, scheme, conv), (order, pdims))
        n += 1
    # Network spec §2.8's test values.
    first = share_groups(NodeRegion((30, 30)), PartitionScheme(*cases[0]), conv.data_loops)
    assert first.nbr_dists == ((5, math.inf), (15, 2), (1, 1))
    record("bufshr: sharing groups", n)


def _kernel_cases(groups: ShareGroups, theirs, where) -> int:
    n = 0
    for d in Data:
        size = groups.size(d)
        for m in range(1, size + 1):
            shape, axis = subgroup_shape(groups, d, m)
            dim, idx = theirs._subgrp_dim(d, m)
            assert (shape, axis) == (tuple(dim), idx), (where, d, m)
            assert rotation_hops(groups, d, m) == theirs.nhops_rotate_all(d, m), (where, d, m)
            for units in range(1, 2 * m + 2):
                assert rotation_hops(groups, d, m, units) == \
                    theirs.nhops_rotate_all(d, m, units), (where, d, m, units)
            widths = {1.0 * m / u for u in range(1, 2 * m + 1)} | {1.5, 2.0, 0.5, 2.75}
            for width in sorted(w for w in widths if w <= m):
                assert wide_fetch_hops(groups, d, m, width) == \
                    theirs.nhops_wide_fetch_once(d, m, width), (where, d, m, width)
            n += 2 + 2 * m + len(widths)
        with pytest.raises(ValueError):
            rotation_hops(groups, d, size + 1)
        if size > 1:
            with pytest.raises(ValueError):
                wide_fetch_hops(groups, d, size // 2, size // 2 + 1)
    return n


def test_kernels_equal_nn_dataflow():
    n = 0
    rng = random.Random(7)
    schemes = list(_all_schemes())
    for dims, layer, scheme in rng.sample(schemes, 120):
        ours = share_groups(NodeRegion(dims), scheme, layer.data_loops)
        n += _kernel_cases(ours, _nd_groups(dims, scheme, layer), (dims, scheme))
    # nn_dataflow's unit-test group: 4 x 2 with neighbour spacing (3, 5) for weights.
    ps3 = PartitionScheme((0, 1, 2, 3), ((1, 6), (1, 2), (4, 1), (3, 5)))
    conv = Layer.conv(8, 8, 8, 3)
    groups = share_groups(NodeRegion(ps3.dim()), ps3, conv.data_loops)
    assert groups.dims[Data.FIL] == (4, 2) and groups.nbr_dists[Data.FIL] == (3, 5)
    n += _kernel_cases(groups, _nd_groups(ps3.dim(), ps3, conv), "ps3")
    fil = Data.FIL
    approx = pytest.approx
    assert rotation_hops(groups, fil, 8) == approx((3 * 6 + 5 * 2) * 7 / 8)
    assert rotation_hops(groups, fil, 4) == approx(((3 * 3) + (3 * 2 + 9) * 3) / 4 * 2)
    assert rotation_hops(groups, fil, 2) == approx((3 + 3) / 2 * 4)
    assert rotation_hops(groups, fil, 1) == 0
    assert rotation_hops(groups, fil, 3) == approx(((3 * 2) + (3 + 6) * 2 + (3 * 2)) / 3 * 2)
    assert rotation_hops(groups, fil, 5) == approx(
        ((3 * 3 + 5) + (3 * 2 + 5 + (3 * 3 + 5)) * 3 + ((3 * 3 + 5) + 3 * 3) + 3 * 3 * 4) / 5)
    assert wide_fetch_hops(groups, fil, 4, 2) * 2 == approx((3 * 3 + 9) / 4 * 2)
    assert wide_fetch_hops(groups, fil, 3, 2) * 2 == approx((3 * 2 + 6 + 3) / 3 * 2)
    assert wide_fetch_hops(groups, fil, 2, 2) * 2 == approx((3 + 3) / 2 * 4)
    for m in range(4):
        assert wide_fetch_hops(groups, fil, m, 1) == 0
    record("bufshr: rotation / wide-fetch kernels", n)


# -- loop blocking with buffer sharing / access forwarding -----------------------------------


class _Case:
    """One partitioned layer, descriptor and resource, in both tools' terms."""

    def __init__(self, dims, layer: Layer, batch: int, pe_array, scheme: PartitionScheme,
                 index: int, capacity: tuple[int, int], bypass, costs: Costs, sharing: bool,
                 bus=math.inf, dram_bw=math.inf, no_time_mux=False, unit_nhops=(0.0,) * 3):
        node_layer, node_batch, occupancy = part_layer(layer, batch, scheme)
        self.nld = map_layer(node_layer, node_batch, pe_array, occupancy, RULES).candidates[index]
        nd_layer, part = oracle.layer(layer), nd_scheme(scheme)
        p_layer, p_batch, p_occ = part.part_layer(nd_layer, batch)
        strategy = nd.MapStrategyEyeriss(p_layer, p_batch, p_occ, nd.PhyDim2(*pe_array))
        self.their_nld = list(strategy.gen_nested_loop_desc())[index]
        assert self.nld.loopcnt == tuple(self.their_nld.loopcnt)
        self.groups = share_groups(NodeRegion(dims), scheme, layer.data_loops)

        regf, gbuf = capacity
        self.bypass = tuple(bypass)
        self.costs = costs
        self.unit_nhops = tuple(unit_nhops)
        self.env = BlockingEnv(regf, gbuf, self.bypass, self.costs, num_nodes=dims[0] * dims[1],
                               array_bus_width=bus, dram_bandwidth=dram_bw,
                               no_time_mux=no_time_mux, accfwd=self.groups.sizes,
                               unit_nhops=self.unit_nhops,
                               sharing=self.groups if sharing else None)
        proc = _nd_region(dims)
        dram = nd.NodeRegion(dim=nd.PhyDim2(1, 1), origin=ORIGIN, type=nd.NodeRegion.DRAM)
        self.res = nd.Resource(proc_region=proc, dram_region=dram, src_data_region=dram,
                               dst_data_region=dram, dim_array=nd.PhyDim2(*pe_array),
                               size_gbuf=gbuf, size_regf=regf, array_bus_width=bus,
                               dram_bandwidth=dram_bw, no_time_mux=no_time_mux)
        self.bufshr = nd.BufShrScheme(proc, part, self.their_nld.data_loops)
        self.options = nd.Option(sw_gbuf_bypass=self.bypass, hw_gbuf_sharing=sharing,
                                 hw_access_forwarding=not sharing)
        self.part = part
        self.sched = nd.Scheduling(nd_layer, batch, oracle.cost(self.costs),
                                   nd.MapStrategyEyeriss)
        full = nd.FmapRange(nd.FmapPosition(b=0, n=0, h=0, w=0),
                            nd.FmapPosition(b=batch, n=nd_layer.nofm, h=nd_layer.hofm,
                                            w=nd_layer.wofm))
        self.ofmap_layout = nd.DataLayout(
            frngs=(full,), regions=(dram,),
            parts=(oracle.trivial_partition().projection(dram, appl2frng=True),))
        self.where = (dims, layer, batch, pe_array, scheme, index, self.env)

    @classmethod
    def random(cls, rng: random.Random, sharing: bool) -> _Case:
        while True:
            dims, layer = rng.choice(REGIONS), rng.choice(LAYERS)
            batch, pe_array = rng.choice(BATCHES), rng.choice(ARRAYS)
            scheme = rng.choice(gen_partitions(layer, batch, dims, rng.choice(OPTIONS)))
            node_layer, node_batch, occupancy = part_layer(layer, batch, scheme)
            mapping = map_layer(node_layer, node_batch, pe_array, occupancy, RULES)
            if mapping.candidates:
                break
        index = rng.randrange(len(mapping.candidates))
        capacity = rng.choice(CAPACITIES)
        bypass = tuple(rng.random() < 0.5 for _ in range(3))
        costs = rng.choice(COSTS)
        bus = rng.choice([math.inf, math.inf, 4, 16])
        dram_bw = rng.choice([math.inf, math.inf, 8.0])
        no_time_mux = rng.random() < 0.2
        unit_nhops = tuple(float(rng.randrange(0, 40)) for _ in range(3))
        return cls(dims, layer, batch, pe_array, scheme, index, capacity, bypass, costs, sharing,
                   bus, dram_bw, no_time_mux, unit_nhops)

    def schemes(self, rng: random.Random, count: int):
        """Random (factors, positions): factorisations of the loop counts over 3 levels
        (small inner factors half of the time) and random orders."""
        triples = [oracle.factorize3(n) for n in self.nld.loopcnt]
        factors, positions = [], []
        for _ in range(count):
            chosen = [rng.choice(tr[: max(1, len(tr) // 3)] if rng.random() < 0.5 else tr)
                      for tr in triples]
            factors.append(tuple(zip(*(c[::-1] for c in chosen), strict=True)))
            positions.append(tuple(tuple(rng.sample(range(3), 3)) for _ in range(2)))
        return factors, positions

    def judge(self, bl_ts, bl_ords):
        """(LoopBlockingScheme, result dict), or (lbs, None) when invalid."""
        lbs = nd.LoopBlockingScheme(self.their_nld, bl_ts, bl_ords, self.res, self.bufshr,
                                    self.options)
        if not lbs.is_valid():
            return lbs, None
        result = self.sched._get_result(lbs, self.part, self.ofmap_layout, (0, 0, 0),
                                        list(self.unit_nhops))
        return lbs, OrderedDict(result.scheme)


def _compare(stats, row, lbs, theirs, where) -> None:
    close = dict(rel=1e-9, abs=1e-300)
    assert stats.energy[row] == pytest.approx(theirs["cost"], **close), where
    assert stats.time[row] == theirs["time"], where
    assert stats.access_cost[row] == pytest.approx(theirs["cost_access"], **close), where
    assert stats.noc_cost[row] == pytest.approx(theirs["cost_noc"], **close), where
    assert stats.static_cost[row] == pytest.approx(theirs["cost_static"], **close), where
    assert stats.access[row] == pytest.approx(np.array(theirs["access"], float), **close), where
    assert stats.noc_hops[row].tolist() == list(theirs["total_nhops"]), where
    assert stats.fetch[row].tolist() == [list(f) for f in theirs["fetch"]], where
    assert [stats.size_gbuf[row].tolist(), stats.size_regf[row].tolist()] == \
        theirs["size"], where
    assert stats.stored[row].tolist() == list(lbs.stored_in_gbuf), where


def _pick(case: _Case, rng: random.Random, per_case: int):
    """``per_case`` of many random schemes, at least half of them (when there are enough)
    valid only thanks to sharing: their data would not fit one node's buffer unshared."""
    factors, positions = case.schemes(rng, 40 * per_case)
    pre = evaluate_blocking(case.nld, np.array(factors), np.array(positions), case.env,
                            sharing_noc=False)
    unshared = (pre.size_gbuf * np.asarray(case.groups.sizes)).sum(axis=1)
    needy = np.flatnonzero(pre.valid & (unshared > case.env.gbuf_words)).tolist()
    rows = rng.sample(needy, min(len(needy), per_case // 2))
    rest = [r for r in range(len(factors)) if r not in rows]
    rows += rng.sample(rest, per_case - len(rows))
    return [factors[r] for r in rows], [positions[r] for r in rows]


def _run(seed: int, cases: int, per_case: int, sharing: bool) -> tuple[int, int, int]:
    rng = random.Random(seed)
    totals = [0, 0, 0]
    for _ in range(cases):
        case = _Case.random(rng, sharing)
        counts = _check(case, *_pick(case, rng, per_case), sharing)
        totals = [t + c for t, c in zip(totals, counts, strict=True)]
    return totals[0], totals[1], totals[2]


def _check(case: _Case, factors, positions, sharing: bool) -> tuple[int, int, int]:
    """Compare the schemes; (compared, valid, valid with sharing traffic)."""
    compared = valid = shared = 0
    stats = evaluate_blocking(case.nld, np.array(factors), np.array(positions), case.env)
    if sharing:
        # Lazily: the lower bound without sharing hops, completed row by row.
        lazy = evaluate_blocking(case.nld, np.array(factors), np.array(positions),
                                 case.env, sharing_noc=False)
        assert np.all(lazy.energy <= stats.energy) and not lazy.sharing
        add_sharing_noc(lazy, range(len(factors)), case.nld, np.array(factors),
                        np.array(positions), case.env)
        for name in ("energy", "noc_hops", "noc_cost", "size_gbuf"):
            assert np.array_equal(getattr(lazy, name), getattr(stats, name)), name
        assert lazy.sharing == stats.sharing
    for row, (bl_ts, bl_ords) in enumerate(zip(factors, positions, strict=True)):
        lbs, theirs = case.judge(bl_ts, bl_ords)
        where = (*case.where, bl_ts, bl_ords)
        compared += 1
        assert bool(stats.valid[row]) == (theirs is not None), where
        if theirs is None:
            assert row not in stats.sharing
            continue
        valid += 1
        _compare(stats, row, lbs, theirs, where)
        assert list(theirs["accfwd_reduction"]) == list(case.groups.sizes), where
        if not sharing:
            assert theirs["node_nhops"] == [0.0] * 3
            continue
        plan = stats.sharing[row]
        assert plan.node_hops == tuple(lbs.get_noc_access()), where
        assert plan.node_hops == tuple(theirs["node_nhops"]), where
        assert plan.rotation == tuple(lbs.bufshr_rotation_access), where
        assert plan.wide_fetch_access == tuple(lbs.bufshr_wide_fetch_access), where
        assert plan.subgroup == tuple(lbs.bufshr_subgrp_size), where
        assert plan.bs_t == tuple(lbs.bufshr_bs_t), where
        assert plan.bs_ord == tuple(lbs.bufshr_bs_ord), where
        assert (tuple(bl_ords[0]), plan.gbuf_ord) == tuple(lbs.bl_ords), where
        assert plan.rot_fetch == tuple(lbs.bufshr_rot_fetch), where
        assert plan.rot_round_cnt == tuple(lbs.bufshr_rot_round_cnt), where
        assert plan.rot_unit_cnt == tuple(lbs.bufshr_rot_unit_cnt), where
        assert plan.wide_fetch == tuple(lbs.bufshr_wide_fetch), where
        assert plan.wide_fetch_width == tuple(lbs.bufshr_wide_fetch_width), where
        assert tuple(theirs["bufshr_grp_size"]) == case.groups.sizes, where
        shared += any(h > 0 for h in plan.node_hops)
    return compared, valid, shared


@pytest.mark.parametrize("seed", range(4))
def test_buffer_sharing_equals_nn_dataflow(seed):
    compared, valid, shared = _run(seed, cases=20, per_case=6, sharing=True)
    record("bufshr: random schemes with buffer sharing", compared)
    # Both outcomes, and schemes with actual sharing traffic, must be well represented.
    assert valid > compared // 5 and compared - valid > compared // 20
    assert shared > valid // 10


@pytest.mark.parametrize("seed", range(2))
def test_access_forwarding_equals_nn_dataflow(seed):
    compared, valid, _ = _run(100 + seed, cases=15, per_case=6, sharing=False)
    record("bufshr: random schemes with access forwarding", compared)
    assert valid > compared // 5 and compared - valid > compared // 20


# Schemes whose best plan uses the extra sharing level (rare among random schemes: about one
# in 2,000 valid ones), found by a random search: (region, layer, batch, PE array, partition
# order and factors, descriptor index, (regf, gbuf), bypass, factors, positions).
_C64, _C96 = Layer.conv(64, 128, 28, 3), Layer.conv(96, 256, 27, 5)
_T, _F = True, False
SHARING_LEVEL_CASES = [
    ((4, 4), _C96, 4, (8, 8), (0, 3, 2, 1), ((1, 1), (2, 4), (2, 1), (1, 1)), 0, (128, 131072),
     (_F, _F, _T), ((1, 2, 2), (24, 128, 2), (4, 1, 1)), ((1, 2, 0), (0, 2, 1))),
    ((4, 2), _C96, 8, (12, 14), (2, 3, 0, 1), ((1, 2), (4, 1), (1, 1), (1, 1)), 0, (512, 32768),
     (_F, _T, _T), ((3, 8, 2), (32, 4, 4), (1, 1, 1)), ((1, 2, 0), (0, 1, 2))),
    ((4, 2), _C96, 8, (12, 14), (2, 3, 0, 1), ((1, 2), (4, 1), (1, 1), (1, 1)), 0, (512, 32768),
     (_F, _T, _T), ((3, 2, 4), (32, 8, 2), (1, 2, 1)), ((1, 0, 2), (0, 2, 1))),
    ((2, 4), _C96, 4, (8, 8), (2, 3, 1, 0), ((2, 1), (1, 4), (1, 1), (1, 1)), 0, (128, 131072),
     (_T, _F, _T), ((1, 1, 8), (96, 128, 2), (1, 1, 1)), ((0, 1, 2), (1, 0, 2))),
    ((4, 4), _C64, 8, (16, 16), (1, 3, 2, 0), ((4, 2), (1, 1), (1, 2), (1, 1)), 1, (256, 8192),
     (_T, _T, _T), ((4, 8, 2), (8, 2, 2), (1, 1, 1)), ((1, 0, 2), (1, 2, 0))),
    ((4, 4), _C96, 8, (16, 16), (1, 2, 0, 3), ((2, 1), (1, 1), (1, 1), (2, 4)), 0, (128, 131072),
     (_T, _T, _T), ((1, 1, 2), (3, 128, 4), (4, 1, 1)), ((0, 2, 1), (1, 2, 0))),
    ((2, 4), _C96, 4, (8, 8), (1, 2, 0, 3), ((1, 2), (1, 1), (1, 1), (2, 2)), 0, (512, 32768),
     (_T, _F, _T), ((3, 1, 4), (2, 16, 4), (4, 8, 1)), ((0, 2, 1), (2, 1, 0))),
    ((2, 2), _C64, 4, (12, 14), (0, 2, 3, 1), ((1, 1), (2, 2), (1, 1), (1, 1)), 2, (256, 8192),
     (_F, _F, _T), ((8, 1, 2), (2, 128, 2), (1, 1, 1)), ((2, 1, 0), (0, 2, 1))),
    ((2, 4), _C96, 4, (8, 8), (2, 3, 1, 0), ((2, 2), (1, 2), (1, 1), (1, 1)), 0, (256, 8192),
     (_T, _T, _T), ((12, 4, 1), (8, 16, 16), (1, 1, 1)), ((1, 0, 2), (0, 2, 1))),
    ((4, 2), _C96, 2, (8, 8), (1, 2, 3, 0), ((4, 1), (1, 1), (1, 1), (1, 2)), 0, (256, 8192),
     (_T, _T, _T), ((3, 32, 2), (4, 2, 4), (4, 1, 1)), ((2, 0, 1), (0, 1, 2))),
]


def test_sharing_level_cases_equal_nn_dataflow():
    for dims, layer, batch, pe_array, order, pdims, index, capacity, bypass, bl_ts, bl_ords \
            in SHARING_LEVEL_CASES:
        case = _Case(dims, layer, batch, pe_array, PartitionScheme(order, pdims), index,
                     capacity, bypass, COSTS[0], True, unit_nhops=(3.0, 5.0, 7.0))
        assert _check(case, [bl_ts], [bl_ords], True)[2] == 1
        stats = evaluate_blocking(case.nld, np.array([bl_ts]), np.array([bl_ords]), case.env)
        assert stats.sharing[0].bs_t != (1, 1, 1)
    record("bufshr: schemes using the sharing level", len(SHARING_LEVEL_CASES))

