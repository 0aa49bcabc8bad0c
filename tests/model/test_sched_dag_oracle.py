"""The scheduling DAG and the candidate vertex segments equal nn_dataflow 2.1's.

On every zoo network and on random small DAGs (branches, merges, pooling and element-wise
chains, external inputs): the vertices in scheduling order, each vertex's predecessor and
successor vertices, and the vertex segments in generation order.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnsolve.formats.network_yaml import load_zoo, zoo_names
from nnsolve.model.layer import Layer
from nnsolve.model.network import INPUT, Fmap, Network
from nnsolve.model.sched_dag import INPUT_VERTEX, sched_dag, vertex_segments
from tests import oracle

#: Vertices and vertex segments of the zoo (network spec §6).
ZOO_COUNTS = {"alex_net": (13, 50), "vgg_net": (16, 136), "zfnet": (8, 36),
              "googlenet": (58, 202), "resnet50": (54, 227), "resnet152": (156, 635),
              "mlp_s": (3, 6), "mlp_m": (4, 10), "mlp_l": (4, 10), "lstm_gnmt": (16, 40),
              "lstm_phoneme": (6, 16), "lstm_showtell": (4, 10),
              # Beyond nn_dataflow's zoo: every depthwise layer is a vertex (see below).
              "mobilenet_v1": (28, 406), "mobilenet_v2": (53, 261)}


def compare(net: Network) -> tuple[int, int]:
    ours = sched_dag(net)
    theirs = oracle.interlayer(oracle.nd_network(depthwise_as_conv(net)))
    assert list(ours.vertices) == [tuple(v) for v in theirs.dag_vertex_list]
    assert list(ours.layer_order) == theirs.ordered_layer_list()
    for v in range(len(ours.vertices)):
        assert set(ours.prevs[v]) == theirs.dag_prev_dict[v]
        assert set(ours.nexts[v]) == theirs.dag_next_dict[v]
    segs = vertex_segments(ours)
    assert segs == oracle.vertex_segments(theirs)
    oracle.record("scheduling DAG vertices", len(ours.vertices))
    oracle.record("vertex segments", len(segs))
    return len(ours.vertices), len(segs)


def depthwise_as_conv(net: Network) -> Network:
    """The network with every depthwise layer a CONV of the same shape (C -> C): nn_dataflow
    has no depthwise layer, and a depthwise layer forms vertices as a CONV does (it has
    weights; only local-region layers merge into their producer's vertex)."""
    out = Network(net.name, net.input)
    out.external.update(net.external)
    for name, layer in net.layers.items():
        if layer.kind == "dwconv":
            layer = Layer.conv(layer.in_channels, layer.out_channels,
                               (layer.out_h, layer.out_w), (layer.kernel_h, layer.kernel_w),
                               (layer.stride_h, layer.stride_w))
        out.add(name, layer, net.prevs[name], name in net.cropped)
    return out


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_networks(name):
    counts = compare(load_zoo(name))
    if name in ZOO_COUNTS:
        assert counts == ZOO_COUNTS[name]


@st.composite
def small_dags(draw, layers=10):
    """Random DAGs of 4-channel 8x8 fmaps: CONV/FC layers reading one to three earlier
    outputs, pooling layers reading one, element-wise layers merging two or three."""
    net = Network("random", Fmap(4, 8, 8))
    if draw(st.booleans()):
        net.external["ext"] = Fmap(4, 8, 8)
    outputs = [INPUT, *net.external]
    for i in range(draw(st.integers(1, layers))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "pool", "eltwise", "eltwise"]))
        name = f"l{i}"
        if kind == "conv":
            prevs = draw(st.lists(st.sampled_from(outputs), min_size=1, max_size=3,
                                  unique=True))
            net.add(name, Layer.conv(4 * len(prevs), 4, 8, 3), tuple(prevs))
        elif kind == "pool":
            net.add(name, Layer.pool(4, 8, 3, 1), (draw(st.sampled_from(outputs)),))
        else:
            if len(outputs) < 2:
                continue
            prevs = draw(st.lists(st.sampled_from(outputs), min_size=2, max_size=3,
                                  unique=True))
            net.add(name, Layer.eltwise(4, 8, len(prevs)), tuple(prevs))
        outputs.append(name)
    if not net.layers:
        net.add("only", Layer.conv(4, 4, 8, 3), (INPUT,))
    return net


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_dags())
def test_random_dags(net):
    compare(net)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_dags(layers=60))
def test_larger_random_dags(net):
    """Up to 60 layers: long ranges, many starts (nn_dataflow's recursion is as deep)."""
    compare(net)


@settings(max_examples=60, deadline=None)
@given(small_dags(layers=30), st.integers(1, 6))
def test_max_degree_only_filters(net, degree):
    """Ranges are not grown past the degree: the same list, filtered, in the same order."""
    dag = sched_dag(net)
    assert vertex_segments(dag, degree) == [s for s in vertex_segments(dag) if
                                            len(s) <= degree]


def test_a_1500_layer_chain_without_recursion():
    """A chain of 1,500 layers (and a pooling layer merged into each vertex): the DFS and
    the segment generation used to recurse once per vertex (RecursionError at ~1,000)."""
    net = Network("chain", Fmap(4, 8, 8))
    for i in range(1500):
        net.add(f"c{i}", Layer.conv(4, 4, 8, 3))
        net.add(f"p{i}", Layer.pool(4, 8, 3, 1))
    dag = sched_dag(net)
    assert dag.vertices[0] == ("c0", "p0") and len(dag.vertices) == 1500
    assert dag.layer_order == tuple(net.layers)
    segs = vertex_segments(dag, 2)
    assert segs[:2] == [(0,), (1,)] and segs[1500:1502] == [(1498, 1499), (1497, 1498)]
    assert len(segs) == 1500 + 1499


def test_input_vertex_and_lookup():
    net = load_zoo("lstm_phoneme")
    dag = sched_dag(net)
    firsts = [v for v in range(len(dag.vertices)) if INPUT_VERTEX in dag.prevs[v]]
    assert firsts and all(dag.vertex_of(name) >= 0 for name in net.layers)
    assert dag.vertex_of(INPUT) == INPUT_VERTEX
