"""ONNX import of token sequences ([batch, tokens, features]): MatMul by a weight matrix is a
1x1 convolution over the tokens x 1 fmap, LayerNorm and GELU fold, and a product of two
activations (attention) is an error naming the node; a BERT-base encoder block without its
attention products imports as nets/bert_block.yaml."""

import onnx
from onnx import TensorProto, helper

from nnsolve.formats.network_yaml import load_zoo
from nnsolve.formats.onnx import import_onnx, load_onnx
from nnsolve.model.layer import Layer
from nnsolve.model.network import INPUT, Fmap
from tests.formats.test_onnx import assert_matches, error_of

F = TensorProto.FLOAT


class Sequence:
    """An ONNX graph over [1, tokens, features] activations; weights are typed graph inputs."""

    def __init__(self, tokens, features):
        self.inputs = [helper.make_tensor_value_info("x", F, [1, tokens, features])]
        self.nodes, self.initializers = [], []
        self.tokens, self.x = tokens, "x"

    def node(self, op, inputs, name="", **attrs):
        out = f"t{len(self.nodes)}_{op}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def const(self, name, values, dims=None, kind=F):
        self.initializers.append(helper.make_tensor(name, kind, dims or [len(values)], values))
        return name

    def linear(self, name, x, k, m):
        """MatMul by a [k, m] weight and a bias Add, as PyTorch exports nn.Linear."""
        self.inputs.append(helper.make_tensor_value_info(f"{name}.w", F, [k, m]))
        bias = self.const(f"{name}.b", [0.0] * m)
        return self.node("Add", [self.node("MatMul", [x, f"{name}.w"], name), bias])

    def layer_norm(self, x, name):
        """LayerNorm over the features, decomposed as opset-17 exporters write it."""
        mean = self.node("ReduceMean", [x], f"{name}.mean", axes=[-1])
        d = self.node("Sub", [x, mean])
        var = self.node("ReduceMean", [self.node("Pow", [d, self.const(f"{name}.two", [2.0])])],
                        axes=[-1])
        std = self.node("Sqrt", [self.node("Add", [var, self.const(f"{name}.eps", [1e-12])])])
        y = self.node("Div", [d, std])
        return self.node("Add", [self.node("Mul", [y, self.const(f"{name}.g", [1.0])]),
                                 self.const(f"{name}.b", [0.0])])

    def gelu(self, x):
        """x * 0.5 * (1 + erf(x / sqrt 2)), as BERT exports it."""
        erf = self.node("Erf", [self.node("Div", [x, self.const(f"s{len(self.nodes)}",
                                                                 [1.4142135])])])
        half = self.node("Mul", [x, self.const(f"h{len(self.nodes)}", [0.5])])
        return self.node("Mul", [half, self.node("Add", [erf, self.const(f"o{len(self.nodes)}",
                                                                          [1.0])])])

    def heads(self, x, heads, perm):
        """[1, T, d] -> [1, heads, T, d / heads] (perm 0,2,1,3) or its transpose (0,2,3,1)."""
        shape = self.const(f"heads{len(self.nodes)}", [1, self.tokens, heads, -1],
                           kind=TensorProto.INT64)
        return self.node("Transpose", [self.node("Reshape", [x, shape])], perm=perm)

    def save(self, path, output):
        graph = helper.make_graph(self.nodes, "seq", self.inputs,
                                  [helper.make_tensor_value_info(output, F, None)],
                                  initializer=self.initializers)
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                  str(path))
        return path


def bert_block(path, tokens=128, hidden=768, heads=12, ffn=3072, attention=True):
    """A BERT-base encoder block (post-LN); without ``attention`` the attention output
    projection reads V where it would read softmax(Q K^T / sqrt(d)) V."""
    s = Sequence(tokens, hidden)
    q = s.linear("q", s.x, hidden, hidden)
    k = s.linear("k", s.x, hidden, hidden)
    v = s.linear("v", s.x, hidden, hidden)
    if attention:
        scores = s.node("MatMul", [s.heads(q, heads, [0, 2, 1, 3]),
                                   s.heads(k, heads, [0, 2, 3, 1])], "scores")
        probs = s.node("Softmax", [s.node("Div", [scores, s.const("scale", [8.0])])], axis=-1)
        context = s.node("MatMul", [probs, s.heads(v, heads, [0, 2, 1, 3])], "context")
        shape = s.const("merge", [1, tokens, hidden], kind=TensorProto.INT64)
        v = s.node("Reshape", [s.node("Transpose", [context], perm=[0, 2, 1, 3]), shape])
    h = s.layer_norm(s.node("Add", [s.linear("attn_out", v, hidden, hidden), s.x], "add1"),
                     "ln1")
    f = s.linear("ffn2", s.gelu(s.linear("ffn1", h, hidden, ffn)), ffn, hidden)
    return s.save(path, s.layer_norm(s.node("Add", [f, h], "add2"), "ln2"))


