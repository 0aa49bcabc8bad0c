"""Counts are exact or refused (issue 14): near the cost model's 64-bit range the evaluator
equals nn_dataflow 2.1, whose Python integers never wrap, or the layer is refused with
TooLarge before anything is computed; NoC hops likewise.

The layers are drawn so that their counts straddle 2^62: dimensions up to the network
loader's limit (2^20), the batch chosen to put the operations near the limit, tiny DRAM
bandwidths for cycle counts past int64 (held as Python integers).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from nnsolve.errors import TooLarge
from nnsolve.hardware.regions import memory_region, processing_region
from nnsolve.hardware.spec import Costs, Hardware
from nnsolve.heuristics.exhaustive import search_layer
from nnsolve.model.evaluate import (
    COUNT_LIMIT,
    MAX_CYCLES,
    LayerProblem,
    count_bounds,
    evaluate_blocking,
    evaluate_layer,
)
from nnsolve.model.layer import Layer
from nnsolve.model.layout import DataLayout, ifmap_frng
from nnsolve.model.mapping import ModelRules, map_layer
from nnsolve.model.noc import HOP_LIMIT, check_hop_range, unit_nhops
from nnsolve.model.partition import PartitionOptions, gen_partitions
from nnsolve.model.resources import check_layer_range
from nnsolve.model.schedule import Blocking, LayerSchedule
from tests import oracle
from tests.oracle import nd_layout, nd_region, nd_scheme

RULES = ModelRules(eltwise_ifmaps="nn_dataflow")
MAX_DIM = 2**20
COSTS = [Costs(1, 200, 6, 2, 1, 0, 0), Costs(1, 200, 6, 2, 1, 10, 50),
         Costs(2e-12, 460e-12, 15e-12, 4e-12, 1e-12, 0, 1.5e-10)]


def _dim(draw, lo: int = 0, hi: int = 20) -> int:
    """A size between 2^(lo-1) and 2^hi, log-uniform."""
    e = draw(st.integers(lo, hi))
    return draw(st.integers(max(1, 2 ** (e - 1)), min(MAX_DIM, 2**e)))


@st.composite
def big_layers(draw, target=(64, 76), count=(54.0, 64.0)):
    """A layer within the loader's per-dimension limits (2^20), grown (fmap width, output and
    input channels) until its operations at batch 2^20 reach about 2^target, a PE array, and
    a batch (<= 2^20) that puts its largest count near 2^count: across the 64-bit limit."""
    kind = draw(st.sampled_from(["conv", "conv", "fc", "pool", "eltwise"]))
    if kind == "conv":
        layer = Layer.conv(_dim(draw, 0, 12), _dim(draw, 0, 12),
                           (_dim(draw, 0, 10), _dim(draw, 0, 10)),
                           (_dim(draw, 0, 4), _dim(draw, 0, 4)), (_dim(draw, 0, 3),
                                                                  _dim(draw, 0, 3)))
    elif kind == "fc":
        layer = Layer.fc(_dim(draw, 0, 12), _dim(draw, 0, 12), _dim(draw, 0, 6))
    elif kind == "pool":
        layer = Layer.pool(_dim(draw, 0, 12), (_dim(draw, 0, 10), _dim(draw, 0, 10)),
                           _dim(draw, 0, 3))
    else:
        layer = Layer.eltwise(_dim(draw, 0, 12), (_dim(draw, 0, 10), _dim(draw, 0, 10)),
                              draw(st.integers(1, 4)))
    aim = 2 ** draw(st.integers(*target))
    for grow in ("out_w", "out_channels", "in_channels", "out_h"):
        need = aim // layer.ops(MAX_DIM)
        if need <= 1:
            break
        layer = _grown(layer, grow, need)
    # The batch that puts the largest count bound near 2^count (it is linear in the batch).
    pe_array = draw(st.sampled_from([(8, 8), (12, 14), (16, 16), (4, 64)]))
    mapping = map_layer(layer, 1, pe_array, 1.0, RULES)
    bound = max((max(count_bounds(nld, nld.loopcnt).values()) for nld in mapping.candidates),
                default=layer.ops(1))
    batch = max(1, min(MAX_DIM, int(2 ** draw(st.floats(*count)) / bound)))
    return layer, batch, pe_array


def _grown(layer: Layer, field: str, factor: int) -> Layer:
    """``layer`` with ``field`` multiplied by up to ``factor`` (within 2^20), kept valid."""
    if layer.kind == "fc" and field in ("out_w", "out_h"):
        return layer
    value = min(MAX_DIM, getattr(layer, field) * factor)
    if layer.kind in ("pool", "eltwise") and field.endswith("channels"):
        per = value // layer.inputs if field == "in_channels" else value
        per = max(1, min(per, MAX_DIM // layer.inputs))
        return replace(layer, out_channels=per, in_channels=per * layer.inputs)
    return replace(layer, **{field: value})


def _float_eq_int(vfloat, vint, message=""):
    """nn_dataflow's self-check that a float count equals an integer one, within the float's
    own rounding: its absolute tolerance of 1 fails past 2^53 (ops of 1.56e16)."""
    if abs(vfloat - vint) > max(1, 1e-12 * abs(vint)):
        raise AssertionError(f"{message} {vfloat} != {vint}")


def _exact_factors(rng: random.Random, n: int) -> tuple[int, int, int]:
    """A random ordered factorisation of n (gcds with random numbers are divisors)."""
    a = math.gcd(n, rng.randrange(1, 2**64))
    b = math.gcd(n // a, rng.randrange(1, 2**64))
    return tuple(rng.sample([a, b, n // a // b], 3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.filter_too_much])
@given(big_layers(), st.sampled_from([(64, 2**16), (512, 2**30), (2**20, 2**40)]),
       st.sampled_from([math.inf, 8.0, 1e-9, 1e-15]), st.sampled_from([math.inf, 4]),
       st.sampled_from(range(len(COSTS))), st.randoms(use_true_random=False))
def test_evaluator_equals_python_integers_or_refuses(case, capacity, dram_bw, bus, cost_index,
                                                     rng):
    layer, batch, pe_array = case
    regf, gbuf = capacity
    costs = COSTS[cost_index]
    env = oracle.env_for(regf, gbuf, (True, True, True), costs, bus=bus, dram_bw=dram_bw)
    problem = LayerProblem(layer, batch, pe_array, env, rules=RULES)
    try:
        candidates = problem.mapping.candidates
    except TooLarge as exc:
        # Refused: some count of some candidate's schemes reaches the limit.
        mapping = map_layer(layer, batch, pe_array, 1.0, RULES)
        assert any(max(count_bounds(nld, nld.loopcnt).values()) >= COUNT_LIMIT
                   for nld in mapping.candidates)
        assert "2^62" in str(exc)
        event("refused")
        return
    assume(candidates)
    index = rng.randrange(len(candidates))
    nld = candidates[index]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(oracle.nd_util, "assert_float_eq_int", _float_eq_int)
        their_nld = oracle.nlds(layer, batch, pe_array)[1][index]
    assert tuple(their_nld.loopcnt) == nld.loopcnt
    judge = oracle.LayerOracle(layer, batch, oracle.resource(env, pe_array), costs,
                               (True, True, True))
    factors, positions = [], []
    for _ in range(4):
        chosen = [_exact_factors(rng, n) for n in nld.loopcnt]
        if rng.random() < 0.5:      # everything in the register files: the largest buffers
            chosen = [(1, 1, n) for n in nld.loopcnt]
        factors.append(tuple(zip(*chosen, strict=True)))
        positions.append(tuple(tuple(rng.sample(range(3), 3)) for _ in range(2)))
    try:
        stats = evaluate_blocking(nld, np.array(factors), np.array(positions), env)
    except TooLarge as exc:
        # Refused: a valid scheme's time reaches the limit (nn_dataflow's Python integers).
        times = [theirs["time"] for theirs in (judge.score(their_nld, bl_ts, bl_ords)
                                               for bl_ts, bl_ords in zip(factors, positions,
                                                                         strict=True))
                 if theirs is not None]
        assert times and max(times) >= MAX_CYCLES and "cycles" in str(exc)
        event("time refused")
        return
    for row, (bl_ts, bl_ords) in enumerate(zip(factors, positions, strict=True)):
        theirs = judge.score(their_nld, bl_ts, bl_ords)
        where = (layer, batch, pe_array, bl_ts, bl_ords)
        assert bool(stats.valid[row]) == (theirs is not None), where
        if theirs is None:
            continue
        # Integers: exactly nn_dataflow's (Python's).
        assert stats.fetch[row].tolist() == [list(f) for f in theirs["fetch"]], where
        assert [stats.size_gbuf[row].tolist(), stats.size_regf[row].tolist()] == \
            theirs["size"], where
        ints = (int(stats.proc_time[row]), int(stats.bus_time[row]),
                int(stats.dram_time[row]))
        assert ints == (theirs["proc_time"], theirs["bus_time"], theirs["dram_time"]), where
        assert max(ints) == theirs["time"]
        assert stats.time[row] == float(theirs["time"]), where
        close = dict(rel=1e-9, abs=1e-300)
        assert stats.energy[row] == pytest.approx(theirs["cost"], **close), where
        assert stats.ops[row] == pytest.approx(theirs["ops"], **close), where
        assert stats.static_cost[row] == pytest.approx(theirs["cost_static"], **close)
        assert stats.access[row] == pytest.approx(np.array(theirs["access"], float), **close)
    top = int(max(count_bounds(nld, nld.loopcnt).values()))
    event(f"compared, int64 counts < 2^{max(50, top.bit_length())}")
    event(f"valid schemes: {int(stats.valid.sum())} of {len(factors)}")
    oracle.record("evaluator near the 64-bit range", len(factors))


def test_bus_words_past_the_cycle_range_but_cycles_within_it():
    """A case hypothesis found: a node moves 8.1e18 words over a 4-word bus, 2.0e18 cycles,
    within the range; the evaluator refused it, as it checked the words, not the cycles.
    Its bus time now equals nn_dataflow's Python integers."""
    layer, batch, pe_array = Layer.conv(16, 2**20, (1, 2**20), 1), 1048544, (8, 8)
    env = oracle.env_for(2**20, 2**40, (True, True, True), COSTS[0], bus=4, dram_bw=math.inf)
    nld = LayerProblem(layer, batch, pe_array, env, rules=RULES).mapping.candidates[2]
    factors = ((4, 1, 1048544), (1, 65536, 1), (1, 1, 1))
    positions = ((0, 1, 2), (0, 1, 2))
    stats = evaluate_blocking(nld, np.array([factors]), np.array([positions]), env)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(oracle.nd_util, "assert_float_eq_int", _float_eq_int)
        their_nld = oracle.nlds(layer, batch, pe_array)[1][2]
    judge = oracle.LayerOracle(layer, batch, oracle.resource(env, pe_array), COSTS[0],
                               (True, True, True))
    theirs = judge.score(their_nld, factors, positions)
    assert stats.valid[0] and theirs is not None
    assert 4 * int(stats.bus_time[0]) >= MAX_CYCLES > int(stats.bus_time[0])
    assert int(stats.bus_time[0]) == theirs["bus_time"]
    assert int(stats.time[0]) == theirs["time"]


