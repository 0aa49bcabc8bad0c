"""Segment timing equals nn_dataflow 2.1's PipelineSegmentTiming.

nn_dataflow's timing reads a few fields of each layer's scheduling result; the tests hand it
stand-ins with those fields, built from the same numbers given to nnsolve.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnsolve.model.layer import Layer
from nnsolve.model.network import Fmap, Network
from nnsolve.model.sched_dag import sched_dag
from nnsolve.model.segment import SegmentFlow, candidate_segments, segment_flow
from nnsolve.model.segment_timing import LayerTiming, segment_timing, top_groups
from tests import oracle
from tests.model.test_sched_dag_oracle import small_dags

PERMS = list(itertools.permutations(range(3)))


def theirs(net, seg, tops, numbers):
    """nn_dataflow's timing: ``tops[name]`` = (level-0 factors, level-0 positions),
    ``numbers[name]`` = (time, node time, dram time, nodes)."""
    from nn_dataflow.core.pipeline_segment_timing import PipelineSegmentTiming

    timing = PipelineSegmentTiming(oracle.nd_network(net), 0)
    for sp, entry in enumerate(seg):
        for tm, name in enumerate(entry):
            (factors, positions), (time, node, dram, nodes) = tops[name], numbers[name]
            timing.add(name, SimpleNamespace(
                sched_seq=(0, sp, tm), scheme={"tvals": [factors], "orders": [positions]},
                total_time=time, total_node_time=node, total_dram_time=dram,
                num_nodes=nodes))
    return timing


def ours(net, seg, tops, numbers):
    layers = {}
    for name, (factors, positions) in tops.items():
        time, node, dram, nodes = numbers[name]
        tb, ti, to = top_groups(factors, positions)
        layers[name] = LayerTiming(time, node, dram, nodes, tb, ti, to)
    return segment_timing(net, seg, layers)


def check(net, seg, tops, numbers):
    a, b = ours(net, seg, tops, numbers), theirs(net, seg, tops, numbers)
    assert (a.time, a.node_time, a.dram_time, a.critical_time) == \
        (b.time, b.node_time, b.dram_time, b.critical_time)
    assert a.overhead == pytest.approx(b.time_overhead, rel=1e-12, abs=1e-12)
    oracle.record("segment timings", 1)
    return a


@st.composite
def timed_segments(draw):
    net = draw(small_dags())
    segs = [s for s in candidate_segments(net, sched_dag(net), True, True)
            if isinstance(segment_flow(net, s), SegmentFlow)]
    seg = draw(st.sampled_from(segs))
    tops, numbers = {}, {}
    tb = draw(st.sampled_from([1, 2, 4]))
    for entry in seg:
        nodes = draw(st.integers(1, 16))
        for name in entry:
            factors = (draw(st.sampled_from([1, 2, 3])), draw(st.sampled_from([1, 2, 3])),
                       tb if draw(st.integers(0, 4)) else draw(st.sampled_from([1, 2])))
            tops[name] = (factors, draw(st.sampled_from(PERMS)))
            node = draw(st.integers(1, 500))
            dram = draw(st.integers(0, 500))
            numbers[name] = (max(node, dram), node, dram, nodes)
    return net, seg, tops, numbers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timed_segments())
def test_random_segments(case):
    check(*case)


def _chain(kinds):
    net = Network("t", Fmap(4, 8, 8))
    for i, kind in enumerate(kinds):
        layer = Layer.conv(4, 4, 8, 3) if kind == "conv" else Layer.pool(4, 8, 3, 1)
        net.add(f"l{i}", layer)
    return net


def test_spec_examples():
    """Network spec §3.9's worked values: batch groups, group forwarding, DRAM bound."""
    net = _chain(["conv", "conv", "pool", "conv"])
    seg = (("l0",), ("l1", "l2"), ("l3",))
    bat4 = ((1, 1, 4), (0, 1, 2))             # batch loop outermost, 4 groups
    tops = dict.fromkeys(["l0", "l1", "l2", "l3"], bat4)
    numbers = {"l0": (120, 120, 0, 4), "l1": (130, 130, 0, 4), "l2": (20, 20, 0, 4),
               "l3": (136, 136, 0, 4)}
    t = check(net, seg, tops, numbers)
    assert (t.critical_time, t.time) == (150, 214)
    # DRAM-bound: the layers' DRAM times add up.
    dram = {n: (v[0], v[1], d, v[3]) for (n, v), d in zip(numbers.items(), [100, 140, 10, 100],
                                                           strict=True)}
    assert check(net, seg, tops, dram).time == 350
    # A producer emitting 3 OFM groups to a consumer reading 3 IFM groups, 2 batch groups.
    net2 = _chain(["conv", "conv"])
    seg2 = (("l0",), ("l1",))
    prod = ((1, 3, 2), (0, 1, 2))              # batch outermost, then OFM
    cons = ((3, 1, 2), (1, 0, 2))              # batch outermost, then IFM
    t = check(net2, seg2, {"l0": prod, "l1": cons},
              {"l0": (120, 120, 0, 4), "l1": (90, 90, 0, 4)})
    assert t.time == 125
