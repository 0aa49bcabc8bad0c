"""ONNX import of channel shuffles (Reshape to [batch, g, C/g, H, W], Transpose, Reshape back):
no layer, and grouped consumers read exactly the producers' channels the shuffle gives them."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from nnsolve.formats.onnx import import_onnx, load_onnx
from tests.formats.test_onnx import Graph, error_of


def shuffle(g, x, groups, size, perm=(0, 2, 1, 3, 4), back=None, names=("split", "swap",
                                                                         "join")):
    """ShuffleNet's channel shuffle of ``x`` (channels x size x size) into ``groups``."""
    c = g.channels[x]
    split = f"{names[0]}.shape"
    join = f"{names[2]}.shape"
    g.initializers.append(helper.make_tensor(split, TensorProto.INT64, [5],
                                             [1, groups, c // groups, size, size]))
    g.initializers.append(helper.make_tensor(join, TensorProto.INT64, [4],
                                             back or [1, c, size, size]))
    y = g.node("Reshape", [x, split], names[0])
    y = g.node("Transpose", [y], names[1], perm=list(perm))
    return g.node("Reshape", [y, join], names[2], channels=c)


def shuffled_source(channels, groups):
    """The input channel each output channel of a shuffle holds."""
    return np.arange(channels).reshape(groups, channels // groups).T.reshape(-1)


def test_a_shuffle_between_ungrouped_layers_is_no_layer(tmp_path):
    g = Graph(4, 8)
    y = shuffle(g, g.conv("a", g.x, 12, 1), 3, 8)
    net, folded = import_onnx(g.save(tmp_path / "s.onnx", g.conv("b", y, 6, 3, pad=1)), None)
    assert list(net.layers) == ["a", "b"] and net.prevs["b"] == ("a",)
    assert folded["Reshape"] == 2 and folded["Transpose"] == 1


@pytest.mark.parametrize("channels, before, groups, after", [
    (8, 2, 2, 2), (12, 3, 3, 3), (12, 2, 3, 4), (24, 4, 2, 3), (24, 1, 4, 2), (12, 3, 4, 1)])
def test_grouped_layers_around_a_shuffle_read_the_shuffled_channels(tmp_path, channels, before,
                                                                    groups, after):
    """Each group after the shuffle reads the layers holding exactly the producer channels
    that the shuffle moves into its slice, however the group counts relate."""
    g = Graph(channels, 4)
    x = g.conv("p", g.conv("s", g.x, channels, 1), channels, 1, group=before)
    y = shuffle(g, x, groups, 4)
    net = load_onnx(g.save(tmp_path / "s.onnx", g.conv("q", y, channels, 3, pad=1,
                                                       group=after)))
    held, start = {}, 0                       # producer layer -> its channels of x
    for name in (n for n in net.layers if n.startswith("p")):
        held[name] = set(range(start, start + net[name].out_channels))
        start += net[name].out_channels
    assert start == channels
    source = shuffled_source(channels, groups)
    consumers = [n for n in net.layers if n.startswith("q")]
    assert len(consumers) == after
    step = channels // after
    for k, name in enumerate(consumers):
        read = set().union(*(held[p] for p in net.prevs[name]))
        assert read == set(source[k * step:(k + 1) * step].tolist()), name
        assert net[name].in_channels == step


def test_shufflenet_groups_split_each_producer_group_into_quarters(tmp_path):
    """A group-4 1x1 conv, a 4-way shuffle and a group-4 conv: 16 producer layers, each
    group after the shuffle reading one quarter of every producer group (docs/scenarios.md)."""
    g = Graph(16, 4)
    y = shuffle(g, g.conv("p", g.conv("s", g.x, 16, 1), 16, 1, group=4), 4, 4)
    net = load_onnx(g.save(tmp_path / "s.onnx", g.conv("q", y, 16, 1, group=4)))
    producers = [n for n in net.layers if n.startswith("p_")]
    assert len(producers) == 16 and all(net[n].out_channels == 1 for n in producers)
    for k in range(4):                  # group k of q reads channel k of each producer group
        assert net.prevs[f"q_{'abcd'[k]}"] == tuple(producers[k::4])


def test_a_shuffle_then_a_split_pool_splits_through_both(tmp_path):
    g = Graph(8, 8)
    y = shuffle(g, g.conv("p", g.conv("s", g.x, 8, 1), 8, 1, group=2), 2, 8)
    y = g.pool("pool", y, 2, 2)
    net = load_onnx(g.save(tmp_path / "s.onnx", g.conv("q", y, 8, 3, pad=1, group=2)))
    assert [n for n in net.layers if n.startswith("p_")] == ["p_a", "p_b", "p_c", "p_d"]
    assert net.prevs["pool_a"] == ("p_a", "p_c") and net.prevs["pool_b"] == ("p_b", "p_d")
    assert net.prevs["q_a"] == ("pool_a",) and net.prevs["q_b"] == ("pool_b",)


def test_reshapes_and_transposes_that_undo_each_other_fold(tmp_path):
    g = Graph(4, 8)
    y = shuffle(g, g.conv("a", g.x, 12, 1), 3, 8, perm=(0, 1, 2, 3, 4))
    y = g.node("Transpose", [g.node("Transpose", [y], perm=[0, 2, 3, 1])], perm=[0, 3, 1, 2])
    net = load_onnx(g.save(tmp_path / "s.onnx", g.conv("b", y, 6, 1)))
    assert list(net.layers) == ["a", "b"] and net.prevs["b"] == ("a",)


def test_a_chain_that_moves_rows_or_columns_is_an_error_naming_the_node(tmp_path):
    g = Graph(4, 8)
    y = shuffle(g, g.conv("a", g.x, 12, 1), 3, 8, perm=(0, 2, 1, 4, 3))
    message = error_of(g.save(tmp_path / "s.onnx", g.conv("b", y, 6, 1)))
    assert "node 'join' (Reshape)" in message and "node 'split' (Reshape)" in message
    assert "not whole channels" in message


def test_a_layer_reading_a_5d_tensor_is_an_error_naming_both_nodes(tmp_path):
    g = Graph(4, 8)
    y = shuffle(g, g.conv("a", g.x, 12, 1), 3, 8, back=[1, 6, 16, 8])   # not the fmap again
    message = error_of(g.save(tmp_path / "s.onnx", g.conv("b", y, 6, 1)))
    assert "node 'b' (Conv)" in message and "node 'split' (Reshape)" in message
    assert "[batch, 6, 16, 8]" in message and "channel shuffle" in message


def test_a_chain_that_no_layer_reads_is_an_error(tmp_path):
    g = Graph(4, 8)
    g.initializers.append(helper.make_tensor("five", TensorProto.INT64, [5], [1, 2, 6, 8, 8]))
    y = g.node("Reshape", [g.conv("a", g.x, 12, 1), "five"], "split")
    message = error_of(g.save(tmp_path / "s.onnx", g.node("Relu", [y])))
    assert "node 'split' (Reshape)" in message and "no layer reads" in message



def test_features_of_a_sequence_shuffle_like_channels(tmp_path):
    """[T, d] -> [T, g, d/g] -> swap the last two -> [T, d]: a feature permutation."""
    from tests.formats.test_onnx_tokens import Sequence

    s = Sequence(8, 12)
    y = s.linear("a", s.x, 12, 12)
    y = s.node("Reshape", [y, s.const("split", [1, 8, 3, 4], kind=TensorProto.INT64)])
    y = s.node("Transpose", [y], perm=[0, 1, 3, 2])
    y = s.node("Reshape", [y, s.const("join", [1, 8, 12], kind=TensorProto.INT64)])
    net, folded = import_onnx(s.save(tmp_path / "t.onnx", s.linear("b", y, 12, 6)), None)
    assert list(net.layers) == ["a", "b"] and net.prevs["b"] == ("a",)
    assert folded["Transpose"] == 1
    s = Sequence(8, 12)
    y = s.node("Transpose", [s.linear("a", s.x, 12, 12)], "swap", perm=[0, 2, 1])   # [d, T]
    message = error_of(s.save(tmp_path / "u.onnx", s.linear("b", y, 8, 6)))
    assert "node 'b' (MatMul)" in message and "node 'swap' (Transpose)" in message