def test_the_issue_layer_is_refused_not_wrapped():
    """A 1x1 conv of 10^6 channels on a 60,000^2 fmap at batch 3 on 7x9 PEs: 1.7e20 cycles,
    which int64 wrapped to 5.5e18 (and powers of two to 0)."""
    layer = Layer.conv(10**6, 10**6, 60000, 1)
    problem = LayerProblem.single_node(layer, 3, Hardware((1, 1), (7, 9), 64, 65536),
                                       COSTS[1], (True,) * 3)
    with pytest.raises(TooLarge, match=r"processing time would reach 1\.72e\+20 cycles"):
        _ = problem.mapping
    pow2 = Layer.conv(2**20, 2**20, 2**16, 1)
    with pytest.raises(TooLarge, match="2\\^62"):
        _ = LayerProblem.single_node(pow2, 2**6, Hardware((1, 1), (8, 8), 64, 65536),
                                     COSTS[0]).mapping


def test_cycles_past_int64_are_refused():
    """A DRAM bandwidth of 1e-15 words per cycle: the DRAM time (about 4e21 cycles) is
    beyond the model's 2^62 cycles and refused, never int64's wrap to a short time."""
    layer = Layer.fc(64, 64, 4)
    hw = Hardware((1, 1), (8, 8), 64, 2**20, dram_bandwidth=1e-15)
    problem = LayerProblem.single_node(layer, 4096, hw, COSTS[0], (True,) * 3)
    with pytest.raises(TooLarge, match="DRAM bandwidth"):
        search_layer(problem, "delay")


