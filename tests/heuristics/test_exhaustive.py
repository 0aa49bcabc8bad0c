"""The exhaustive search: exactly nn_dataflow's space, and its pruning only a speed-up."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnsolve.hardware.spec import Costs, Hardware
from nnsolve.heuristics.exhaustive import scheme_space, search_layer
from nnsolve.model.evaluate import LayerProblem
from nnsolve.model.goals import goal_value
from nnsolve.model.layer import Layer
from nnsolve.model.mapping import map_layer
from tests import oracle
from tests.strategies import GOALS, layer_problems

UNIT = Costs(1, 200, 6, 2, 1, 0, 0)


@pytest.mark.parametrize("layer, batch, array", [
    (Layer.conv(12, 10, 28, 3), 4, (16, 16)),      # nn_dataflow's BASE test layer
    (Layer.conv(2, 4, 28, 20), 4, (16, 16)),       # LGFIL
    (Layer.fc(64, 24, 2), 6, (8, 8)),
    (Layer.conv(3, 48, 55, 11, 4), 2, (16, 16)),
])
def test_canonical_space_is_nn_dataflows_pruned_space_in_its_order(layer, batch, array):
    from nn_dataflow.core.loop_blocking import skip_conv

    for nld in map_layer(layer, batch, array).candidates:
        raw = scheme_space(nld, canonical=False)
        kept = [(f.tolist(), p.tolist(), r) for f, p, r in zip(raw.factors, raw.positions,
                                                               raw.rank, strict=True)
                if not skip_conv([tuple(x) for x in f], [tuple(x) for x in p])]
        ours = scheme_space(nld)
        assert len(ours) == len(kept)
        assert [(f.tolist(), p.tolist(), int(r)) for f, p, r in
                zip(ours.factors, ours.positions, ours.rank, strict=True)] == \
            [(f, p, int(r)) for f, p, r in kept]
        # Ranks follow nn_dataflow's enumeration: ti, to, tb, then the two orders.
        triples = [oracle.factorize3(n) for n in nld.loopcnt]
        perms = list(itertools.permutations(range(3)))
        expected = [(list(zip(*ts, strict=True)), [o0, o1])
                    for ts in itertools.product(*triples) for o0 in perms for o1 in perms]
        for f, p, r in kept[:: max(1, len(kept) // 50)]:
            bl_ts, ords = expected[r]
            assert [list(t) for t in bl_ts] == f and [list(o) for o in ords] == p


@st.composite
def small_problems(draw):
    return draw(layer_problems(kinds=("conv", "conv", "fc", "pool", "dwconv"))), draw(GOALS)


@given(small_problems())
def test_pruning_never_changes_the_optimum(case):
    problem, goal = case
    pruned = search_layer(problem, goal)
    full = search_layer(problem, goal, canonical=False)
    assert (pruned.best is None) == (full.best is None)
    if pruned.best is None:
        return
    best = [goal_value(r.best.result.energy, r.best.result.time, goal) for r in (pruned, full)]
    assert best[0] == best[1]
    assert (pruned.min_energy, pruned.min_time) == (full.min_energy, full.min_time)
    assert pruned.schemes <= full.schemes


def test_top_k_is_sorted_and_distinct():
    problem = LayerProblem.single_node(Layer.conv(48, 128, 27, 5), 4,
                                       Hardware((1, 1), (16, 16), 256, 65536), UNIT)
    found = search_layer(problem, "energy", top_k=10)
    energies = [t.result.energy for t in found.top]
    assert len(found.top) == 10 and energies == sorted(energies)
    assert len({(t.schedule.mapping_index, t.schedule.blocking) for t in found.top}) == 10
    assert found.best.result.energy == found.min_energy


def test_local_region_ties_go_to_the_first_valid_scheme():
    # Layer spec §6.4: pool1 of AlexNet picks to = (3,1,8), tb = (16,1,1), identity orders.
    problem = LayerProblem.single_node(Layer.pool(48, 27, 3, 2), 16,
                                       Hardware((1, 1), (16, 16), 256, 65536), UNIT)
    best = search_layer(problem).best
    f = best.schedule.blocking.factors
    assert [tuple(f[k][1] for k in range(3)), tuple(f[k][2] for k in range(3))] == \
        [(3, 1, 8), (16, 1, 1)]
    assert best.schedule.blocking.positions() == ((0, 1, 2), (0, 1, 2))
    assert (best.result.energy, best.result.time) == (624270336, 31104)


def test_no_valid_scheme_gives_no_result():
    problem = LayerProblem.single_node(Layer.conv(64, 64, 13, 3), 4,
                                       Hardware((1, 1), (16, 16), 2, 65536), UNIT)
    found = search_layer(problem)
    assert found.best is None and found.valid == 0 and found.schemes > 0
    assert np.isinf(found.min_energy)


def test_ranking_by_full_energy_can_beat_nn_dataflows_access_energy_ranking():
    """docs/divergences.md §3: with a finite array bus and static energy, time depends on the
    blocking; nn_dataflow ranks blocking by access energy alone and pays for it."""
    from nnsolve.model.evaluate import evaluate_layer
    from nnsolve.model.schedule import Blocking, LayerSchedule

    layer, batch = Layer.conv(16, 8, 14, 3), 4
    hw = Hardware((1, 1), (8, 8), regf_words=16, gbuf_words=16384, array_bus_width=1,
                  dram_bandwidth=4)
    costs = Costs(1, 200, 6, 2, 1, 0, idle=5000)
    bypass = (True, False, True)
    problem = LayerProblem.single_node(layer, batch, hw, costs, bypass)
    ours = search_layer(problem).best.result
    theirs = oracle.search_layer(layer, batch, hw, costs, bypass)
    # nn_dataflow's pick, re-scored by nnsolve's evaluator, costs what nn_dataflow says ...
    mapping = problem.mapping
    index = next(i for i, nld in enumerate(mapping.candidates)
                 if tuple(np.prod(theirs["tvals"], axis=0)) == nld.loopcnt)
    rescored = evaluate_layer(problem, LayerSchedule(
        index, Blocking.from_positions(theirs["tvals"], theirs["orders"])))
    assert rescored.energy == pytest.approx(theirs["cost"], rel=1e-9)
    assert rescored.access_cost <= ours.access_cost        # ... it has the least access energy,
    assert ours.energy < 0.6 * theirs["cost"]              # but far more energy in total.
