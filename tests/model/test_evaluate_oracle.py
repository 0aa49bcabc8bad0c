"""The evaluator equals nn_dataflow 2.1's LoopBlockingScheme + per-layer result assembly.

Random schemes across the zoo's layers, the PE arrays of the mapping test, batch 1/4/16 and the
reference configurations' buffer sizes, with random bypass permissions, finite and infinite
bus width and DRAM bandwidth, on-chip source/destination regions, filter pinning and costs.
Every field of nn_dataflow's layer result is compared (1e-9 relative). The default run checks
10,000 schemes; ``pytest -m slow`` checks 100,000 more.
"""

import math
import random

import numpy as np
import pytest

from nnsolve.formats.network_yaml import load_zoo, zoo_names
from nnsolve.hardware.spec import Costs
from nnsolve.model.evaluate import evaluate_blocking
from nnsolve.model.mapping import ModelRules, map_layer
from tests import oracle

ARRAYS = [(16, 16), (12, 14), (14, 14), (8, 8), (13, 15)]
# (regf words, gbuf words): ISCA'16, ISSCC'16, the 8x8-PE / 64 B / 32 kB node, TETRIS, and
# small/large extremes so that both valid and invalid schemes occur.
CAPACITIES = [(256, 65536), (261, 55296), (32, 16384), (512, 288028), (16, 4096),
              (64, 2 ** 30)]
COSTS = [Costs(1, 200, 6, 2, 1, 0, 0),
         Costs(2e-12, 460e-12, 15e-12, 4e-12, 1e-12, 0, 30e-3 / 200e6),
         Costs(1, 200, 6, 2, 1, 10, 50)]
RULES = ModelRules(eltwise_ifmaps="nn_dataflow")
SCHEMES_PER_CASE = 20
ZOO_LAYERS = sorted({layer for name in zoo_names() for layer in load_zoo(name).layers.values()
                     if layer.kind != "dwconv"}, key=repr)     # nn_dataflow has no depthwise


def _compare_case(rng: random.Random) -> tuple[int, int]:
    """Draw one (layer, array, batch, descriptor, resource) case and compare its schemes.

    Returns (schemes compared, of which valid)."""
    while True:
        layer = rng.choice(ZOO_LAYERS)
        pe_array, batch = rng.choice(ARRAYS), rng.choice([1, 4, 16])
        mapping = map_layer(layer, batch, pe_array, 1.0, RULES)
        if mapping.candidates:
            break
    index = rng.randrange(len(mapping.candidates))
    nld = mapping.candidates[index]
    their_nld = oracle.nlds(layer, batch, pe_array)[1][index]

    regf, gbuf = rng.choice(CAPACITIES)
    bypass = tuple(rng.random() < 0.5 for _ in range(3))
    costs = rng.choice(COSTS)
    src = rng.choice(["dram", "dram", "dram", "local", "other"])
    dst = rng.choice(["dram", "dram", "dram", "local", "other"])
    env = oracle.env_for(regf, gbuf, bypass, costs,
                         bus=rng.choice([math.inf, math.inf, 1, 4, 16]),
                         dram_bw=rng.choice([math.inf, math.inf, 0.5, 8.0, 30.0]),
                         src=src, dst=dst, no_time_mux=rng.random() < 0.15)
    judge = oracle.LayerOracle(layer, batch, oracle.resource(env, pe_array, src, dst), costs,
                               bypass)

    triples = [oracle.factorize3(n) for n in nld.loopcnt]
    factors, positions = [], []
    for _ in range(SCHEMES_PER_CASE):
        # Favour small inner factors half of the time, so that many schemes fit.
        chosen = [rng.choice(tr[: max(1, len(tr) // 4)] if rng.random() < 0.5 else tr)
                  for tr in triples]
        factors.append(tuple(zip(*(c[::-1] for c in chosen), strict=True)))
        positions.append(tuple(tuple(rng.sample(range(3), 3)) for _ in range(2)))
    stats = evaluate_blocking(nld, np.array(factors), np.array(positions), env)

    valid = 0
    for row, (bl_ts, bl_ords) in enumerate(zip(factors, positions, strict=True)):
        theirs = judge.score(their_nld, bl_ts, bl_ords)
        where = (layer, pe_array, batch, index, bl_ts, bl_ords, env)
        assert bool(stats.valid[row]) == (theirs is not None), where
        if theirs is None:
            assert math.isinf(stats.energy[row]) and math.isinf(stats.time[row])
            continue
        valid += 1
        close = dict(rel=1e-9, abs=1e-300)
        assert stats.energy[row] == pytest.approx(theirs["cost"], **close), where
        assert stats.time[row] == theirs["time"], where
        assert stats.ops[row] == pytest.approx(theirs["ops"], **close), where
        assert stats.op_cost[row] == pytest.approx(theirs["cost_op"], **close), where
        assert stats.access_cost[row] == pytest.approx(theirs["cost_access"], **close), where
        assert stats.noc_cost[row] == pytest.approx(theirs["cost_noc"], **close), where
        assert stats.static_cost[row] == pytest.approx(theirs["cost_static"], **close), where
        assert (stats.proc_time[row], stats.bus_time[row], stats.dram_time[row]) == \
            (theirs["proc_time"], theirs["bus_time"], theirs["dram_time"]), where
        assert stats.access[row] == pytest.approx(np.array(theirs["access"], float), **close)
        assert stats.remote_gbuf[row] == pytest.approx(
            np.array(theirs["remote_gbuf_access"], float), **close)
        assert stats.noc_hops[row] == pytest.approx(np.array(theirs["total_nhops"], float))
        assert stats.fetch[row].tolist() == [list(f) for f in theirs["fetch"]], where
        assert [stats.size_gbuf[row].tolist(), stats.size_regf[row].tolist()] == \
            theirs["size"], where
        assert stats.stored[row].tolist() == theirs["stored_in_gbuf"], where
    return SCHEMES_PER_CASE, valid


def _run(seed: int, cases: int) -> None:
    rng = random.Random(seed)
    compared = valid = 0
    for _ in range(cases):
        n, v = _compare_case(rng)
        compared += n
        valid += v
    oracle.record("evaluator: random loop-blocking schemes", compared)
    # Both outcomes must be well represented, or the test says little.
    assert valid > compared // 5 and compared - valid > compared // 20


@pytest.mark.parametrize("seed", range(10))
def test_random_schemes_equal_nn_dataflow(seed):
    _run(seed, cases=50)   # 10 x 50 cases x 20 schemes = 10,000 schemes


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 200))
def test_random_schemes_equal_nn_dataflow_slow(seed):
    _run(seed, cases=50)
