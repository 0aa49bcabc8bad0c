"""The exact partition choice equals brute force over partition schemes x blockings.

Brute force: for every scheme, the exhaustive search of its blocking space under the full
cost (NoC included), then the best scheme by goal, the other quantity and enumeration order.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnsolve.heuristics import exhaustive
from nnsolve.model.goals import goal_value
from nnsolve.search.partition_choice import candidates_of, choose
from tests.strategies import GOALS, layer_sites


def brute_force(site, goal):
    best = None
    for c in candidates_of([site]):
        found = exhaustive.search_layer(c.problem, goal)
        if found.best is None:
            continue
        r = found.best.result
        key = (goal_value(r.energy, r.time, goal), r.energy if goal == "delay" else r.time)
        if best is None or key < best:
            best = key
    return best


def check(site, goal, method):
    expected = brute_force(site, goal)
    got = choose([site], method, goal)
    if expected is None:
        assert got.status == "infeasible"
        return
    assert got.status == "optimal"
    r = got.result
    assert (goal_value(r.energy, r.time, goal), r.energy if goal == "delay" else r.time) \
        == pytest.approx(expected, rel=1e-12, abs=0)
    # The result is the evaluator's score of the returned schedule on its scheme.
    again = got.candidate.problem
    from nnsolve.model.evaluate import evaluate_layer
    assert evaluate_layer(again, got.schedule).energy == r.energy
    # The bound holds for any ifmap layout, so in particular for this one.
    if got.bound is not None:
        assert got.bound <= goal_value(r.energy, r.time, goal) * (1 + 1e-12)


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.filter_too_much])


@settings(max_examples=40, **SETTINGS)
@given(layer_sites(), GOALS)
def test_exhaustive_choice_equals_brute_force(site, goal):
    check(site, goal, "exhaustive")


@settings(max_examples=40, **SETTINGS)
@given(layer_sites(), GOALS)
def test_cpsat_choice_equals_brute_force(site, goal):
    check(site, goal, "cpsat")


@settings(max_examples=8, **SETTINGS)
@given(layer_sites(kinds=("conv", "fc", "pool")), st.sampled_from(["energy", "delay"]))
def test_milp_choice_equals_brute_force(site, goal):
    check(site, goal, "milp")


@settings(max_examples=25, **SETTINGS)
@given(layer_sites(kinds=("dwconv",)), GOALS,
       st.sampled_from(["exhaustive", "cpsat", "cpsat", "milp"]))
def test_depthwise_choice_equals_brute_force(site, goal, method):
    check(site, goal, method)


@pytest.mark.slow
@settings(max_examples=400, **SETTINGS)
@given(layer_sites(), GOALS, st.sampled_from(["cpsat", "exhaustive"]))
def test_choice_equals_brute_force_many(site, goal, method):
    check(site, goal, method)


def test_bound_is_finite_for_energy():
    from nnsolve.hardware.spec import Costs, Hardware
    from nnsolve.model.layer import Layer
    from nnsolve.model.layout import DataLayout, ifmap_frng
    from nnsolve.model.partition import PartitionScheme
    from nnsolve.model.resources import LayerSite, chip_regions

    hw = Hardware((2, 2), (8, 8), 32, 4096)
    proc, mem = chip_regions(hw)
    layer = Layer.conv(16, 32, 8, 3)
    lay = DataLayout.of(ifmap_frng(2, 16, 10, 10), mem, PartitionScheme.trivial())
    site = LayerSite(layer, 2, hw, Costs(1, 200, 6, 2, 1, 10, 0), (True,) * 3, proc, mem, lay)
    got = choose([site], "cpsat")
    assert got.status == "optimal" and math.isfinite(got.bound)
    assert got.bound <= got.result.energy
