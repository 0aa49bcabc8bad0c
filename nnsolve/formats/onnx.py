"""Importing an ONNX model as a network (``network: model.onnx`` and ``nnsolve import``).

The graph is read node by node, in its (topological) order:

- ``Conv`` (2-D) becomes a CONV layer; ``Gemm`` and ``MatMul`` with a weight matrix become FC
  layers, but a ``MatMul`` of a [batch, tokens, features] sequence becomes a 1x1 CONV over the
  tokens x 1 fmap (the weights serve every token); ``MaxPool``, ``AveragePool``,
  ``GlobalAveragePool`` and ``GlobalMaxPool`` become POOL layers; ``Add``, ``Sum``, ``Sub``
  and ``Mul`` of activations of one shape become ELTWISE layers. A ``MatMul`` of two
  activations (attention) is an error: a layer's second operand is weights, shared by the
  batch.
- ``Concat`` on the channel axis makes no layer: its consumers list all its inputs as
  predecessors, which a network reads as a channel concatenation.
- Ops that keep the shape and cost next to nothing are folded away (FOLDED_OPS: activations,
  normalisations, LRN, dropout, softmax), as are ``Add``/``Sub``/``Mul``/``Div``/``Pow`` with
  a constant (biases and scales), element-wise ops of a tensor with itself (GELU's
  x * Phi(x)), reshapes that only flatten a fmap, and anything computed from constants and
  shapes alone. Reductions over the features (LayerNorm's mean and variance) are statistics,
  which fold like constants into the ops that apply them.
- Reshape/Transpose chains that only permute channels (a channel shuffle) make no layer (a
  _SHUFFLE op, tracked element by element in onnx_views.py): consumers read the producers'
  channels in the permuted order, and group splits follow the channels through it.
- A depthwise convolution (``group`` = input channels = output channels) becomes one DWCONV
  layer, whatever its number of channels.
- A grouped convolution of at most SPLIT_GROUPS groups becomes one layer per group
  (``conv2`` -> ``conv2_a``, ``conv2_b``), as nn_dataflow's AlexNet writes it. A group reads
  only its slice of the input channels, but a layer reads whole predecessors, so the layers
  that produce the input are split at the group boundaries too: a convolution or FC layer by
  output channels, a pooling, depthwise or element-wise layer channel by channel (a pooling
  layer after a split is split the same way, again like the zoo's AlexNet).
- A grouped convolution of more groups, or one whose split would slice the network input
  (which cannot be split) or split a tensor into more than MAX_PARTS layers, becomes one
  CONV layer with ``groups`` (G identical groups run one after another, docs/networks.md):
  nothing before it is split. If a later layer splits its
  output, the split falls on group boundaries (each part a grouped layer of fewer groups,
  reading its groups' input channels); elsewhere it is an error naming the node.

Sizes come from the attributes. Padding only decides the output size (nnsolve does not store
it), and the result must satisfy the layer's input-size rule (``Layer.accepts_input_size``);
every shape ONNX's shape inference knows is checked against ours. The batch dimension is
ignored: the scenario gives the batch.
"""

from __future__ import annotations

import bisect
import heapq
import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from ..errors import MAX_SHOWN, InputError, NnsolveError, clip, quote
from ..model.layer import CONV, DWCONV, ELTWISE, FC, POOL, Layer
from ..model.network import INPUT, Fmap, Network
from . import onnx_views
from .fields import MAX_NAME

MAX_PARTS = 64
"""The most layers one tensor may be split into for grouped convolutions."""

SPLIT_GROUPS = 4
"""The most groups of a convolution that is split into one layer per group (nn_dataflow's
habit: its AlexNet's towers); a convolution of more groups is one grouped layer."""

MAX_CYCLE_SHOWN = 8
"""The most nodes of a cycle that its error lists."""

CONV_OPS = ("Conv",)
FC_OPS = ("Gemm", "MatMul")
POOL_OPS = ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool")
ELTWISE_OPS = ("Add", "Sum", "Sub", "Mul")
CONCAT_OPS = ("Concat",)
FOLDED_OPS = ("Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid",
              "HardSwish", "Tanh", "Softplus", "Softsign", "Clip", "Gelu", "Erf", "Mish",
              "BatchNormalization", "InstanceNormalization", "LayerNormalization", "LRN",
              "Dropout", "Identity", "Softmax", "LogSoftmax", "Sqrt", "Reciprocal", "Neg",
              "Abs", "Exp", "Log", "Cast")
CONSTANT_OPERAND_OPS = ("Add", "Sub", "Mul", "Div", "Pow")   # folded when all but one input
                                                              # are constants (or statistics)
RESHAPE_OPS = ("Flatten", "Reshape", "Squeeze", "Unsqueeze")   # folded when they only flatten
TRANSPOSE_OPS = ("Transpose",)    # with the reshapes, folded when they only permute channels
REDUCE_OPS = ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceSumSquare",
              "ReduceL2")         # over the features only: a statistic such as LayerNorm's
SHAPE_OPS = ("Shape", "Size")                          # their outputs are shapes, not data

# Inputs from this position on are weights or settings, never activations.
_FIRST_WEIGHT_INPUT = {"Conv": 1, "Gemm": 1, "MatMul": 1, "BatchNormalization": 1,
                       "InstanceNormalization": 1, "LayerNormalization": 1, "PRelu": 1,
                       "Clip": 1, "Dropout": 1, "Reshape": 1, "Squeeze": 1, "Unsqueeze": 1,
                       "Shape": 1, "Size": 1, **dict.fromkeys(REDUCE_OPS, 1)}

_VIEW_RULE = ("nnsolve folds Reshape/Transpose that flatten a fmap, keep its shape or together "
              "permute its channels (a channel shuffle: Reshape to [batch, g, C/g, H, W], "
              "Transpose perm (0, 2, 1, 3, 4), Reshape back); layers read [batch, C, H, W], "
              "[batch, tokens, features] or [batch, features]")
_CONCAT = "concat"
_SHUFFLE = "shuffle"     # a channel permutation: no layer; consumers read the permuted channels


