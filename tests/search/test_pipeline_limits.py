"""Time limits in the pipelined search: a layer solve past its limit still gives a schedule
(status timeout), and a selection bound cut by the limit is still a bound, never above any
schedule, priced by each layer's MACs and register-file accesses where segments were not
priced in time."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from nnsolve.search.network_search import Progress
from nnsolve.search.partition_choice import choose
from nnsolve.search.pipeline import PipelineSearch, solve_pipelined
from nnsolve.search.segment_bound import _bound_sites, any_floor, selection_bound
from tests.search.test_pipeline_oracle import scenario


@pytest.fixture(scope="module")
def solved():
    """mlp_m pipelined on 3x3 nodes (many segments) without a time limit."""
    sc = scenario("mlp_m", nodes=(3, 3))
    return sc, solve_pipelined(sc, "exhaustive", Progress(), improve=False)


def test_any_floor_is_below_every_layer_solved(solved):
    sc, result = solved
    search = PipelineSearch(sc, "exhaustive")
    c = sc.costs
    for lo in result.layers:
        regf = sum(lo.result.accesses["regf"].values())
        floor = any_floor(search, lo.name)
        assert floor.energy <= c.mac * lo.result.ops + c.regf * regf
        assert floor.energy <= lo.result.energy
        assert floor.energy > 0 and floor.time == 0


def test_a_bound_cut_before_any_pricing_is_the_sum_of_the_layer_floors(solved):
    sc, result = solved
    search = PipelineSearch(sc, "exhaustive")
    cut = selection_bound(search, "energy", deadline=-math.inf)
    total = sum(any_floor(search, name).energy for name in search.plans.order)
    assert not cut.complete and "weaker bound" in cut.note
    assert cut.bound == pytest.approx(total, rel=1e-12)
    assert cut.chain == []                      # nothing to follow
    full = selection_bound(PipelineSearch(sc, "exhaustive"), "energy")
    assert full.complete and cut.bound <= full.bound <= result.energy


def test_a_bound_cut_after_the_beam_keeps_the_beams_floors(solved):
    """The beam's exact floors still price their segments: the cut bound lies between the
    bound of layer floors alone and the full bound."""
    sc, result = solved
    search = PipelineSearch(sc, "exhaustive")
    search.run(Progress(), math.inf)
    assert search.floors
    cut = selection_bound(search, "energy", deadline=-math.inf)
    layers_only = sum(any_floor(search, name).energy for name in search.plans.order)
    full = selection_bound(PipelineSearch(sc, "exhaustive"), "energy")
    assert layers_only <= cut.bound <= full.bound <= result.energy


def test_a_layer_solve_past_its_limit_returns_a_schedule_and_a_bound():
    """Buffer sharing makes every method enumerate: past the limit it stops after the
    first group with a schedule (hurrying or not), with a bound below the optimum."""
    sc = scenario("alex_net", nodes=(2, 2), batch=2, gbuf_sharing=True)
    search = PipelineSearch(sc, "cpsat")
    cut_short = 0
    for name in search.plans.order:
        plan = next(iter(search.plans.ending_at(name, single=True)))
        sites = _bound_sites(search, plan, 0, 0)     # producers' ofmaps in DRAM
        best = choose(sites, "exhaustive", "energy")
        for hurry in (False, True):
            cut = choose(sites, "cpsat", "energy", time_limit=0.0, hurry=hurry)
            assert cut.candidate is not None and cut.result is not None
            assert cut.result.energy >= best.result.energy
            assert cut.bound <= best.bound * (1 + 1e-12) and cut.bound <= best.result.energy
            assert cut.status in ("timeout", "optimal")
            if cut.status == "timeout":
                assert any("time limit" in n for n in cut.notes)
                cut_short += 1
            else:
                assert cut.result.energy == best.result.energy
    assert cut_short > 0


def test_a_time_limited_pipelined_solve_reports_a_bound_and_its_status():
    sc = scenario("mlp_m", nodes=(3, 3))
    sc = replace(sc, solver=replace(sc.solver, total_time_limit_s=0.5))
    result = solve_pipelined(sc, "cpsat", Progress())
    full = solve_pipelined(scenario("mlp_m", nodes=(3, 3)), "cpsat", Progress())
    assert len(result.layers) == len(full.layers)
    assert result.bound is not None
    assert result.bound <= full.energy <= result.energy
    if any("time limit" in n for n in result.notes):
        assert result.status == "timeout"
