"""The evaluator on known numbers and on the rules it must keep."""

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnsolve.hardware.spec import Costs, Hardware
from nnsolve.model.dims import Data, Level
from nnsolve.model.evaluate import (
    BlockingEnv,
    LayerProblem,
    blocking_floor,
    evaluate_blocking,
    evaluate_layer,
)
from nnsolve.model.layer import Layer
from nnsolve.model.schedule import Blocking, LayerSchedule
from tests.strategies import layer_problems, layer_sites

ISCA16 = Hardware((1, 1), (16, 16), regf_words=256, gbuf_words=65536)
UNIT_COSTS = Costs(1, 200, 6, 2, 1, 0, 0)
CONV1_A = Layer.conv(3, 48, 55, 11, 4)


def _conv1_a_schedule() -> LayerSchedule:
    # Layer spec §9.4: bl_ts ((1,3,64),(1,16,1),(3,1,1)), orders ((2,0,1),(1,0,2)).
    return LayerSchedule(0, Blocking.from_positions(((1, 3, 64), (1, 16, 1), (3, 1, 1)),
                                                    ((2, 0, 1), (1, 0, 2))))


def test_alexnet_conv1_a_isca16_reference_numbers():
    """nn_dataflow's optimum for AlexNet conv1_a on the ISCA'16 configuration (spec §9.4)."""
    problem = LayerProblem.single_node(CONV1_A, 16, ISCA16, UNIT_COSTS)
    assert problem.mapping.candidates[0].loopcnt == (3, 48, 64)
    r = evaluate_layer(problem, _conv1_a_schedule())
    assert r.valid
    assert r.fetch == ((64, 1, 1), (64, 1, 1))
    assert r.gbuf_resident == (True, True, True)
    assert r.size_gbuf == (5808, 42903, 12320)
    assert r.size_regf == (33, 33, 1)
    assert [r.accesses["dram"][d] for d in ("weight", "ifmap", "ofmap")] == \
        [1115136, 2702208, 2323200]
    assert [r.accesses["gbuf"][d] for d in ("weight", "ifmap", "ofmap")] == \
        [1115136, 2702208, 2323200]
    assert [r.accesses["itcn"][d] for d in ("weight", "ifmap", "ofmap")] == \
        [15611904, 6711936, 26019840]
    assert [r.accesses["regf"][d] for d in ("weight", "ifmap", "ofmap")] == \
        [843321600, 843321600, 1686643200]
    assert r.ops == 843321600 == CONV1_A.ops(16)
    assert r.time == 5575680
    assert r.energy == 5578247424
    assert sum(r.breakdown.values()) == pytest.approx(r.energy, rel=1e-15)
    assert r.breakdown["mac"] == r.ops


def test_schedule_orders_round_trip_positions():
    sched = _conv1_a_schedule()
    assert sched.blocking.orders[0] == (0, 2, 1)        # i, b, o: o innermost at level 0
    assert sched.blocking.positions() == ((2, 0, 1), (1, 0, 2))
    assert sched.blocking.to_json()["orders"] == [["i", "b", "o"], ["b", "i", "o"]]


def _env(**kw) -> BlockingEnv:
    base = dict(regf_words=256, gbuf_words=65536, bypass=(False, False, False),
                costs=UNIT_COSTS)
    base.update(kw)
    return BlockingEnv(**base)