def supported_ops() -> str:
    """The op list that error messages and the summary show."""
    layers = (*CONV_OPS, *FC_OPS, *POOL_OPS, *ELTWISE_OPS, *CONCAT_OPS)
    folded = (*FOLDED_OPS, "Div", "Pow", *RESHAPE_OPS, *TRANSPOSE_OPS, *REDUCE_OPS)
    return f"layers from {', '.join(layers)}; folded: {', '.join(folded)}"


@dataclass(frozen=True)
class _Shape:
    """An activation tensor per sample: channels x h x w; ``flat`` once flattened to a vector;
    ``tokens`` for a [tokens, features] sequence (features are the channels, the tokens lie
    down one fmap column: h = tokens, w = 1); ``view`` for the dimensions of a tensor that a
    Reshape/Transpose chain made and that no layer can read (onnx_views.py)."""

    channels: int
    h: int
    w: int
    flat: bool = False
    tokens: bool = False
    view: tuple[int, ...] = ()

    def dims(self) -> list[int]:
        """The ONNX dimensions after the batch."""
        if self.view:
            return list(self.view)
        if self.flat:
            return [self.channels * self.h * self.w]
        return [self.h, self.channels] if self.tokens else [self.channels, self.h, self.w]


@dataclass
class _Op:
    """A node that becomes layers (or, for Concat, joins tensors): its shape parameters."""

    label: str
    name: str
    kind: str
    inputs: list[str]          # root tensors read, in input order
    output: str                # the root tensor written
    x: _Shape                  # the (first) input's shape
    out: _Shape
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    groups: int = 1
    split: bool = False        # CONV: one layer per group (else one grouped layer)
    crop: bool = False         # the window leaves trailing input rows/columns unread
    order: tuple[int, ...] = ()   # _SHUFFLE: the input channel that each output channel holds


class _SplitFails(Exception):
    """The group splits cannot be made as they stand: ``label`` names the node they come
    from; ``error`` is what the user sees if that node's split cannot be dropped."""

    def __init__(self, label: str, error: InputError):
        super().__init__(label)
        self.label, self.error = label, error


def load_onnx(path: str | Path, name: str | None = None) -> Network:
    """The network of an ONNX model; every unsupported construct is an InputError."""
    return import_onnx(path, name)[0]




def import_onnx(path: str | Path, name: str | None) -> tuple[Network, Counter]:
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError(source, None, "ONNX model not found")
    try:
        import onnx
    except ImportError:
        raise NnsolveError(f"{source}: reading ONNX models needs the onnx package: "
                           "pip install 'nnsolve[onnx]'") from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:   # protobuf raises its own DecodeError; any failure means the same
        raise InputError(source, None, f"not an ONNX model (cannot parse it: {exc})") from None
    if model.ir_version == 0 or not model.graph.node:
        raise InputError(source, None, "not an ONNX model (no ir_version or no graph nodes)")
    order = _node_order(model.graph, source)      # before anything reads the graph's edges
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:   # onnx raises several types; all mean a broken model
        raise InputError(source, None, f"ONNX shape inference failed: {exc}") from None
    importer = _Importer(onnx, inferred, source)
    return importer.run(name or path.stem, order), importer.folded


