"""Whole pipelined networks equal nn_dataflow 2.1's network search.

With inter-layer pipelining and save-writeback on, nn_dataflow's beam (width 1) over segment
chains and nnsolve's give the same network energy and time, and every layer the same segment
index, position, energy and time. Each nnsolve layer is solved exactly, so it could in
principle beat nn_dataflow's per-node search, which ranks blockings by access cost alone;
on these cases it does not, and equality checks the segment machinery end to end: segment
candidates and validity, node allocation, per-layer places and forwarded ifmap layouts,
the constraints with their hint pruning and lazy rules, segment timing and the totals.
nnsolve uses nn_dataflow's element-wise rule here (docs/divergences.md §2).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnsolve
from nnsolve.formats.network_yaml import load_zoo
from nnsolve.formats.scenario_yaml import scenario_from_dict
from nnsolve.model.mapping import ModelRules
from nnsolve.search.network_search import Progress
from nnsolve.search.pipeline import solve_pipelined
from tests import oracle
from tests.model.test_sched_dag_oracle import small_dags

NND_RULES = ModelRules(eltwise_ifmaps="nn_dataflow")


def scenario(network: str = "mlp_s", nodes=(2, 2), batch: int = 4, **search):
    doc = {"network": network, "batch": batch,
           "hardware": {"nodes": list(nodes), "pe_array": [4, 4], "regf_bytes": 64,
                        "gbuf_bytes": 8192, "memory": "2D"},
           "costs": {"mac": 1, "dram": 200, "gbuf": 6, "itcn": 2, "regf": 1, "noc_hop": 10,
                     "idle": 0},
           "search": {"bypass": ["ifmap", "ofmap", "weight"], "partition": "hybrid",
                      "interlayer": True, "save_writeback": True, **search},
           "solver": {"method": "exhaustive"}}
    return scenario_from_dict(doc, "<test>")


def check(sc, search: bool = True) -> None:
    """nn_dataflow's schedule re-scored by nnsolve equals nn_dataflow's numbers; with
    ``search``, nnsolve's own search finds the same schedule costs."""
    theirs = oracle.search_scenario(sc)
    assert theirs is not None
    schedules, segments, inp = oracle.replay(sc, theirs, NND_RULES)
    replayed = nnsolve.evaluate(sc, schedules, NND_RULES, inp, segments)
    for lo in replayed.layers:
        r = theirs.res_dict[lo.name]
        assert (lo.result.energy, lo.result.time) == (r.total_cost, r.total_time), lo.name
    assert replayed.time == theirs.total_time
    assert replayed.energy == pytest.approx(theirs.total_cost, rel=1e-12)
    oracle.record("pipelined schedules re-scored equal", 1)
    if not search:
        return
    ours = solve_pipelined(sc, "exhaustive", Progress(), NND_RULES, improve=False)
    for lo in ours.layers:
        r = theirs.res_dict[lo.name]
        assert (lo.schedule.segment, lo.result.energy, lo.result.time) == \
            (r.sched_seq[0], r.total_cost, r.total_time), lo.name
    assert ours.time == theirs.total_time
    assert ours.energy == pytest.approx(theirs.total_cost, rel=1e-12)
    assert [s.time for s in ours.segments] == [t.time for t in theirs.segment_timing_list]
    oracle.record("pipelined networks equal", 1)
    oracle.record("pipeline segments equal", len(ours.segments))


@pytest.mark.parametrize("net", ["mlp_s", "lstm_phoneme"])
def test_zoo_networks(net):
    check(scenario(net))


def test_conv_network_with_pooling_branches_and_3d_memory():
    sc = scenario("alex_net", nodes=(2, 2), batch=1)
    small = _shrink(sc.network)
    check(replace(sc, network=small, hardware=replace(sc.hardware, memory="3D")))


@pytest.mark.parametrize("search", [
    {"interlayer_opt": False},
    {"pipeline_time_overhead": 0.5},
    {"goal": "delay"},
    {"save_writeback": False},
    {"interlayer": False},
    {"batch_partition": True, "access_forwarding": True},
])
def test_search_options(search):
    sc = scenario("mlp_m", **search)
    check(sc)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_dags(), st.sampled_from(["2D", "3D"]), st.booleans(), st.booleans(),
       st.sampled_from([(2, 2), (1, 4), (3, 3)]))
def test_random_dags(net, memory, opt, batch_partition, nodes):
    """On random DAGs nnsolve's search may take another path than nn_dataflow's (each layer
    exact where nn_dataflow ranks per-node blockings by access cost, then greedy), so
    only nn_dataflow's schedule is re-scored."""
    sc = scenario(nodes=nodes, interlayer_opt=opt, batch_partition=batch_partition)
    sc = replace(sc, network=net, hardware=replace(sc.hardware, memory=memory))
    check(sc, search=False)


def _shrink(net):
    """The first layers of AlexNet (both towers up to conv2 and pooling), made small."""
    from nnsolve.model.layer import Layer
    from nnsolve.model.network import Fmap, Network

    small = Network("alex_head", Fmap(3, 35, 35))
    small.add("conv1_a", Layer.conv(3, 8, 15, 7, 2), ("input",))
    small.add("pool1_a", Layer.pool(8, 7, 3, 2))
    small.add("conv1_b", Layer.conv(3, 8, 15, 7, 2), ("input",))
    small.add("pool1_b", Layer.pool(8, 7, 3, 2))
    small.add("conv2_a", Layer.conv(8, 8, 7, 3), ("pool1_a",))
    small.add("conv2_b", Layer.conv(8, 8, 7, 3), ("pool1_b",))
    small.add("sum", Layer.eltwise(8, 7, 2), ("conv2_a", "conv2_b"))
    small.add("fc", Layer.fc(8, 10, 7), ("sum",))
    return small


def test_shrunk_network_is_valid():
    net = _shrink(load_zoo("alex_net"))
    assert len(net.layers) == 8