def test_a_matmul_over_tokens_is_a_1x1_conv_over_a_column_of_tokens(tmp_path):
    s = Sequence(16, 32)
    y = s.linear("fc", s.x, 32, 48)
    net, folded = import_onnx(s.save(tmp_path / "t.onnx", s.node("Relu", [y])), None)
    assert net.input == Fmap(32, 16, 1)
    assert net["fc"] == Layer.conv(32, 48, (16, 1), 1)     # weights reused by all 16 tokens
    assert net.prevs["fc"] == (INPUT,) and folded["Add"] == 1


def test_layer_norm_gelu_and_softmax_fold(tmp_path):
    s = Sequence(8, 16)
    y = s.gelu(s.linear("fc", s.layer_norm(s.x, "ln"), 16, 64))
    y = s.node("Softmax", [s.layer_norm(y, "ln2")], axis=-1)
    net, folded = import_onnx(s.save(tmp_path / "t.onnx", s.linear("out", y, 64, 16)), None)
    assert list(net.layers) == ["fc", "out"] and net.prevs["out"] == ("fc",)
    assert folded["ReduceMean"] == 4 and folded["Erf"] == 1 and folded["Mul"] >= 2
    s = Sequence(8, 16)
    s.inputs += [helper.make_tensor_value_info(n, F, [16]) for n in ("g", "b")]
    y = s.node("LayerNormalization", [s.x, "g", "b"], axis=-1)
    assert list(load_onnx(s.save(tmp_path / "l.onnx", s.linear("fc", y, 16, 16))).layers) == \
        ["fc"]


def test_bert_block_without_attention_imports_as_the_shipped_network(tmp_path):
    net = load_onnx(bert_block(tmp_path / "bert.onnx", attention=False))
    zoo = load_zoo("bert_block")
    assert_matches(net, zoo)
    assert net.total_ops() == zoo.total_ops() == 128 * (4 * 768 * 768 + 2 * 768 * 3072) + \
        2 * 2 * 768 * 128                       # six weight layers and two residual adds


def test_a_product_of_two_activations_is_an_error_naming_the_node(tmp_path):
    message = error_of(bert_block(tmp_path / "bert.onnx", tokens=8, hidden=32, heads=4,
                                  ffn=64))
    assert "node 'scores' (MatMul)" in message and "two activations" in message
    assert "per sample" in message


def test_a_reduction_over_tokens_or_without_keepdims_is_an_error(tmp_path):
    s = Sequence(8, 16)
    y = s.node("ReduceMean", [s.x], "pool", axes=[1])
    message = error_of(s.save(tmp_path / "r.onnx", s.linear("fc", y, 16, 16)))
    assert "node 'pool' (ReduceMean)" in message and "features" in message
    s = Sequence(8, 16)
    y = s.node("Sub", [s.x, s.node("ReduceMean", [s.x], "m", axes=[-1], keepdims=0)])
    message = error_of(s.save(tmp_path / "k.onnx", y))
    assert "node 'm' (ReduceMean)" in message and "keepdims=0" in message


def test_a_statistic_read_by_a_layer_is_an_error(tmp_path):
    s = Sequence(8, 16)
    mean = s.node("ReduceMean", [s.x], axes=[-1])
    message = error_of(s.save(tmp_path / "s.onnx", s.linear("fc", mean, 1, 16)))
    assert "node 'fc' (MatMul)" in message and "statistic" in message


def test_a_flattened_sequence_feeds_an_fc_layer_over_all_tokens(tmp_path):
    s = Sequence(16, 32)
    y = s.node("Flatten", [s.linear("fc", s.x, 32, 8)], axis=1)
    s.inputs.append(helper.make_tensor_value_info("head.w", F, [10, 16 * 8]))
    net = load_onnx(s.save(tmp_path / "t.onnx", s.node("Gemm", [y, "head.w"], "head",
                                                        transB=1)))
    assert net["head"] == Layer.fc(8, 10, (16, 1)) and net.prevs["head"] == ("fc",)