def test_schedule_factors_beyond_64_bits_are_refused():
    problem = LayerProblem.single_node(Layer.fc(16, 10, 7), 4, Hardware((1, 1), (8, 8), 64,
                                                                        4096), COSTS[0])
    huge = Blocking(((2**70, 1, 1), (1, 1, 1), (16, 10, 4)))
    with pytest.raises(TooLarge, match="64-bit"):
        evaluate_layer(problem, LayerSchedule(0, huge))
    big = Blocking(((2**40, 1, 1), (2**30, 1, 1), (16, 10, 4)))
    with pytest.raises(TooLarge, match="2\\^62"):
        evaluate_layer(problem, LayerSchedule(0, big))


def test_huge_costs_are_refused_not_infinite():
    """Energies past 1e150 (costs of 1e300 made every EDP infinite: all schedules tied)."""
    costs = Costs(1, 1e300, 6, 2, 1, 0, 0)
    problem = LayerProblem.single_node(Layer.fc(16, 10, 7), 4, Hardware((1, 1), (8, 8), 64,
                                                                        4096), costs)
    with pytest.raises(TooLarge, match="energy reaches"):
        search_layer(problem, "edp")


# -- NoC hops ----------------------------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([(2, 2), (2, 4), (4, 4), (3, 5)]), st.sampled_from(["2D", "3D"]),
       st.booleans(), st.integers(52, 62), st.randoms(use_true_random=False))