def test_bypassed_data_without_reuse_streams_from_dram_at_gbuf_granularity():
    layer = Layer.conv(64, 64, 13, 22)  # LGFIL: 22 filter rows fold twice on 16x16
    mapping = LayerProblem.single_node(layer, 4, ISCA16, UNIT_COSTS).mapping
    assert mapping.fold == (2, 1)
    nld = mapping.candidates[0]
    li, lo, lb = nld.loopcnt
    # Level 0 runs I (outer) and O (inner); level 1 runs B. Ifmaps are fetched once from DRAM
    # but lo times into the register files: reused in the buffer, so kept. Weights and ofmaps
    # are fetched as often at both levels: no reuse, so streamed.
    factors = np.array([[[li, lo, 1], [1, 1, lb], [1, 1, 1]]])
    positions = np.array([[[2, 0, 1], [0, 1, 2]]])
    kept = evaluate_blocking(nld, factors, positions, _env(gbuf_words=2 ** 30))
    streamed = evaluate_blocking(nld, factors, positions,
                                 _env(gbuf_words=2 ** 30, bypass=(True, True, True)))
    assert streamed.fetch[0].tolist() == [[1, 1, 2 * li - 1], [1, lo, 2 * li - 1]]
    assert streamed.stored[0].tolist() == [False, True, False]
    for d in (Data.FIL, Data.OFM):
        if streamed.fetch[0, 0, d] == streamed.fetch[0, 1, d]:
            assert not streamed.stored[0, d]
            assert streamed.access[0, Level.GBUF, d] == 0
            assert streamed.access[0, Level.DRAM, d] == \
                nld.total_access(Level.GBUF, d) * streamed.fetch[0, 0, d]
    assert streamed.size_gbuf[0].sum() <= kept.size_gbuf[0].sum()
    # Quirk Q2: a streamed fmap is re-read once per folded set, so bypassing the output fmap
    # here doubles its DRAM traffic.
    assert not streamed.stored[0, Data.OFM]
    assert streamed.access[0, Level.DRAM, Data.OFM] == 2 * kept.access[0, Level.DRAM, Data.OFM]


def test_capacity_decides_validity():
    nld = LayerProblem.single_node(CONV1_A, 16, ISCA16, UNIT_COSTS).mapping.candidates[0]
    sched = _conv1_a_schedule().blocking
    args = (nld, np.array([sched.factors]), np.array([sched.positions()]))
    assert evaluate_blocking(*args, _env(gbuf_words=5808 + 42903 + 12320)).valid[0]
    small = evaluate_blocking(*args, _env(gbuf_words=5808 + 42903 + 12320 - 1))
    assert not small.valid[0]
    assert math.isinf(small.energy[0]) and math.isinf(small.time[0])
    assert not evaluate_blocking(*args, _env(regf_words=66)).valid[0]
    assert evaluate_blocking(*args, _env(regf_words=67)).valid[0]


def test_finite_bandwidths_set_the_time():
    nld = LayerProblem.single_node(CONV1_A, 16, ISCA16, UNIT_COSTS).mapping.candidates[0]
    sched = _conv1_a_schedule().blocking
    args = (nld, np.array([sched.factors]), np.array([sched.positions()]))
    fast = evaluate_blocking(*args, _env())
    dram_words = fast.access[0, Level.DRAM].sum()
    slow = evaluate_blocking(*args, _env(dram_bandwidth=0.5))
    assert slow.dram_time[0] == math.ceil(dram_words / 0.5) and slow.time[0] == slow.dram_time[0]
    bus = evaluate_blocking(*args, _env(array_bus_width=1))
    assert bus.bus_time[0] == math.ceil(fast.access[0, Level.GBUF].max())
    assert bus.time[0] == max(fast.proc_time[0], bus.bus_time[0])


def test_times_beyond_the_models_integers_are_refused():
    """A DRAM bandwidth of 1e-30 made the DRAM time 1e34 cycles, which wrapped around in
    the int64 conversion to a negative time: the layer then took its compute time alone,
    without a word. Now it is a TooLarge error; just below the limit the time is exact."""
    from nnsolve.errors import TooLarge
    from nnsolve.model.evaluate import MAX_CYCLES

    nld = LayerProblem.single_node(CONV1_A, 16, ISCA16, UNIT_COSTS).mapping.candidates[0]
    sched = _conv1_a_schedule().blocking
    args = (nld, np.array([sched.factors]), np.array([sched.positions()]))
    dram_words = evaluate_blocking(*args, _env()).access[0, Level.DRAM].sum()
    with pytest.raises(TooLarge, match=r"DRAM bandwidth helps.*beyond the 4.61e\+18"):
        evaluate_blocking(*args, _env(dram_bandwidth=1e-30))
    rate = 2 * dram_words / MAX_CYCLES
    slow = evaluate_blocking(*args, _env(dram_bandwidth=rate))
    assert 0 < slow.time[0] == slow.dram_time[0] <= MAX_CYCLES


