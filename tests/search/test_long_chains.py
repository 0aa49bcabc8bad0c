"""Networks of thousands of layers through the pipelined search (issue 14): the scheduling
DAG and its segments are built without recursion (a 1,000-layer chain overflowed Python's
stack), segments are planned only for the layers the search reaches, and
``solver.total_time_limit_s`` is honoured (it overran about 10x: every candidate segment was
planned first, and every layer solve got the whole per-layer limit).

Wall-clock times are measured by benchmarks, not asserted here.
"""

from __future__ import annotations

import itertools

import pytest

import nnsolve
from nnsolve.formats.scenario_yaml import scenario_from_dict
from nnsolve.model.layer import Layer
from nnsolve.model.network import Fmap, Network
from nnsolve.model.sched_dag import SegmentIndex, sched_dag, vertex_segments
from nnsolve.search import pipeline
from nnsolve.search.segments import SegmentPlans


def chain(n: int) -> Network:
    """n small CONV layers, one after another (kernels 1 and 3 alternate)."""
    net = Network(name=f"chain{n}", input=Fmap(8, 8, 8))
    for i in range(n):
        net.add(f"c{i}", Layer.conv(8, 8, 8, 3 if i % 2 else 1))
    return net


def chain_scenario(net: Network, **solver):
    return scenario_from_dict({"network": "x", "batch": 1,
                               "hardware": {"nodes": [2, 2], "pe_array": [4, 4]},
                               "search": {"interlayer": True, "save_writeback": True},
                               "solver": solver}, "<test>", network=net)


def test_a_1500_layer_chain_builds_its_dag_and_segments():
    net = chain(1500)
    dag = sched_dag(net)                                      # RecursionError before
    assert dag.layer_order == tuple(net.layers) and len(dag.vertices) == 1500
    assert dag.prevs[1499] == frozenset({1498}) and dag.nexts[0] == frozenset({1})
    index = SegmentIndex(dag)
    # Every range of a chain grows and is kept: those ending at the last vertex, by start.
    assert index.starts(1499) == tuple(range(1498, -1, -1))
    assert len(vertex_segments(dag, max_degree=3)) == 1500 + 1499 + 1498
    assert len(index.ending_at(1499)) == 1500
    plans = SegmentPlans(chain_scenario(net))
    first = next(plans.ending_at("c1499"))
    assert first.layers == ("c1499",) and first.regions[0].dims == (2, 2)
    assert plans.planned == 1                    # nothing planned for the other layers
    # The search path: the first layers' plans, and their candidates in order.
    segs = [p.segment for p in itertools.islice(plans.ending_at("c1"), 3)]
    assert segs[0] == (("c1",),)


@pytest.mark.parametrize("n", [6, 20])
def test_lazy_plans_equal_the_full_list(n):
    """Planned by last layer on demand, the plans are those of the full candidate list in
    its order (what the oracle tests compare with nn_dataflow)."""
    from nnsolve.model.segment import candidate_segments
    from nnsolve.search.segments import plan_segment

    sc = chain_scenario(chain(n))
    plans = SegmentPlans(sc)
    every = candidate_segments(sc.network, sched_dag(sc.network), True, True)
    seen, expected = set(), {name: [] for name in sc.network.layers}
    for seg in every:
        if seg not in seen:
            seen.add(seg)
            plan = plan_segment(sc, seg, plans.proc, plans.memory)
            if not isinstance(plan, str):
                expected[seg[-1][-1]].append(plan.segment)
    for name in reversed(sc.network.layers):
        assert [p.segment for p in plans.ending_at(name)] == expected[name]


def test_the_total_time_limit_cuts_a_long_chain(monkeypatch):
    """A 400-layer chain with a 1 s limit: status timeout, every layer scheduled, most
    candidate segments never planned (the search went single-layer when the beam's share
    of the limit ran out), and a bound still, the weaker one of the segments priced in time
    and the layers' own floors for the rest."""
    searches = []

    class Recorded(pipeline.PipelineSearch):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            searches.append(self)

    monkeypatch.setattr(pipeline, "PipelineSearch", Recorded)
    net = chain(400)
    res = nnsolve.solve(chain_scenario(net, total_time_limit_s=1.0, method="cpsat"))
    assert res.status == "timeout"
    assert [lo.name for lo in res.layers] == list(net.layers)
    assert any(n.startswith("time limit reached at layer") for n in res.notes)
    assert res.bound is not None and 0 < res.bound <= res.value
    assert any("weaker bound" in n for n in res.notes)
    search = searches[0]
    index = SegmentIndex(sched_dag(net))
    candidates = len(net.layers) + 2 * sum(len(index.starts(k)) for k in range(len(net)))
    assert search.plans.planned < candidates // 10
    assert search.late and search.timed_out


def test_without_a_limit_a_chain_is_searched_in_full():
    net = chain(12)
    res = nnsolve.solve(chain_scenario(net, method="exhaustive"))
    assert res.status != "timeout" and len(res.layers) == 12
    assert not any("time limit" in n for n in res.notes)