class _Importer:
    """One model's conversion: shapes node by node, then group splits, then the layers."""

    def __init__(self, onnx: Any, model: Any, source: str):
        self.onnx = onnx
        self.graph = model.graph
        self.source = source
        self.initializers = {t.name: t for t in self.graph.initializer}
        self.constants = {n.output[0]: n for n in self.graph.node
                          if n.op_type == "Constant" and n.output}
        # Shapes given in the model or found by shape inference (a tensor may have several).
        self.declared: dict[str, list[list[int | str | None]]] = {}
        for info in (*self.graph.input, *self.graph.value_info, *self.graph.output):
            dims = _type_dims(info.type)
            if dims is not None:
                self.declared.setdefault(info.name, []).append(dims)
        self.shapes: dict[str, _Shape] = {}   # every activation tensor
        self.root: dict[str, str] = {}        # tensor -> the tensor whose layers hold its data
        self.ops: list[_Op] = []
        self.folded: Counter = Counter()
        self.batch: int | str | None = None    # the network input's batch dimension
        # Tensors of Reshape/Transpose chains: the layout they started from, and the view.
        self.views: dict[str, tuple[_Shape, onnx_views.View]] = {}
        self.unread: dict[str, str] = {}       # views no node has read yet -> their node
        self.stats: set[str] = set()           # statistics over the features (LayerNorm's)

    def error(self, where: str | None, message: str) -> InputError:
        """An InputError naming the model file and the node."""
        return InputError(self.source, where, message)

    # -- pass 1: shapes ---------------------------------------------------------------------

    def run(self, name: str, order: list[int]) -> Network:
        """The network, named ``name``; ``order`` is the nodes' topological order."""
        first = self.first = self._network_input()
        for index in order:
            self._node(index, self.graph.node[index])
        if self.unread:
            tensor, where = next(iter(self.unread.items()))
            raise self.error(where, f"leaves {quote(tensor)} as a [batch, "
                                    f"{', '.join(map(str, self.shapes[tensor].dims()))}] tensor "
                                    f"that no layer reads, which is not supported: {_VIEW_RULE}")
        if not self.ops or all(op.kind in (_CONCAT, _SHUFFLE) for op in self.ops):
            raise self.error(None, f"no node that makes a layer reads the network input; "
                                   f"supported: {supported_ops()}")
        while True:
            try:
                cuts = self._cuts(first)
                break
            except _SplitFails as exc:
                # That convolution's split cannot be made: it becomes one grouped layer.
                splits = [op for op in self.ops if op.split and op.label == exc.label]
                if not splits:
                    raise exc.error from None
                splits[0].split = False
        return self._build(name, first, cuts)

    def _network_input(self) -> str:
        used_as_data = set()
        for node in self.graph.node:
            limit = _FIRST_WEIGHT_INPUT.get(node.op_type, len(node.input))
            used_as_data.update(node.input[:limit])
        inputs = [i for i in self.graph.input
                  if i.name not in self.initializers and i.name in used_as_data]
        if len(inputs) != 1:
            found = clip(", ".join(quote(i.name) for i in inputs), 4 * MAX_SHOWN) or "none"
            raise self.error(None, f"nnsolve imports models with one data input (the others "
                                   f"must be weights or initializers); found {found}")
        info = inputs[0]
        dims = _type_dims(info.type)
        rule = ("[batch, channels, height, width], [batch, tokens, features] or [batch, "
                "features] with fixed sizes after the batch")
        if dims is None or len(dims) not in (2, 3, 4) or not all(
                isinstance(d, int) and d > 0 for d in dims[1:]):
            raise self.error(f"input {quote(info.name)}", f"has shape {_show_dims(dims)}; nnsolve "
                                                     f"needs {rule}")
        if len(dims) == 3:
            shape = _Shape(dims[2], dims[1], 1, tokens=True)
        else:
            shape = _Shape(dims[1], 1, 1, flat=True) if len(dims) == 2 else _Shape(*dims[1:])
        self.shapes[info.name] = shape
        self.root[info.name] = info.name
        self.batch = dims[0]
        return info.name

    def _node(self, index: int, node: Any) -> None:
        op = node.op_type
        where = _where(index, node)
        data = [(pos, n) for pos, n in enumerate(node.input) if n in self.shapes]
        if op in SHAPE_OPS:
            return                    # its output is a shape, not data
        if not data:
            self._statistic(where, node)   # a computation on constants (or statistics)
            return
        if node.domain not in ("", "ai.onnx"):
            raise self.error(where, f"op {node.domain}.{op} is not supported; "
                                    f"{supported_ops()}")
        for _, tensor in data:
            self.unread.pop(tensor, None)
        if op in FC_OPS and len(data) > 1:
            raise self.error(where, f"{op} multiplies two activations (as attention does: "
                                    f"Q.K^T, softmax(S).V); nnsolve cannot express that "
                                    f"faithfully: its weights are shared by every sample of the "
                                    f"batch, and a second activation operand differs per sample "
                                    f"(docs/networks.md); {op} needs a constant second operand")
        views = [n for _, n in data if n in self.views]
        if views and op not in (*RESHAPE_OPS, *TRANSPOSE_OPS, *FOLDED_OPS, *CONSTANT_OPERAND_OPS,
                                *ELTWISE_OPS):
            raise self.error(where, self._view_message(views[0]))
        stats = [n for n in node.input if n in self.stats]
        if stats and not (op in CONSTANT_OPERAND_OPS and len(data) == 1):
            raise self.error(where, f"reads {quote(stats[0])}, a statistic over the features "
                                    f"(as LayerNorm computes), which nnsolve folds only as the "
                                    f"operand of {', '.join(CONSTANT_OPERAND_OPS)} with an "
                                    f"activation")
        limit = _FIRST_WEIGHT_INPUT.get(op)
        if limit is not None and any(pos >= limit for pos, _ in data):
            pos, tensor = next((p, t) for p, t in data if p >= limit)
            raise self.error(where, f"input {pos} ({quote(tensor)}) is computed from the network "
                                    f"input, but nnsolve needs a weight or constant there")
        base = _layer_name(node.name) or f"{op.lower()}_{index}"
        if op in CONV_OPS:
            self._conv(where, base, node)
        elif op in FC_OPS:
            self._fc(where, base, node)
        elif op in POOL_OPS:
            self._pool(where, base, node)
        elif op in CONCAT_OPS:
            self._concat(where, base, node)
        elif (op in CONSTANT_OPERAND_OPS and len(data) == 1) or (op == "Sum"
                                                                  and len(node.input) == 1):
            self._fold(where, node, data[0][1])     # a bias, a scale, or a sum of one
        elif op in ELTWISE_OPS and self._one_tensor(node):
            self._fold(where, node, data[0][1])     # x * sigmoid(x), GELU's x * Phi(x)
        elif op in ELTWISE_OPS:
            if views:
                raise self.error(where, self._view_message(views[0]))
            self._eltwise(where, base, node)
        elif op in FOLDED_OPS:
            if data[0][0] != 0 or len(data) > 1:
                raise self.error(where, "only its first input may be computed from the "
                                        "network input")
            self._fold(where, node, data[0][1])
        elif op in RESHAPE_OPS:
            self._reshape(where, node)
        elif op in TRANSPOSE_OPS:
            self._transpose(where, node)
        elif op in REDUCE_OPS:
            self._reduce(where, base, node)
        else:
            raise self.error(where, f"op {quote(op)} is not supported; {supported_ops()}")

    def _data(self, where: str, node: Any, pos: int = 0, flat: bool | None = None) -> _Shape:
        """The shape of a data input, which must (not) be flattened when ``flat`` says so."""
        name = node.input[pos] if pos < len(node.input) else ""
        if name not in self.shapes:
            raise self.error(where, f"input {pos} must be computed from the network input")
        shape = self.shapes[name]
        if shape.view:
            raise self.error(where, self._view_message(name))
        if flat is False and shape.flat:
            raise self.error(where, "needs a [batch, channels, height, width] input, but its "
                                    "input was flattened")
        if flat is False and shape.tokens:
            raise self.error(where, "needs a [batch, channels, height, width] input, but its "
                                    "input is a [batch, tokens, features] sequence")
        if flat is True and not shape.flat:
            raise self.error(where, "needs a [batch, features] input; flatten the fmap first")
        return shape

    def _weight_dims(self, where: str, node: Any, pos: int, rank: int) -> list[int]:
        name = node.input[pos] if pos < len(node.input) else ""
        dims = None
        if name in self.initializers:
            dims = list(self.initializers[name].dims)
        elif name in self.constants:
            value = _attributes(self.onnx, self.constants[name]).get("value")
            dims = list(value.dims) if value is not None else None
        else:
            dims = self._known_dims(name, skip_batch=False)
        if dims is None or not all(isinstance(d, int) and d > 0 for d in dims):
            raise self.error(where, f"the shape of its weight {quote(name)} (input {pos}) is "
                                    f"unknown; give it as an initializer or a typed graph input")
        if len(dims) != rank:
            raise self.error(where, f"its weight {quote(name)} has shape {clip(dims)}; nnsolve "
                                    f"needs {rank} dimensions")
        return dims

    def _add(self, where: str, node: Any, op: _Op) -> None:
        self._check_inferred(where, node.output[0], op.out)
        self.shapes[node.output[0]] = op.out
        self.root[node.output[0]] = node.output[0]
        self.ops.append(op)

    def _known_dims(self, tensor: str, skip_batch: bool = True) -> list[int] | None:
        """The first declared shape of ``tensor`` whose sizes (after the batch) are known."""
        for dims in self.declared.get(tensor, ()):
            if all(isinstance(d, int) for d in dims[skip_batch:]):
                return dims
        return None

    def _check_inferred(self, where: str, tensor: str, shape: _Shape) -> None:
        for dims in self.declared.get(tensor, ()):
            if not all(isinstance(d, int) for d in dims[1:]) or dims[1:] == shape.dims():
                continue
            raise self.error(where, f"its output {quote(tensor)} has shape [batch, "
                                    f"{', '.join(map(str, dims[1:]))}] in the model, but its "
                                    f"attributes give [batch, "
                                    f"{', '.join(map(str, shape.dims()))}]")

    def _window(self, where: str, attrs: dict, x: _Shape, kernel: tuple[int, int],
                ceil: bool = False) -> tuple[tuple[int, int], tuple[int, int]]:
        """Output size and stride of a sliding window from the pads/strides attributes."""
        if any(d != 1 for d in attrs.get("dilations", (1, 1))):
            raise self.error(where, f"dilations {list(attrs['dilations'])} are not supported; "
                                    f"nnsolve models dilation 1 only")
        strides = tuple(attrs.get("strides", (1, 1)))
        pads = tuple(attrs.get("pads", (0, 0, 0, 0)))
        if len(strides) != 2 or len(pads) != 4:
            raise self.error(where, "only 2-D windows are supported")
        auto_pad = attrs.get("auto_pad", "NOTSET")
        sizes = []
        for axis, n in enumerate((x.h, x.w)):
            k, s = kernel[axis], strides[axis]
            begin, end = pads[axis], pads[axis + 2]
            if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                sizes.append(-(-n // s))
                continue
            if auto_pad == "VALID":
                begin = end = 0
            span = n + begin + end - k
            if span < 0:
                raise self.error(where, f"its {k}-wide window does not fit its {n}-wide input")
            out = (-(-span // s) if ceil else span // s) + 1
            if ceil and (out - 1) * s >= n + begin:
                out -= 1              # the last window must start inside the input
            sizes.append(out)
        return (sizes[0], sizes[1]), (strides[0], strides[1])

    def _check_rule(self, where: str, layer: Layer, x: _Shape, attrs: dict) -> bool:
        """Whether the layer crops its input (a floor-mode window leaves trailing rows or
        columns unread); an error when nnsolve's layer shape cannot express the window."""
        if layer.accepts_input_size(x.h, x.w):
            return False
        if layer.accepts_input_size(x.h, x.w, crop=True):
            return True
        pads = list(attrs.get("pads", (0, 0, 0, 0)))
        raise self.error(where, f"a {x.h}x{x.w} input with window {layer.kernel_h}x"
                                f"{layer.kernel_w}, stride {layer.stride_h}x{layer.stride_w} "
                                f"and pads {pads} gives {layer.out_h}x{layer.out_w} outputs, "
                                f"which nnsolve's layer shape cannot express: the input must "
                                f"lie between output x stride ({layer.out_h * layer.stride_h}x"
                                f"{layer.out_w * layer.stride_w}) and the unpadded input size "
                                f"({layer.in_h}x{layer.in_w})")

    def _conv(self, where: str, base: str, node: Any) -> None:
        x = self._data(where, node, flat=False)
        attrs = _attributes(self.onnx, node)
        m, cg, kh, kw = self._weight_dims(where, node, 1, 4)
        groups = attrs.get("group", 1)
        if cg * groups != x.channels or m % groups:
            raise self.error(where, f"weight shape [{m}, {cg}, {kh}, {kw}] with group={groups} "
                                    f"does not fit its {x.channels}-channel input")
        if tuple(attrs.get("kernel_shape", (kh, kw))) != (kh, kw):
            raise self.error(where, f"kernel_shape {list(attrs['kernel_shape'])} differs from "
                                    f"its weight's {kh}x{kw}")
        out, stride = self._window(where, attrs, x, (kh, kw))
        kind = CONV
        if groups > 1 and groups == x.channels == m:
            kind, groups = DWCONV, 1       # depthwise: one layer, each channel its own filter
        layer = _layer(self, where, kind, x.channels, m, *out, kh, kw, *stride)
        crop = self._check_rule(where, layer, x, attrs)
        source = self.root[node.input[0]]
        split = 1 < groups <= SPLIT_GROUPS and source != self.first
        self._add(where, node, _Op(where, base, kind, [source], node.output[0], x,
                                   _Shape(m, *out), (kh, kw), stride, groups, split, crop))

    def _fc(self, where: str, base: str, node: Any) -> None:
        if node.op_type == "MatMul" and self._data(where, node).tokens:
            self._token_fc(where, base, node)
            return
        x = self._data(where, node, flat=True)
        attrs = _attributes(self.onnx, node)
        dims = self._weight_dims(where, node, 1, 2)
        if node.op_type == "Gemm" and attrs.get("transA", 0):
            raise self.error(where, "transA=1 is not supported (the data must be the rows)")
        k, m = reversed(dims) if attrs.get("transB", 0) else dims
        if k != x.channels * x.h * x.w:
            raise self.error(where, f"its weight takes {k} features, but its input has "
                                    f"{x.channels * x.h * x.w}")
        _layer(self, where, FC, x.channels, m, 1, 1, x.h, x.w)
        self._add(where, node, _Op(where, base, FC, [self.root[node.input[0]]], node.output[0],
                                   x, _Shape(m, 1, 1, flat=True), (x.h, x.w)))

    def _token_fc(self, where: str, base: str, node: Any) -> None:
        """A MatMul of [batch, tokens, features] by a weight matrix: the same weights apply to
        every token, so it is a 1x1 convolution over the tokens x 1 fmap (out_h = tokens)."""
        x = self._data(where, node)
        k, m = self._weight_dims(where, node, 1, 2)
        if k != x.channels:
            raise self.error(where, f"its weight takes {k} features, but each of its "
                                    f"{x.h} tokens has {x.channels}")
        _layer(self, where, CONV, x.channels, m, x.h, 1)
        self._add(where, node, _Op(where, base, CONV, [self.root[node.input[0]]], node.output[0],
                                   x, _Shape(m, x.h, 1, tokens=True)))

    def _pool(self, where: str, base: str, node: Any) -> None:
        x = self._data(where, node, flat=False)
        attrs = _attributes(self.onnx, node)
        if node.op_type.startswith("Global"):
            kernel, out, stride = (x.h, x.w), (1, 1), (x.h, x.w)
        else:
            kernel = tuple(attrs.get("kernel_shape", ()))
            if len(kernel) != 2:
                raise self.error(where, "only 2-D pooling windows are supported")
            out, stride = self._window(where, attrs, x, kernel, ceil=bool(attrs.get("ceil_mode")))
        layer = _layer(self, where, POOL, x.channels, x.channels, *out, *kernel, *stride)
        crop = self._check_rule(where, layer, x, attrs)
        self._add(where, node, _Op(where, base, POOL, [self.root[node.input[0]]], node.output[0],
                                   x, _Shape(x.channels, *out), kernel, stride, crop=crop))

    def _eltwise(self, where: str, base: str, node: Any) -> None:
        names = [n for n in node.input if n]
        if any(n not in self.shapes for n in names):
            raise self.error(where, "mixes activations and constants; nnsolve folds a constant "
                                    "operand only when there is a single activation")
        shapes = [self.shapes[n] for n in names]
        if len(set(shapes)) != 1:
            raise self.error(where, f"its inputs have different shapes "
                                    f"({'; '.join(str(s.dims()) for s in shapes)}); broadcasting "
                                    f"between activations is not supported")
        x = shapes[0]
        _layer(self, where, ELTWISE, x.channels * len(names), x.channels, x.h, x.w,
               inputs=len(names))
        self._add(where, node, _Op(where, base, ELTWISE, [self.root[n] for n in names],
                                   node.output[0], x, x))

    def _concat(self, where: str, base: str, node: Any) -> None:
        names = [n for n in node.input if n]
        if any(n not in self.shapes for n in names):
            raise self.error(where, "concatenates a constant with activations")
        shapes = [self.shapes[n] for n in names]
        x = shapes[0]
        axis = _attributes(self.onnx, node).get("axis")
        rank = 2 if x.flat else 4
        if axis not in (1, 1 - rank):
            raise self.error(where, f"axis={axis} is not the channel axis; nnsolve concatenates "
                                    f"channels only")
        if any((s.h, s.w, s.flat) != (x.h, x.w, x.flat) for s in shapes):
            raise self.error(where, "its inputs have different fmap sizes; nnsolve "
                                    "concatenates fmaps of one size only")
        out = _Shape(sum(s.channels for s in shapes), x.h, x.w, x.flat)
        self._add(where, node, _Op(where, base, _CONCAT, [self.root[n] for n in names],
                                   node.output[0], x, out))

    def _fold(self, where: str, node: Any, tensor: str, shape: _Shape | None = None) -> None:
        shape = shape or self.shapes[tensor]
        out = node.output[0]
        self._check_inferred(where, out, shape)
        self.shapes[out] = shape
        self.root[out] = self.root[tensor]
        self.folded[node.op_type] += 1
        if shape.view:                      # an element-wise op on a view keeps the view
            self.views[out] = self.views[tensor]
            self.unread[out] = self.views[tensor][1].origin

    def _one_tensor(self, node: Any) -> bool:
        """Whether all inputs of an element-wise node are activations of one shape held by
        the same layers: an element-wise function of one tensor, not a merge of several."""
        names = [n for n in node.input if n]
        if not all(n in self.shapes for n in names):
            return False
        views = {id(self.views[n][1]) if n in self.views else None for n in names}
        return (len({self.root[n] for n in names}) == 1
                and len({self.shapes[n] for n in names}) == 1 and len(views) == 1)

    def _statistic(self, where: str, node: Any) -> None:
        """A node without activation inputs: on constants nothing flows; on statistics over
        the features (LayerNorm's mean and variance) an element-wise op gives a statistic."""
        if not any(n in self.stats for n in node.input):
            return
        if node.op_type not in (*CONSTANT_OPERAND_OPS, *FOLDED_OPS, "Sum"):
            raise self.error(where, f"reads a statistic over the features (as LayerNorm "
                                    f"computes); nnsolve folds statistics only through "
                                    f"element-wise ops into {', '.join(CONSTANT_OPERAND_OPS)} "
                                    f"with an activation")
        self.stats.update(n for n in node.output if n)

    def _reduce(self, where: str, base: str, node: Any) -> None:
        """A reduction over the features only (keepdims): a statistic, folded into the
        element-wise ops that use it, as LayerNorm's mean and variance are. Over the height
        and width of a fmap: a global pooling layer (PyTorch's ``x.mean([2, 3])``)."""
        x = self.shapes[node.input[0]]
        attrs = _attributes(self.onnx, node)
        rank = len(x.dims()) + 1
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self._constant_ints(node.input[1])
        feature = rank - 1 if x.tokens and not x.flat else 1
        axes = sorted({a % rank for a in axes}) if axes else None
        keep = attrs.get("keepdims", 1)
        if axes == [2, 3] and not x.flat and not x.tokens:
            _layer(self, where, POOL, x.channels, x.channels, 1, 1, x.h, x.w, x.h, x.w)
            self._add(where, node, _Op(where, base, POOL, [self.root[node.input[0]]],
                                       node.output[0], x, _Shape(x.channels, 1, 1, flat=not keep),
                                       (x.h, x.w), (x.h, x.w)))
            return
        if axes != [feature] or not keep:
            raise self.error(where, f"reduces axes {axes if axes else 'all'} (keepdims="
                                    f"{keep}); nnsolve folds only reductions over the features "
                                    f"(axis {feature}) that keep the dimensions, the statistics "
                                    f"of a normalisation such as LayerNorm, and pools a fmap's "
                                    f"height and width (axes 2, 3)")
        self.stats.update(n for n in node.output if n)
        self.folded[node.op_type] += 1

    def _view_message(self, tensor: str) -> str:
        origin = self.views[tensor][1].origin
        return (f"reads {quote(tensor)}, a [batch, "
                f"{', '.join(map(str, self.shapes[tensor].dims()))}] tensor made by the "
                f"Reshape/Transpose chain from {origin}; {_VIEW_RULE}")

    def _reshape(self, where: str, node: Any) -> None:
        tensor = node.input[0]
        x = self.shapes[tensor]
        dims = self._reshape_target(where, node, x)
        total = x.channels * x.h * x.w
        if math.prod(dims) != total or any(d < 1 for d in dims):
            raise self.error(where, f"reshapes [batch, {', '.join(map(str, x.dims()))}] to "
                                    f"[batch, {', '.join(map(str, dims))}], which does not hold "
                                    f"the same {total} elements per sample")
        layout = replace(x, flat=False, view=()).dims()
        if tensor in self.views:
            base, view = self.views[tensor]
            self._rearranged(where, node, base, onnx_views.reshape(view, dims), final=True)
            return
        if dims == x.dims():
            shape = x
        elif dims == [total]:
            shape = replace(x, flat=True)
        elif x.flat and dims == layout:
            shape = replace(x, flat=False)
        else:               # a Reshape/Transpose chain starts (a channel shuffle, say)
            view = onnx_views.reshape(onnx_views.start(x.dims(), where), dims)
            self._rearranged(where, node, x, view, final=False)
            return
        self._fold(where, node, tensor, shape)

    def _transpose(self, where: str, node: Any) -> None:
        tensor = node.input[0]
        x = self.shapes[tensor]
        rank = len(x.dims()) + 1
        perm = list(_attributes(self.onnx, node).get("perm", range(rank - 1, -1, -1)))
        if sorted(perm) != list(range(rank)):
            raise self.error(where, f"perm {perm} is not a permutation of the {rank} axes")
        if perm[0] != 0:
            raise self.error(where, f"perm {perm} moves the batch axis; nnsolve keeps the batch "
                                    f"first")
        if tensor in self.views:
            base, view = self.views[tensor]
        elif perm == sorted(perm):
            self._fold(where, node, tensor)
            return
        else:
            base, view = x, onnx_views.start(x.dims(), where)
        self._rearranged(where, node, base,
                         onnx_views.transpose(view, [p - 1 for p in perm[1:]]), final=False)

    def _rearranged(self, where: str, node: Any, base: _Shape, view: onnx_views.View,
                    final: bool) -> None:
        """The output of a Reshape/Transpose chain from ``base``: back in ``base``'s layout
        (or flattened) when the chain moved whole channels only, a channel shuffle when it
        permuted them; else a view, which only further Reshape/Transpose (or element-wise
        ops) may read. ``final``: a Reshape to the layout that does not only permute
        channels is an error here."""
        tensor, out = node.input[0], node.output[0]
        dims = list(view.dims)
        layout = replace(base, flat=False, view=()).dims()
        if dims in (layout, [math.prod(layout)]):
            order = onnx_views.channel_order(view.index, base.channels, base.tokens)
            shape = replace(base, flat=dims != layout, view=())
            if order is not None and order == tuple(range(base.channels)):
                self._fold(where, node, tensor, shape)
                return
            if order is not None:
                self.folded[node.op_type] += 1
                self._add(where, node, _Op(where, "", _SHUFFLE, [self.root[tensor]], out,
                                           base, shape, order=order))
                return
            if final:
                raise self.error(where, f"ends the Reshape/Transpose chain from {view.origin} "
                                        f"in [batch, {', '.join(map(str, dims))}], but the "
                                        f"chain moves data between rows, columns or tokens, not "
                                        f"whole channels; {_VIEW_RULE}")
        shape = replace(base, view=tuple(dims))
        self._check_inferred(where, out, shape)
        self.shapes[out] = shape
        self.root[out] = self.root[tensor]
        self.views[out] = (base, view)
        self.unread[out] = view.origin
        self.folded[node.op_type] += 1

    def _reshape_target(self, where: str, node: Any, x: _Shape) -> list[int]:
        """The output dimensions after the batch of a Flatten/Reshape/Squeeze/Unsqueeze."""
        if node.op_type == "Flatten":
            axis = _attributes(self.onnx, node).get("axis", 1)
            if axis not in (1, -len(x.dims())):
                raise self.error(where, f"axis={axis} would mix the batch into the features "
                                        f"or keep fmap dimensions; nnsolve folds axis=1 only")
            return [x.channels * x.h * x.w]
        if node.op_type == "Reshape" and len(node.input) > 1:
            target = self._constant_ints(node.input[1])
            if target is not None:
                return _resolve_reshape(target, x)
        dims = self._known_dims(node.output[0])
        if dims is not None:
            return list(dims[1:])
        # [batch, ?]: the batch dimension kept (e.g. x.view(x.size(0), -1)) can only flatten.
        if any(len(d) == 2 and d[0] is not None and d[0] == self.batch
               for d in self.declared.get(node.output[0], ())):
            return [x.channels * x.h * x.w]
        raise self.error(where, "its output shape is unknown (give the target shape as a "
                                "constant)")

    def _constant_ints(self, name: str) -> list[int] | None:
        from onnx import numpy_helper

        if name in self.initializers:
            return [int(v) for v in numpy_helper.to_array(self.initializers[name]).ravel()]
        if name in self.constants:
            value = _attributes(self.onnx, self.constants[name]).get("value")
            if value is not None:
                return [int(v) for v in numpy_helper.to_array(value).ravel()]
        return None

    # -- pass 2: where grouped convolutions split tensors -----------------------------------

    def _cuts(self, first: str) -> dict[str, set[int]]:
        """Channel boundaries inside each root tensor at which its layers must be split."""
        cuts: dict[str, set[int]] = {t: set() for t in set(self.root.values())}
        origin: dict[str, str] = {}

        def add(tensor: str, new: set[int], why: str | None) -> bool:
            channels = self.shapes[tensor].channels
            fresh = {c for c in new if 0 < c < channels} - cuts[tensor]
            if not fresh:
                return False
            cuts[tensor] |= fresh
            origin.setdefault(tensor, why or "?")
            if len(cuts[tensor]) + 1 > MAX_PARTS:     # name the node whose cuts overflow
                node = why or origin[tensor]
                raise _SplitFails(node, self.error(node, f"nnsolve makes one layer per group "
                                 f"of a convolution of at most {SPLIT_GROUPS} groups and "
                                 f"splits the layers before it to match; this would split "
                                 f"{quote(tensor)} into {len(cuts[tensor]) + 1} layers, more "
                                 f"than the {MAX_PARTS} allowed"))
            return True

        for op in self.ops:
            if op.kind == CONV and op.split:
                g = op.groups
                add(op.inputs[0], {i * op.x.channels // g for i in range(1, g)}, op.label)
                add(op.output, {i * op.out.channels // g for i in range(1, g)}, op.label)
        changed = True
        while changed:
            changed = False
            for op in self.ops:
                if op.kind == CONV and op.groups > 1 and not op.split:
                    # A grouped layer splits only at group boundaries, its input with it.
                    step_in, step_out = op.x.channels // op.groups, op.out.channels // op.groups
                    inside = sorted(c for c in cuts[op.output] if c % step_out)
                    if inside:
                        why = origin.get(op.output) or op.label
                        raise _SplitFails(why, self.error(
                            why, f"splits the output of grouped convolution {op.label} at "
                                 f"channel {inside[0]}, inside one of its {op.groups} groups "
                                 f"of {step_out} channels; a grouped layer splits only at "
                                 f"group boundaries"))
                    changed |= add(op.inputs[0], {c // step_out * step_in
                                                  for c in cuts[op.output]},
                                   origin.get(op.output))
                elif op.kind in (POOL, DWCONV):
                    (x,) = op.inputs
                    changed |= add(op.output, cuts[x], origin.get(x))
                    changed |= add(x, cuts[op.output], origin.get(op.output))
                elif op.kind == ELTWISE:
                    for x in op.inputs:
                        changed |= add(x, cuts[op.output], origin.get(op.output))
                elif op.kind == _SHUFFLE:
                    # Each part of the output reads the input channels that land in it.
                    (x,) = op.inputs
                    bounds = sorted(cuts[op.output])
                    part = [0] * len(op.order)
                    for o, c in enumerate(op.order):
                        part[c] = bisect.bisect_right(bounds, o)
                    need = {c for c in range(1, len(part)) if part[c] != part[c - 1]}
                    changed |= add(x, need, origin.get(op.output))
                elif op.kind == _CONCAT:
                    offset = 0
                    for x in op.inputs:
                        size = self.shapes[x].channels
                        changed |= add(op.output, {offset + c for c in cuts[x]}, origin.get(x))
                        changed |= add(x, {c - offset for c in cuts[op.output]},
                                       origin.get(op.output))
                        offset += size
        if cuts[first]:
            raise _SplitFails(origin[first], self.error(
                origin[first], "its groups would each read a slice of the network input, "
                               "which nnsolve cannot express (a layer reads whole "
                               "predecessors)"))
        return cuts

    # -- pass 3: the layers -----------------------------------------------------------------

    def _build(self, name: str, first: str, cuts: dict[str, set[int]]) -> Network:
        x = self.shapes[first]
        net = Network(name=name, input=Fmap(x.channels, x.h, x.w))
        # The layers holding each root tensor, with the channels of it each holds (sorted).
        segments: dict[str, list[tuple[str, tuple[int, ...]]]] = {
            first: [(INPUT, tuple(range(x.channels)))]}
        used = {INPUT}
        for op in self.ops:
            if op.kind == _CONCAT:
                joined, offset = [], 0
                for t in op.inputs:
                    joined += [(n, tuple(offset + c for c in cs)) for n, cs in segments[t]]
                    offset += self.shapes[t].channels
                segments[op.output] = joined
                continue
            if op.kind == _SHUFFLE:
                where = {c: o for o, c in enumerate(op.order)}
                moved = [(n, tuple(sorted(where[c] for c in cs)))
                         for n, cs in segments[op.inputs[0]]]
                segments[op.output] = sorted(moved, key=lambda seg: seg[1][0])
                continue
            bounds = [0, *sorted(cuts[op.output]), op.out.channels]
            parts = list(pairwise(bounds))
            names = _part_names(op.name, len(parts), used)
            segments[op.output] = []
            for (lo, hi), layer_name in zip(parts, names, strict=True):
                layer, prevs = self._part(op, lo, hi, segments)
                try:
                    net.add(layer_name, layer, prevs, op.crop)
                except ValueError as exc:
                    raise self.error(op.label, str(exc)) from None
                segments[op.output].append((layer_name, tuple(range(lo, hi))))
        return net

    def _part(self, op: _Op, lo: int, hi: int,
              segments: dict[str, list[tuple[str, tuple[int, ...]]]]
              ) -> tuple[Layer, tuple[str, ...]]:
        """The layer computing output channels [lo, hi) of ``op``, and its predecessors."""
        def within(tensor: str, a: int, b: int) -> list[str]:
            return [n for n, cs in segments[tensor] if a <= cs[0] and cs[-1] < b]

        (oh, ow), (kh, kw), (sh, sw) = (op.out.h, op.out.w), op.kernel, op.stride
        if op.kind == CONV:
            step_in, step_out = op.x.channels // op.groups, op.out.channels // op.groups
            group = lo // step_out
            if op.split or op.groups == 1:
                prevs = within(op.inputs[0], group * step_in, (group + 1) * step_in)
                return Layer(CONV, step_in, hi - lo, oh, ow, kh, kw, sh, sw), tuple(prevs)
            groups = (hi - lo) // step_out      # a grouped layer's parts hold whole groups
            prevs = within(op.inputs[0], group * step_in, (group + groups) * step_in)
            return (Layer(CONV, groups * step_in, hi - lo, oh, ow, kh, kw, sh, sw,
                          groups=groups), tuple(prevs))
        if op.kind == FC:
            prevs = within(op.inputs[0], 0, op.x.channels)
            return Layer(FC, op.x.channels, hi - lo, 1, 1, kh, kw), tuple(prevs)
        if op.kind in (POOL, DWCONV):
            prevs = within(op.inputs[0], lo, hi)
            return Layer(op.kind, hi - lo, hi - lo, oh, ow, kh, kw, sh, sw), tuple(prevs)
        prevs = [n for t in op.inputs for n in within(t, lo, hi)]
        n = len(op.inputs)
        return Layer(ELTWISE, n * (hi - lo), hi - lo, oh, ow, inputs=n), tuple(prevs)


# -- helpers ------------------------------------------------------------------------------

def _node_order(graph: Any, source: str) -> list[int]:
    """The nodes' indices in an order where every tensor is written before it is read:
    the file's order when it is topological (as ONNX requires), else the stable
    topological sort of it. A cycle, or a tensor written twice, is an error (read in the
    file's order, it would cut the graph short without a word)."""
    nodes = graph.node
    writer: dict[str, int] = {}
    graph_inputs = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    for index, node in enumerate(nodes):
        for out in node.output:
            if not out:
                continue
            if out in graph_inputs:
                raise InputError(source, _where(index, node), f"writes {quote(out)}, which is "
                                 f"also a graph input or initializer")
            if out in writer:
                first = writer[out]
                raise InputError(source, _where(index, node), f"writes {quote(out)}, which "
                                 f"{_where(first, nodes[first])} writes too (each tensor "
                                 f"must have one producer)")
            writer[out] = index
    needs = [sorted({writer[t] for t in node.input if t in writer}) for node in nodes]
    if all(p < i for i, ps in enumerate(needs) for p in ps):
        return list(range(len(nodes)))
    users: list[list[int]] = [[] for _ in nodes]
    waiting = [len(ps) for ps in needs]
    for i, ps in enumerate(needs):
        for p in ps:
            users[p].append(i)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) == len(nodes):
        return order
    # Every node left waits on another node left: walk back until one repeats.
    left = set(range(len(nodes))) - set(order)
    path: list[int] = []
    seen: dict[int, int] = {}
    i = min(left)
    while i not in seen:
        seen[i] = len(path)
        path.append(i)
        i = next(p for p in needs[i] if p in left)
    cycle = path[seen[i]:][::-1]            # producers first
    shown = [_where(k, nodes[k]) for k in cycle[:MAX_CYCLE_SHOWN]]
    if len(cycle) > MAX_CYCLE_SHOWN:
        shown.append(f"... ({len(cycle) - MAX_CYCLE_SHOWN} more)")
    raise InputError(source, None, f"the graph has a cycle: {' -> '.join(shown)} -> "
                           f"{_where(cycle[0], nodes[cycle[0]])}; an ONNX graph must be "
                           f"acyclic")



def _where(index: int, node: Any) -> str:
    """How errors name a node: by its name, or by its position when it has none."""
    op = clip(node.op_type, 30)
    return f"node {quote(node.name)} ({op})" if node.name else f"node #{index} ({op})"


def _attributes(onnx: Any, node: Any) -> dict[str, Any]:
    """A node's attributes as Python values (strings decoded)."""
    values = {}
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        values[attr.name] = value.decode() if isinstance(value, bytes) else value
    return values


def _type_dims(type_proto: Any) -> list[int | str | None] | None:
    """A tensor type's dimensions (a name where symbolic, None where unknown), or None without
    a shape."""
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in type_proto.tensor_type.shape.dim]


def _show_dims(dims: list[int | str | None] | None) -> str:
    if dims is None:
        return "unknown"
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _resolve_reshape(target: list[int], x: _Shape) -> list[int]:
    """A Reshape's target dimensions after the batch, with 0 (copy) and -1 (infer) resolved."""
    source = x.dims()
    rest = [source[i] if d == 0 and i < len(source) else d
            for i, d in enumerate(target[1:])]
    if -1 in rest:
        known = math.prod(d for d in rest if d != -1)
        total = x.channels * x.h * x.w
        rest[rest.index(-1)] = total // known if known and total % known == 0 else -1
    return rest


def _layer(importer: _Importer, where: str, *args: Any, **kwargs: Any) -> Layer:
    try:
        return Layer(*args, **kwargs)
    except ValueError as exc:
        raise importer.error(where, str(exc)) from None


def _layer_name(node_name: str) -> str:
    """A node name usable as a layer name: runs of other characters than letters, digits, _
    and - become one _ (so names stay single YAML and --set path words), and a long name is
    cut to leave room for the suffixes of split or repeated names within MAX_NAME."""
    name = re.sub(r"[^A-Za-z0-9_\-]+", "_", node_name).strip("_")
    return name[:MAX_NAME - 16].rstrip("_")


def _part_names(base: str, count: int, used: set[str]) -> list[str]:
    """Unused layer names: ``base`` itself, or ``base_a``, ``base_b``... for a split layer
    (``base_0``, ``base_1``... beyond 26 parts); a taken name gets a ``_2``, ``_3``... suffix."""
    if count == 1:
        wanted = [base]
    elif count <= 26:
        wanted = [f"{base}_{chr(ord('a') + i)}" for i in range(count)]
    else:
        wanted = [f"{base}_{i}" for i in range(count)]
    names = []
    for name in wanted:
        unique, n = name, 2
        while unique in used:
            unique, n = f"{name}_{n}", n + 1
        used.add(unique)
        names.append(unique)
    return names