def test_noc_hops_equal_python_integers_or_refuse(dims, memory, forwarding, target, rng):
    """Word-hops of layers whose words times nodes times hops straddle 2^62: nn_dataflow's
    Python integers, or refused by check_hop_range."""
    channels = 2 ** rng.randrange(8, 21)
    size = 2 ** rng.randrange(6, 15)
    layer = Layer.conv(channels, 2 ** rng.randrange(4, 21), size, rng.choice([1, 3]))
    per_sample = max(layer.ifmap_words(), layer.ofmap_words(), 1)
    batch = max(1, min(MAX_DIM, 2**target // per_sample // (dims[0] * dims[1])))
    try:
        check_hop_range(layer, batch, dims)
    except TooLarge:
        words = max(layer.ifmap_words(batch), layer.ofmap_words(batch), layer.weight_words())
        assert 2 * words * dims[0] * dims[1] * (dims[0] + dims[1] - 2) >= HOP_LIMIT
        return
    region, mem = processing_region(dims), memory_region(dims, memory)
    schemes = gen_partitions(layer, batch, dims, PartitionOptions(batch=True))
    scheme = rng.choice(schemes)
    fake = Layer.conv(layer.in_channels, layer.in_channels, (layer.in_h, layer.in_w), 1)
    producer = rng.choice(gen_partitions(fake, batch, dims, PartitionOptions(batch=True)))
    lay_in = DataLayout.of(ifmap_frng(batch, layer.in_channels, layer.in_h, layer.in_w), mem,
                           producer)
    lay_out = DataLayout.of(ifmap_frng(batch, layer.out_channels, layer.out_h, layer.out_w),
                            mem, scheme)
    ours = unit_nhops(layer, batch, region, scheme, mem.nodes, lay_in, lay_out, forwarding)
    theirs = oracle.unit_nhops(
        oracle.layer(layer), batch, nd_region(region), nd_scheme(scheme),
        tuple(nd_region(mem).iter_node()), nd_layout(lay_in), nd_layout(lay_out),
        oracle.partition_options(forwarding=forwarding))
    assert list(ours) == list(theirs)
    oracle.record("unit hops near the 64-bit range", 1)


def test_layer_range_on_a_large_chip():
    """The loader's check: the same layer fits one node's counts but not the NoC hops of a
    1024 x 1024 chip."""
    layer = Layer.conv(256, 256, 1024, 3)
    check_layer_range(layer, 1024, Hardware((1, 1), (16, 16), 512, 2**20))
    with pytest.raises(TooLarge, match="NoC word-hops on 1024x1024 nodes"):
        check_layer_range(layer, 1024, Hardware((1024, 1024), (16, 16), 512, 2**20))