def test_local_region_layers_fetch_everything_once():
    pool = Layer.pool(48, 27, 3, 2)
    nld = LayerProblem.single_node(pool, 16, ISCA16, UNIT_COSTS).mapping.candidates[0]
    rng = np.random.default_rng(0)
    from tests.oracle import factorize3
    triples = [factorize3(n) for n in nld.loopcnt]
    factors = np.array([[tr[rng.integers(len(tr))] for tr in triples] for _ in range(50)])
    factors = factors.transpose(0, 2, 1)
    positions = np.array([[rng.permutation(3), rng.permutation(3)] for _ in range(50)])
    stats = evaluate_blocking(nld, factors, positions, _env(gbuf_words=2 ** 30))
    assert (stats.fetch == 1).all()


def test_evaluate_layer_rejects_schedules_that_do_not_fit_the_layer():
    problem = LayerProblem.single_node(CONV1_A, 16, ISCA16, UNIT_COSTS)
    with pytest.raises(ValueError, match="mapping index 3 out of range"):
        evaluate_layer(problem, LayerSchedule(3, _conv1_a_schedule().blocking))
    with pytest.raises(ValueError, match="do not cover the loop counts"):
        evaluate_layer(problem, LayerSchedule(0, Blocking(((1, 3, 64), (1, 16, 1), (1, 1, 1)))))


# -- the closed-form floor ----------------------------------------------------------------

def _space_minima(problem):
    """(least energy, least time, least F0) over every valid scheme of every candidate."""
    from nnsolve.heuristics.exhaustive import scored_chunks
    from nnsolve.model.pins import Pins

    energy = time = math.inf
    fetch0 = None
    for chunk in scored_chunks(problem, Pins(), canonical=False):
        ok = chunk.ok
        if len(ok):
            energy = min(energy, float(chunk.stats.energy[ok].min()))
            time = min(time, float(chunk.stats.time[ok].min()))
            least = chunk.stats.fetch[ok, 0, :].min(axis=0)
            fetch0 = least if fetch0 is None else np.minimum(fetch0, least)
    return energy, time, fetch0


def _check_floor(problem):
    floor = blocking_floor(problem)
    energy, time, fetch0 = _space_minima(problem)
    assert floor is not None
    assert floor.energy <= energy
    assert floor.time <= time
    if fetch0 is not None:
        assert all(f <= g for f, g in zip(floor.fetch0, fetch0, strict=True))
    return floor, energy


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer_problems(), st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_blocking_floor_is_below_every_schedule(problem, src_dram, local, pinned, forward):
    """The closed-form floor bounds every schedule of the raw space: on-chip sources and
    destinations, filters pinned on chip and forwarded DRAM traffic included."""
    env = replace(problem.env, src_is_dram=src_dram, src_is_local=not src_dram and local,
                  dst_is_dram=src_dram or not local, dst_is_local=False,
                  no_time_mux=pinned, accfwd=(2, 1, 3) if forward else (1, 1, 1),
                  unit_nhops=(5.0, 0.0, 7.0) if forward else (0.0, 0.0, 0.0))
    _check_floor(replace(problem, env=env))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer_sites())
def test_blocking_floor_bounds_every_partition_scheme(site):
    """On node arrays: per-node problems with NoC hops, forwarding and occupancy."""
    for scheme in site.schemes[:4]:
        problem = site.problem(scheme)
        if problem.mapping.candidates:
            _check_floor(problem)


def test_blocking_floor_is_attained_when_everything_fits():
    """With buffers large enough to fetch everything once, the floor is the optimum."""
    hw = Hardware((1, 1), (8, 8), regf_words=4096, gbuf_words=10 ** 7)
    problem = LayerProblem.single_node(Layer.conv(8, 8, 6, 3), 2, hw, UNIT_COSTS,
                                       (True, True, True))
    floor, energy = _check_floor(problem)
    assert floor.energy == pytest.approx(energy, rel=1e-8)
