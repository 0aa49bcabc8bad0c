"""ONNX import: zoo-shaped graphs import to the zoo's layers, group splits, and clear errors.

Graphs are built with onnx.helper. Weights are typed graph inputs (shape only, no data), so
even AlexNet's 60 M weights cost nothing here.
"""

import re
import sys

import onnx
import pytest
from onnx import TensorProto, helper

from nnsolve.cli.main import main
from nnsolve.errors import InputError, NnsolveError
from nnsolve.formats.network_yaml import (
    load_network,
    load_zoo,
    network_from_dict,
    network_to_dict,
    resolve_network,
)
from nnsolve.formats.onnx import MAX_PARTS, load_onnx
from nnsolve.formats.scenario_yaml import load_scenario
from nnsolve.model.layer import Layer
from nnsolve.model.network import INPUT
from nnsolve.search.network_search import solve

F = TensorProto.FLOAT


class Graph:
    """An ONNX graph under construction; tracks each tensor's channels to size the weights."""

    def __init__(self, channels, size=None, input_name="data"):
        dims = [1, channels] if size is None else [1, channels, size, size]
        self.inputs = [helper.make_tensor_value_info(input_name, F, dims)]
        self.nodes, self.initializers, self.value_info = [], [], []
        self.channels = {input_name: channels}
        self.x = input_name

    def node(self, op, inputs, name="", channels=None, **attrs):
        out = f"t{len(self.nodes)}_{op}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        self.channels[out] = channels if channels is not None else self.channels[inputs[0]]
        return out

    def weight(self, name, dims):
        self.inputs.append(helper.make_tensor_value_info(name, F, dims))
        return name

    def conv(self, name, x, out, k, stride=1, pad=0, group=1, bn=True, relu=True):
        w = self.weight(f"{name}.w", [out, self.channels[x] // group, k, k])
        y = self.node("Conv", [x, w], name, out, kernel_shape=[k, k], strides=[stride] * 2,
                      pads=[pad] * 4, group=group)
        if bn:
            stats = [self.weight(f"{name}.bn{i}", [out]) for i in range(4)]
            y = self.node("BatchNormalization", [y, *stats])
        return self.node("Relu", [y]) if relu else y

    def pool(self, name, x, k, stride, pad=0, ceil=0, op="MaxPool"):
        return self.node(op, [x], name, kernel_shape=[k, k], strides=[stride] * 2,
                         pads=[pad] * 4, ceil_mode=ceil)

    def gemm(self, name, x, features, out):
        w = self.weight(f"{name}.w", [out, features])
        return self.node("Gemm", [x, w], name, out, transB=1)

    def save(self, path, output):
        graph = helper.make_graph(self.nodes, "test", self.inputs,
                                  [helper.make_tensor_value_info(output, F, None)],
                                  initializer=self.initializers, value_info=self.value_info)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.save(model, str(path))
        return path


def assert_matches(net, zoo, names=None):
    """Same layers in the same order, with the same shapes and predecessors."""
    names = list(zoo.layers) if names is None else names
    assert list(net.layers) == names
    for name in names:
        assert net[name] == zoo[name], name
        assert net.prevs[name] == zoo.prevs[name], name
    assert net.input == zoo.input


def alexnet(path):
    """BVLC AlexNet's structure: conv2/4/5 have group=2, with LRN, dropout and softmax."""
    g = Graph(3, 224)
    y = g.conv("conv1", g.x, 96, 11, stride=4, pad=2, bn=False)
    y = g.pool("pool1", g.node("LRN", [y], size=5), 3, 2)
    y = g.conv("conv2", y, 256, 5, pad=2, group=2, bn=False)
    y = g.pool("pool2", g.node("LRN", [y], size=5), 3, 2)
    y = g.conv("conv3", y, 384, 3, pad=1, bn=False)
    y = g.conv("conv4", y, 384, 3, pad=1, group=2, bn=False)
    y = g.conv("conv5", y, 256, 3, pad=1, group=2, bn=False)
    y = g.node("Flatten", [g.pool("pool3", y, 3, 2)], axis=1)
    y = g.node("Dropout", [g.node("Relu", [g.gemm("fc1", y, 256 * 6 * 6, 4096)])])
    y = g.node("Dropout", [g.node("Relu", [g.gemm("fc2", y, 4096, 4096)])])
    y = g.node("Softmax", [g.gemm("fc3", y, 4096, 1000)], axis=1)
    return g.save(path, y)


def test_alexnet_with_groups_imports_as_the_zoo_alexnet(tmp_path):
    net = load_onnx(alexnet(tmp_path / "alexnet.onnx"))
    zoo = load_zoo("alex_net")
    assert_matches(net, zoo)
    assert net.name == "alexnet"
    assert net.total_ops() == zoo.total_ops() and net.total_weights() == zoo.total_weights()


def resnet_head(path):
    """ResNet-50 up to its first stride-2 bottleneck, with batch norms and ReLUs."""
    g = Graph(3, 224)
    y = g.pool("pool1", g.conv("conv1", g.x, 64, 7, stride=2, pad=3), 3, 2, pad=1)
    for stage, blocks, width, stride in ((2, 3, 64, 1), (3, 1, 128, 2)):
        for block in range(blocks):
            s = stride if block == 0 else 1
            a = g.conv(f"conv{stage}_{block}_a", y, width, 1, stride=s)
            b = g.conv(f"conv{stage}_{block}_b", a, width, 3, pad=1)
            c = g.conv(f"conv{stage}_{block}_c", b, 4 * width, 1, relu=False)
            short = g.conv(f"conv{stage}_br", y, 4 * width, 1, stride=s, relu=False) \
                if block == 0 else y
            y = g.node("Relu", [g.node("Add", [short, c], f"conv{stage}_{block}_res")])
    return g.save(path, y)


def test_resnet_blocks_import_as_the_zoo_resnet50_layers(tmp_path):
    net = load_onnx(resnet_head(tmp_path / "resnet.onnx"))
    zoo = load_zoo("resnet50")
    assert_matches(net, zoo, list(zoo.layers)[:20])
    assert list(net.layers)[-1] == "conv3_0_res" and net["conv3_0_res"].inputs == 2


def test_global_pool_flatten_and_gemm_match_the_resnet50_tail(tmp_path):
    g = Graph(2048, 7)
    y = g.node("Flatten", [g.node("GlobalAveragePool", [g.x], "pool5")], axis=1)
    net = load_onnx(g.save(tmp_path / "tail.onnx", g.gemm("fc", y, 2048, 1000)))
    zoo = load_zoo("resnet50")
    assert net["pool5"] == zoo["pool5"] and net["fc"] == zoo["fc"]
    assert net.prevs == {"pool5": (INPUT,), "fc": ("pool5",)}


def test_mlp_with_matmul_and_bias_adds_matches_the_zoo_mlp(tmp_path):
    g = Graph(784)
    y = g.x
    for i, (k, m) in enumerate(((784, 500), (500, 250), (250, 10)), start=1):
        g.initializers.append(helper.make_tensor(f"b{i}", F, [m], [0.0] * m))
        y = g.node("Add", [g.node("MatMul", [y, g.weight(f"w{i}", [k, m])], f"fc{i}", m),
                           f"b{i}"])
        y = g.node("Relu", [y])
    assert_matches(load_onnx(g.save(tmp_path / "mlp.onnx", y)), load_zoo("mlp_s"))


def test_a_pytorch_style_export_imports(tmp_path):
    """Dynamic batch, names with / and ., a bias initializer and x.view(x.size(0), -1)."""
    g = Graph(3, 32, input_name="input.1")
    g.inputs[0] = helper.make_tensor_value_info("input.1", F, ["batch", 3, 32, 32])
    g.initializers.append(helper.make_tensor("conv.bias", F, [16], [0.0] * 16))
    y = g.node("Conv", [g.x, g.weight("conv.weight", [16, 3, 3, 3]), "conv.bias"],
               "/features/features.0/Conv", 16, kernel_shape=[3, 3], pads=[1] * 4)
    y = g.node("MaxPool", [g.node("Relu", [y], "/features/features.1/Relu")],
               "/features/features.2/MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    for name, value in (("zero", [0]), ("minus_one", [-1])):
        g.nodes.append(helper.make_node("Constant", [], [name], value=helper.make_tensor(
            name, TensorProto.INT64, [1], value)))
    batch = g.node("Gather", [g.node("Shape", [y], "/Shape"), "zero"], "/Gather", axis=0)
    shape = g.node("Concat", [batch, "minus_one"], "/Concat", axis=0)
    y = g.node("Reshape", [y, shape], "/Reshape")
    net = load_onnx(g.save(tmp_path / "torch.onnx", g.gemm("/classifier/Gemm", y, 4096, 10)))
    assert list(net.layers) == ["features_features_0_Conv", "features_features_2_MaxPool",
                                "classifier_Gemm"]
    assert net["classifier_Gemm"] == Layer.fc(16, 10, 16)

def inception(g, name, x, widths):
    one, r3, c3, r5, c5, proj = widths
    branches = [g.conv(f"{name}_1x1", x, one, 1, bn=False),
                g.conv(f"{name}_3x3", g.conv(f"{name}_3x3_reduce", x, r3, 1, bn=False),
                       c3, 3, pad=1, bn=False),
                g.conv(f"{name}_5x5", g.conv(f"{name}_5x5_reduce", x, r5, 1, bn=False),
                       c5, 5, pad=2, bn=False),
                g.conv(f"{name}_pool_proj", x, proj, 1, bn=False)]
    return g.node("Concat", branches, channels=sum(g.channels[b] for b in branches), axis=1)


def test_concat_becomes_multiple_predecessors_as_in_the_zoo_googlenet(tmp_path):
    g = Graph(3, 224)
    y = g.pool("pool1", g.conv("conv1", g.x, 64, 7, stride=2, pad=3, bn=False), 3, 2, ceil=1)
    y = g.conv("conv2_3x3_reduce", y, 64, 1, bn=False)
    y = g.pool("pool2", g.conv("conv2_3x3", y, 192, 3, pad=1, bn=False), 3, 2, ceil=1)
    y = inception(g, "inception_3a", y, (64, 96, 128, 16, 32, 32))
    y = inception(g, "inception_3b", y, (128, 128, 192, 32, 96, 64))
    y = g.pool("pool3", y, 3, 2, ceil=1)
    net = load_onnx(g.save(tmp_path / "googlenet.onnx", y))
    zoo = load_zoo("googlenet")
    assert_matches(net, zoo, list(zoo.layers)[:18])
    assert len(net.prevs["pool3"]) == 4                  # one pooling layer over four inputs


def test_groups_across_a_concat_split_the_layers_that_feed_them(tmp_path):
    g = Graph(8, 8)
    a = g.conv("a", g.x, 6, 1, bn=False)
    b = g.conv("b", g.x, 2, 1, bn=False)
    cat = g.node("Concat", [a, b], channels=8, axis=1)
    grouped = g.conv("g", cat, 4, 3, pad=1, group=4, bn=False)    # 2 channels in, 1 out each
    pooled = g.pool("p", grouped, 2, 2)
    other = g.pool("q", g.conv("c", g.x, 4, 1, bn=False), 2, 2)
    y = g.node("Add", [pooled, other], "s")
    net = load_onnx(g.save(tmp_path / "split.onnx", g.conv("h", y, 16, 1, bn=False)))
    assert list(net.layers) == ["a_a", "a_b", "a_c", "b", "g_a", "g_b", "g_c", "g_d",
                                "p_a", "p_b", "p_c", "p_d", "c", "q", "s", "h"]
    assert all(net[f"a_{x}"] == Layer.conv(8, 2, 8, 1) for x in "abc")
    assert [net.prevs[f"g_{x}"] for x in "abcd"] == [("a_a",), ("a_b",), ("a_c",), ("b",)]
    assert all(net[f"g_{x}"] == Layer.conv(2, 1, 8, 3) for x in "abcd")
    assert [net.prevs[f"p_{x}"] for x in "abcd"] == [(f"g_{x}",) for x in "abcd"]
    assert net.prevs["s"] == ("p_a", "p_b", "p_c", "p_d", "q")   # the sum is not split
    assert net["s"] == Layer.eltwise(4, 4, 2)
    assert net["h"] == Layer.conv(4, 16, 4, 1)


def test_import_writes_a_yaml_that_reads_back_equal(tmp_path, capsys):
    model, out = alexnet(tmp_path / "alexnet.onnx"), tmp_path / "out" / "alex.yaml"
    out.parent.mkdir()
    assert main(["import", str(model), "-o", str(out), "--name", "AlexNet"]) == 0
    assert "wrote" in capsys.readouterr().out
    back, net = load_network(out), load_onnx(model, name="AlexNet")
    assert back.name == "AlexNet"
    assert back.layers == net.layers and back.prevs == net.prevs and back.input == net.input
    assert list(back.layers) == list(net.layers)


def test_a_scenario_names_an_onnx_model_relative_to_itself(tmp_path):
    alexnet(tmp_path / "model.onnx")
    (tmp_path / "s.yaml").write_text("network: model.onnx\nbatch: 2\n")
    scenario = load_scenario(tmp_path / "s.yaml")
    assert_matches(scenario.network, load_zoo("alex_net"))
    assert resolve_network("model.onnx", tmp_path).layers == scenario.network.layers


# -- errors -------------------------------------------------------------------------------

def error_of(path):
    with pytest.raises(InputError) as info:
        load_onnx(path)
    assert info.value.source == str(path)
    return str(info.value)


def test_an_unsupported_op_names_the_node_and_lists_the_supported_ones(tmp_path):
    g = Graph(4, 8)
    y = g.node("DepthToSpace", [g.conv("c", g.x, 4, 1)], "d2s", blocksize=2)
    message = error_of(g.save(tmp_path / "t.onnx", y))
    assert "node 'd2s' (DepthToSpace)" in message and "not supported" in message
    assert "Conv" in message and "GlobalAveragePool" in message
    g = Graph(4, 8)
    y = g.node("Transpose", [g.conv("c", g.x, 4, 1)], "tr", perm=[0, 1, 3, 2])
    message = error_of(g.save(tmp_path / "t.onnx", y))
    assert "node 'tr' (Transpose)" in message and "not supported" in message
    assert "channel shuffle" in message
    g = Graph(4, 8)
    y = g.node("LpNormalization", [g.node("Relu", [g.x])])
    assert "node #1 (LpNormalization)" in error_of(g.save(tmp_path / "u.onnx", y))


def test_a_missing_or_non_onnx_file_is_an_input_error(tmp_path):
    assert "not found" in error_of(tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_text("name: not a model\nlayers: []\n")
    assert "not an ONNX model" in error_of(bad)


def test_without_the_onnx_package_the_error_says_what_to_install(tmp_path, monkeypatch):
    model = alexnet(tmp_path / "alexnet.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)          # makes `import onnx` fail
    with pytest.raises(NnsolveError, match=re.escape("pip install 'nnsolve[onnx]'")):
        load_onnx(model)

def test_cli_errors_exit_with_code_2_and_one_line(tmp_path, capsys):
    assert main(["import", str(tmp_path / "none.onnx"), "-o", str(tmp_path / "o.yaml")]) == 2
    err = capsys.readouterr().err
    assert "none.onnx" in err and "not found" in err and "Traceback" not in err
    g = Graph(4, 8)
    model = g.save(tmp_path / "t.onnx", g.node("Transpose", [g.x], "tr", perm=[0, 1, 3, 2]))
    assert main(["import", str(model), "-o", str(tmp_path / "o.yaml")]) == 2
    assert "node 'tr' (Transpose)" in capsys.readouterr().err
    assert not (tmp_path / "o.yaml").exists()


def test_a_grouped_conv_whose_split_would_slice_the_network_input_is_one_grouped_layer(
        tmp_path):
    """Splitting gc would split the pool before it and so the network input, which a layer
    reads whole: gc becomes one grouped layer instead (on the input itself too)."""
    g = Graph(4, 8)
    net = load_onnx(g.save(tmp_path / "g.onnx", g.conv("gi", g.x, 4, 3, pad=1, group=2)))
    assert list(net.layers) == ["gi"]
    assert net["gi"] == Layer.conv(4, 4, 8, 3, groups=2)
    g = Graph(4, 8)
    pool = g.node("MaxPool", [g.x], "pool", kernel_shape=[1, 1])
    y = g.conv("gc", pool, 4, 3, pad=1, group=2)
    net = load_onnx(g.save(tmp_path / "h.onnx", y))
    assert list(net.layers) == ["pool", "gc"]
    assert net["gc"] == Layer.conv(4, 4, 8, 3, groups=2) and net.prevs["gc"] == ("pool",)


def test_a_depthwise_conv_imports_as_one_dwconv_layer(tmp_path):
    """group = channels in = channels out: one depthwise layer, however many channels (the
    old import split it into one layer per channel and refused more than MAX_PARTS), on
    the network input too."""
    g = Graph(2 * MAX_PARTS, 8)
    y = g.conv("dw1", g.x, 2 * MAX_PARTS, 3, pad=1, group=2 * MAX_PARTS)
    y = g.conv("dw2", y, 2 * MAX_PARTS, 3, stride=2, pad=1, group=2 * MAX_PARTS)
    net = load_onnx(g.save(tmp_path / "dw.onnx", g.conv("pw", y, 16, 1)))
    assert list(net.layers) == ["dw1", "dw2", "pw"]
    assert net["dw1"] == Layer.dwconv(2 * MAX_PARTS, 8, 3)
    assert net["dw2"] == Layer.dwconv(2 * MAX_PARTS, 4, 3, 2)
    assert net["pw"] == Layer.conv(2 * MAX_PARTS, 16, 4, 1)


def test_a_depthwise_conv_after_a_group_split_is_split_channel_by_channel(tmp_path):
    g = Graph(4, 8)
    y = g.conv("pw", g.x, 8, 1)
    y = g.conv("gc", y, 8, 3, pad=1, group=2)                    # two groups of 4 channels
    net = load_onnx(g.save(tmp_path / "s.onnx", g.conv("dw", y, 8, 3, pad=1, group=8)))
    assert list(net.layers) == ["pw_a", "pw_b", "gc_a", "gc_b", "dw_a", "dw_b"]
    assert net["dw_a"] == net["dw_b"] == Layer.dwconv(4, 8, 3)
    assert (net.prevs["dw_a"], net.prevs["dw_b"]) == (("gc_a",), ("gc_b",))


def test_a_grouped_conv_of_many_groups_is_one_grouped_layer_that_solves(tmp_path):
    """128 groups (beyond MAX_PARTS, which once made this an error): one conv layer with
    groups, nothing before it split; it solves on one node, and costs 128 times one group
    of 2 -> 1 channels (tests/search/test_grouped.py checks that)."""
    g = Graph(3, 8)
    y = g.conv("gc", g.conv("pw", g.x, 4 * MAX_PARTS, 1), 2 * MAX_PARTS, 3, pad=1,
               group=2 * MAX_PARTS)                              # 2 channels in, 1 out each
    path = g.save(tmp_path / "gc.onnx", y)
    net = load_onnx(path)
    assert list(net.layers) == ["pw", "gc"]
    assert net["gc"] == Layer.conv(4 * MAX_PARTS, 2 * MAX_PARTS, 8, 3, groups=2 * MAX_PARTS)
    assert net["gc"].ops() == 2 * MAX_PARTS * 8 * 8 * 2 * 9     # all groups' MACs
    assert net["gc"].weight_words() == 2 * MAX_PARTS * 2 * 9
    back = network_from_dict(network_to_dict(net), "gc.yaml")        # nnsolve import's YAML
    assert back.layers == net.layers and back.prevs == net.prevs
    (tmp_path / "s.yaml").write_text("network: gc.onnx\nbatch: 2\n"
                                     "hardware: {pe_array: [12, 14], gbuf_bytes: 65536}\n")
    result = solve(load_scenario(tmp_path / "s.yaml"), "cpsat")
    assert result.layers["gc"].status == "optimal"
    assert result.layers["gc"].result.ops == 2 * net["gc"].ops()


def test_a_grouped_layer_splits_at_its_group_boundaries(tmp_path):
    """A 2-group conv after an 8-group one splits it in two grouped layers of 4 groups
    (and the layer before with it); a 4-group conv whose cuts fall inside the 6 groups of
    the layer before it becomes a grouped layer too."""
    g = Graph(3, 8)
    y = g.conv("gc", g.conv("pw", g.x, 16, 1), 8, 3, pad=1, group=8)   # 2 in, 1 out each
    net = load_onnx(g.save(tmp_path / "a.onnx", g.conv("h", y, 4, 1, group=2)))
    assert list(net.layers) == ["pw_a", "pw_b", "gc_a", "gc_b", "h_a", "h_b"]
    assert net["gc_a"] == net["gc_b"] == Layer.conv(8, 4, 8, 3, groups=4)
    assert (net.prevs["gc_a"], net.prevs["gc_b"]) == (("pw_a",), ("pw_b",))
    g = Graph(3, 8)
    y = g.conv("gc", g.conv("pw", g.x, 12, 1), 12, 3, pad=1, group=6)  # groups of 2
    net = load_onnx(g.save(tmp_path / "b.onnx", g.conv("h", y, 8, 1, group=4)))
    assert list(net.layers) == ["pw", "gc", "h"]
    assert net["h"] == Layer.conv(12, 8, 8, 1, groups=4)


def mobilenet_v1(g: Graph) -> str:
    """MobileNet v1 (Howard et al. 2017, Table 1) as a framework exports it: 3x3 convolutions
    padded by one, depthwise as group = channels, batch norm and ReLU after each."""
    y = g.conv("conv1", g.x, 32, 3, stride=2, pad=1)
    blocks = [("conv2_1", 64, 1), ("conv2_2", 128, 2), ("conv3_1", 128, 1),
              ("conv3_2", 256, 2), ("conv4_1", 256, 1), ("conv4_2", 512, 2),
              *((f"conv5_{i}", 512, 1) for i in range(1, 6)), ("conv5_6", 1024, 2),
              ("conv6", 1024, 1)]
    for name, out, stride in blocks:
        c = g.channels[y]
        y = g.conv(f"{name}_dw", y, c, 3, stride=stride, pad=1, group=c)
        y = g.conv(f"{name}_sep", y, out, 1)
    y = g.node("AveragePool", [y], "pool6", kernel_shape=[7, 7], strides=[7, 7])
    y = g.node("Flatten", [y])
    return g.node("Softmax", [g.gemm("fc7", y, 1024, 1000)])


def test_mobilenet_v1_imports_as_the_zoo_mobilenet_v1(tmp_path):
    g = Graph(3, 224)
    net = load_onnx(g.save(tmp_path / "mobilenet.onnx", mobilenet_v1(g)))
    assert_matches(net, load_zoo("mobilenet_v1"))


def test_padding_that_the_layer_shape_cannot_express_is_an_error(tmp_path):
    g = Graph(4, 8)
    message = error_of(g.save(tmp_path / "p.onnx", g.conv("wide", g.x, 4, 1, pad=2)))
    assert "node 'wide' (Conv)" in message and "cannot express" in message


def test_a_declared_shape_that_disagrees_with_the_attributes_is_an_error(tmp_path):
    g = Graph(4, 8)
    y = g.conv("c", g.x, 4, 3, pad=1, bn=False, relu=False)
    g.value_info.append(helper.make_tensor_value_info(y, F, [1, 4, 7, 7]))
    message = error_of(g.save(tmp_path / "v.onnx", y))
    assert "node 'c' (Conv)" in message and "4, 7, 7" in message


def test_two_data_inputs_and_a_reshape_that_is_not_a_flatten_are_errors(tmp_path):
    g = Graph(4, 8)
    g.inputs.append(helper.make_tensor_value_info("other", F, [1, 4, 8, 8]))
    y = g.node("Add", [g.x, "other"], "sum")
    assert "one data input" in error_of(g.save(tmp_path / "two.onnx", y))
    g = Graph(4, 8)
    g.initializers.append(helper.make_tensor("shape", TensorProto.INT64, [3], [1, 16, 16]))
    y = g.node("Reshape", [g.conv("c", g.x, 4, 1), "shape"], "rs")
    message = error_of(g.save(tmp_path / "rs.onnx", y))
    assert "node 'rs' (Reshape)" in message and "flatten" in message


def test_a_floor_mode_window_crops_the_unread_rows_and_reads_back(tmp_path):
    """8 wide, 3x3 stride 2, no pads: 3 outputs read rows 0..6; row 7 is left unread."""
    g = Graph(4, 8)
    net = load_onnx(g.save(tmp_path / "f.onnx", g.conv("c", g.x, 4, 3, stride=2)))
    assert (net["c"].out_h, net["c"].in_h, net.cropped) == (3, 7, {"c"})
    out = tmp_path / "f.yaml"
    assert main(["import", str(tmp_path / "f.onnx"), "-o", str(out)]) == 0
    assert "crop: true" in out.read_text()
    assert load_network(out).cropped == {"c"}


# -- graph order: cycles, unsorted graphs, tensors written twice ----------------------------

def _cyclic(g):
    """conv1 -> add(conv1, relu) -> relu -> add: the Add reads a tensor written after it.
    Read in file order this imported as conv1 and conv2 alone (the Add's later input taken
    for a constant bias, the cycle cut without a word)."""
    c1 = g.conv("conv1", g.x, 4, 1, bn=False, relu=False)
    g.nodes.append(helper.make_node("Add", [c1, "r"], ["a"], name="add"))
    g.nodes.append(helper.make_node("Relu", ["a"], ["r"], name="relu"))
    g.channels["r"] = 4
    return g.conv("conv2", "r", 4, 1, bn=False, relu=False)


def test_a_cyclic_graph_is_an_error_naming_the_cycle(tmp_path, capsys):
    g = Graph(4, 8)
    model = g.save(tmp_path / "cyc.onnx", _cyclic(g))
    message = error_of(model)
    assert "cycle: node 'relu' (Relu) -> node 'add' (Add) -> node 'relu' (Relu)" in message
    assert main(["import", str(model), "-o", str(tmp_path / "o.yaml")]) == 2
    assert "cycle" in capsys.readouterr().err and not (tmp_path / "o.yaml").exists()


def test_a_node_reading_its_own_output_is_a_cycle(tmp_path):
    g = Graph(4, 8)
    c1 = g.conv("conv1", g.x, 4, 1, bn=False, relu=False)
    g.nodes.append(helper.make_node("Add", [c1, "s"], ["s"]))
    message = error_of(g.save(tmp_path / "self.onnx", "s"))
    assert "cycle: node #1 (Add) -> node #1 (Add)" in message


def test_an_unsorted_acyclic_graph_imports_in_topological_order(tmp_path):
    """ONNX requires topological order; a graph without it imports as if sorted (stable)."""
    g = Graph(4, 8)
    y = g.conv("c2", g.conv("c1", g.x, 8, 1, bn=False, relu=False), 4, 3, pad=1, bn=False,
               relu=False)
    g.nodes.reverse()
    net = load_onnx(g.save(tmp_path / "rev.onnx", y))
    assert list(net.layers) == ["c1", "c2"] and net.prevs["c2"] == ("c1",)


def test_a_tensor_written_twice_is_an_error(tmp_path):
    g = Graph(4, 8)
    y = g.conv("c1", g.x, 4, 1, bn=False, relu=False)
    g.nodes.append(helper.make_node("Relu", [g.x], [y], name="again"))
    message = error_of(g.save(tmp_path / "twice.onnx", y))
    assert "node 'again' (Relu)" in message and "node 'c1' (Conv) writes too" in message
    g = Graph(4, 8)
    g.nodes.append(helper.make_node("Relu", [g.x], [g.x], name="inplace"))
    assert "also a graph input" in error_of(g.save(tmp_path / "inplace.onnx", g.x))


def test_long_node_and_tensor_names_are_cut(tmp_path):
    """Names from the model reach messages cut, and layer names within MAX_NAME."""
    from nnsolve.formats.fields import MAX_NAME

    g = Graph(4, 8)
    y = g.node("Transpose", [g.conv("c" * 5000, g.x, 4, 1)], "t" * 5000, perm=[0, 1, 3, 2])
    message = error_of(g.save(tmp_path / "t.onnx", y))
    assert "node 'tttttt" in message and "...' (Transpose)" in message and len(message) < 600
    g = Graph(4, 8)
    net = load_onnx(g.save(tmp_path / "c.onnx", g.conv("c" * 5000, g.x, 4, 1)))
    assert all(len(name) <= MAX_NAME for name in net.layers)


def test_a_mean_over_height_and_width_is_a_global_pool(tmp_path):
    """PyTorch exports x.mean([2, 3]) as ReduceMean; with keepdims=0 it also flattens."""
    g = Graph(2048, 7)
    y = g.node("ReduceMean", [g.x], "pool5", axes=[2, 3], keepdims=0)
    net = load_onnx(g.save(tmp_path / "tail.onnx", g.gemm("fc", y, 2048, 1000)))
    zoo = load_zoo("resnet50")
    assert net["pool5"] == zoo["pool5"] and net["fc"] == zoo["fc"]
    g = Graph(8, 4)
    y = g.node("ReduceMax", [g.conv("c", g.x, 8, 1)], "gmp", axes=[-2, -1])
    assert load_onnx(g.save(tmp_path / "k.onnx", g.node("Relu", [y])))["gmp"] == \
        Layer.pool(8, 1, 4)
