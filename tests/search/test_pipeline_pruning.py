"""Pruning segments by their floors changes nothing but the work: the pruned beam returns
the schedule the unpruned beam does, layer for layer, on zoo networks and random DAGs."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnsolve.search.network_search import Progress
from nnsolve.search.pipeline import solve_pipelined
from tests.model.test_sched_dag_oracle import small_dags
from tests.search.test_pipeline_oracle import scenario


def _same(sc, method: str = "exhaustive") -> int:
    """Solve with and without pruning; assert equal schedules; the segments pruned."""
    pruned = solve_pipelined(sc, method, Progress(), improve=False)
    full = solve_pipelined(sc, method, Progress(), improve=False, prune=False)
    assert [(lo.name, lo.schedule, lo.result.energy, lo.result.time) for lo in pruned.layers] \
        == [(lo.name, lo.schedule, lo.result.energy, lo.result.time) for lo in full.layers]
    assert (pruned.energy, pruned.time) == (full.energy, full.time)
    assert [s.time for s in pruned.segments] == [s.time for s in full.segments]
    notes = " ".join(pruned.notes)
    return int(notes.split(" segments skipped")[0].rsplit("(", 1)[1]) \
        if "segments skipped" in notes else 0


@pytest.mark.parametrize("net, width, nodes", [
    ("mlp_m", 1, (2, 2)), ("mlp_m", 3, (2, 2)), ("lstm_phoneme", 2, (2, 2)),
    ("mlp_s", 1, (3, 3)),
])
def test_pruned_beam_equals_the_full_beam_on_zoo_networks(net, width, nodes):
    sc = scenario(net, nodes=nodes)
    sc = replace(sc, solver=replace(sc.solver, beam_width=width))
    _same(sc)


def test_pruning_skips_segments_somewhere():
    """Not vacuous: on a network with many candidate segments some are skipped."""
    assert _same(scenario("mlp_m", nodes=(3, 3))) > 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_dags(), st.sampled_from(["2D", "3D"]), st.integers(1, 2),
       st.sampled_from([(2, 2), (1, 4), (3, 3)]))
def test_pruned_beam_equals_the_full_beam_on_random_dags(net, memory, width, nodes):
    sc = scenario(nodes=nodes)
    sc = replace(sc, network=net, hardware=replace(sc.hardware, memory=memory),
                 solver=replace(sc.solver, beam_width=width))
    _same(sc)


def _bounds(sc) -> tuple:
    from nnsolve.search.pipeline import PipelineSearch
    from nnsolve.search.segment_bound import selection_bound

    out = []
    for lazy in (True, False):
        search = PipelineSearch(sc, "exhaustive")
        b = selection_bound(search, sc.search.goal, lazy=lazy)
        out.append((b, search.layer_solves))
    return tuple(out)


@pytest.mark.parametrize("net, goal, nodes", [
    ("mlp_m", "energy", (3, 3)), ("mlp_m", "delay", (2, 2)), ("lstm_phoneme", "edp", (2, 2)),
])
def test_lazy_bound_equals_the_bound_of_every_segment_priced_exactly(net, goal, nodes):
    sc = scenario(net, nodes=nodes, goal=goal)
    (lazy, lazy_solves), (eager, eager_solves) = _bounds(sc)
    assert lazy.bound == pytest.approx(eager.bound, rel=1e-12)
    assert (lazy.energy, lazy.time) == pytest.approx((eager.energy, eager.time), rel=1e-12)
    assert lazy.segments == eager.segments and lazy_solves <= eager_solves


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_dags(), st.sampled_from(["2D", "3D"]), st.sampled_from([(2, 2), (3, 3)]))
def test_lazy_bound_on_random_dags(net, memory, nodes):
    sc = scenario(nodes=nodes)
    sc = replace(sc, network=net, hardware=replace(sc.hardware, memory=memory))
    (lazy, _), (eager, _) = _bounds(sc)
    assert (lazy.bound is None) == (eager.bound is None)
    if eager.bound is not None:
        assert lazy.bound == pytest.approx(eager.bound, rel=1e-12)
