"""Importing an ONNX model as a network (``network: model.onnx`` and ``nnsolve import``).

The graph is read node by node, in its (topological) order:

- ``Conv`` (2-D) becomes a CONV layer; ``Gemm`` and ``MatMul`` with a weight matrix become FC
  layers; ``MaxPool``, ``AveragePool``, ``GlobalAveragePool`` and ``GlobalMaxPool`` become POOL
  layers; ``Add``, ``Sum``, ``Sub`` and ``Mul`` of activations of one shape become ELTWISE
  layers.
- ``Concat`` on the channel axis makes no layer: its consumers list all its inputs as
  predecessors, which a network reads as a channel concatenation.
- Ops that keep the shape and cost next to nothing are folded away (FOLDED_OPS: activations,
  normalisations, LRN, dropout, softmax), as are ``Add``/``Sub``/``Mul``/``Div`` with a
  constant (biases and scales), reshapes that only flatten a fmap, and anything computed from
  constants and shapes alone.
- A depthwise convolution (``group`` = input channels = output channels) becomes one DWCONV
  layer, whatever its number of channels.
- Any other grouped convolution becomes one layer per group (``conv2`` -> ``conv2_a``,
  ``conv2_b``), as nn_dataflow's AlexNet writes it. A group reads only its slice of the input
  channels, but a layer reads whole predecessors, so the layers that produce the input are
  split at the group boundaries too: a convolution or FC layer by output channels, a pooling,
  depthwise or element-wise layer channel by channel (a pooling layer after a split is split
  the same way, again like the zoo's AlexNet). The network input cannot be split: a grouped
  convolution that reads it, or a split into more than MAX_PARTS layers, is an error.

Sizes come from the attributes. Padding only decides the output size (nnsolve does not store
it), and the result must satisfy the layer's input-size rule (``Layer.accepts_input_size``);
every shape ONNX's shape inference knows is checked against ours. The batch dimension is
ignored: the scenario gives the batch.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from ..errors import MAX_SHOWN, InputError, NnsolveError, clip, quote
from ..model.layer import CONV, DWCONV, ELTWISE, FC, POOL, Layer
from ..model.network import INPUT, Fmap, Network
from .fields import MAX_NAME

MAX_PARTS = 64
"""The most layers one tensor may be split into for grouped convolutions."""

MAX_CYCLE_SHOWN = 8
"""The most nodes of a cycle that its error lists."""

CONV_OPS = ("Conv",)
FC_OPS = ("Gemm", "MatMul")
POOL_OPS = ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool")
ELTWISE_OPS = ("Add", "Sum", "Sub", "Mul")
CONCAT_OPS = ("Concat",)
FOLDED_OPS = ("Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid",
              "HardSwish", "Tanh", "Softplus", "Softsign", "Clip", "Gelu", "Erf", "Mish",
              "BatchNormalization", "InstanceNormalization", "LRN", "Dropout", "Identity",
              "Softmax", "LogSoftmax")
CONSTANT_OPERAND_OPS = ("Add", "Sub", "Mul", "Div")   # folded when all but one input are constant
RESHAPE_OPS = ("Flatten", "Reshape", "Squeeze", "Unsqueeze")   # folded when they only flatten
SHAPE_OPS = ("Shape", "Size")                          # their outputs are shapes, not data

# Inputs from this position on are weights or settings, never activations.
_FIRST_WEIGHT_INPUT = {"Conv": 1, "Gemm": 1, "MatMul": 1, "BatchNormalization": 1,
                       "InstanceNormalization": 1, "PRelu": 1, "Clip": 1, "Dropout": 1,
                       "Reshape": 1, "Squeeze": 1, "Unsqueeze": 1, "Shape": 1, "Size": 1}

_CONCAT = "concat"


def supported_ops() -> str:
    """The op list that error messages and the summary show."""
    layers = (*CONV_OPS, *FC_OPS, *POOL_OPS, *ELTWISE_OPS, *CONCAT_OPS)
    folded = (*FOLDED_OPS, "Div", *RESHAPE_OPS)
    return f"layers from {', '.join(layers)}; folded: {', '.join(folded)}"


@dataclass(frozen=True)
class _Shape:
    """An activation tensor per sample: channels x h x w; ``flat`` once flattened to a vector."""

    channels: int
    h: int
    w: int
    flat: bool = False

    def dims(self) -> list[int]:
        """The ONNX dimensions after the batch."""
        return [self.channels * self.h * self.w] if self.flat else [self.channels, self.h, self.w]


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
    crop: bool = False         # the window leaves trailing input rows/columns unread


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

    def error(self, where: str | None, message: str) -> InputError:
        """An InputError naming the model file and the node."""
        return InputError(self.source, where, message)

    # -- pass 1: shapes ---------------------------------------------------------------------

    def run(self, name: str, order: list[int]) -> Network:
        """The network, named ``name``; ``order`` is the nodes' topological order."""
        first = self._network_input()
        for index in order:
            self._node(index, self.graph.node[index])
        if not self.ops or all(op.kind == _CONCAT for op in self.ops):
            raise self.error(None, f"no node that makes a layer reads the network input; "
                                   f"supported: {supported_ops()}")
        cuts = self._cuts(first)
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
        rule = ("[batch, channels, height, width] or [batch, features] with fixed sizes after "
                "the batch")
        if dims is None or len(dims) not in (2, 4) or not all(
                isinstance(d, int) and d > 0 for d in dims[1:]):
            raise self.error(f"input {quote(info.name)}", f"has shape {_show_dims(dims)}; nnsolve "
                                                     f"needs {rule}")
        shape = _Shape(dims[1], 1, 1, flat=True) if len(dims) == 2 else _Shape(*dims[1:])
        self.shapes[info.name] = shape
        self.root[info.name] = info.name
        self.batch = dims[0]
        return info.name

    def _node(self, index: int, node: Any) -> None:
        op = node.op_type
        where = _where(index, node)
        data = [(pos, n) for pos, n in enumerate(node.input) if n in self.shapes]
        if not data or op in SHAPE_OPS:
            return                    # a computation on constants or shapes: no data flows
        if node.domain not in ("", "ai.onnx"):
            raise self.error(where, f"op {node.domain}.{op} is not supported; "
                                    f"{supported_ops()}")
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
        elif op in ELTWISE_OPS:
            self._eltwise(where, base, node)
        elif op in FOLDED_OPS:
            if data[0][0] != 0 or len(data) > 1:
                raise self.error(where, "only its first input may be computed from the "
                                        "network input")
            self._fold(where, node, data[0][1])
        elif op in RESHAPE_OPS:
            self._reshape(where, node)
        else:
            raise self.error(where, f"op {quote(op)} is not supported; {supported_ops()}")

    def _data(self, where: str, node: Any, pos: int = 0, flat: bool | None = None) -> _Shape:
        """The shape of a data input, which must (not) be flattened when ``flat`` says so."""
        name = node.input[pos] if pos < len(node.input) else ""
        if name not in self.shapes:
            raise self.error(where, f"input {pos} must be computed from the network input")
        shape = self.shapes[name]
        if flat is False and shape.flat:
            raise self.error(where, "needs a [batch, channels, height, width] input, but its "
                                    "input was flattened")
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
        self._add(where, node, _Op(where, base, kind, [self.root[node.input[0]]], node.output[0],
                                   x, _Shape(m, *out), (kh, kw), stride, groups, crop))

    def _fc(self, where: str, base: str, node: Any) -> None:
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

    def _reshape(self, where: str, node: Any) -> None:
        x = self._data(where, node)
        dims = self._reshape_target(where, node, x)
        total = x.channels * x.h * x.w
        if dims == x.dims():
            shape = x
        elif dims == [total]:
            shape = _Shape(x.channels, x.h, x.w, flat=True)
        elif x.flat and dims == [x.channels, x.h, x.w]:
            shape = _Shape(x.channels, x.h, x.w)
        else:
            raise self.error(where, f"reshapes [batch, {', '.join(map(str, x.dims()))}] to "
                                    f"[batch, {', '.join(map(str, dims))}]; nnsolve folds only "
                                    f"reshapes that flatten a fmap or keep its shape")
        self._fold(where, node, node.input[0], shape)

    def _reshape_target(self, where: str, node: Any, x: _Shape) -> list[int]:
        """The output dimensions after the batch of a Flatten/Reshape/Squeeze/Unsqueeze."""
        if node.op_type == "Flatten":
            axis = _attributes(self.onnx, node).get("axis", 1)
            if axis not in (1, -1 if x.flat else -3):
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
            return True

        for op in self.ops:
            if op.kind == CONV and op.groups > 1:
                g = op.groups
                add(op.inputs[0], {i * op.x.channels // g for i in range(1, g)}, op.label)
                add(op.output, {i * op.out.channels // g for i in range(1, g)}, op.label)
        changed = True
        while changed:
            changed = False
            for op in self.ops:
                if op.kind in (POOL, DWCONV):
                    (x,) = op.inputs
                    changed |= add(op.output, cuts[x], origin.get(x))
                    changed |= add(x, cuts[op.output], origin.get(op.output))
                elif op.kind == ELTWISE:
                    for x in op.inputs:
                        changed |= add(x, cuts[op.output], origin.get(op.output))
                elif op.kind == _CONCAT:
                    offset = 0
                    for x in op.inputs:
                        size = self.shapes[x].channels
                        changed |= add(op.output, {offset + c for c in cuts[x]}, origin.get(x))
                        changed |= add(x, {c - offset for c in cuts[op.output]},
                                       origin.get(op.output))
                        offset += size
        if cuts[first]:
            raise self.error(origin[first], "its groups would each read a slice of the network "
                                            "input, which nnsolve cannot express (a layer reads "
                                            "whole predecessors)")
        for tensor, where in origin.items():
            if len(cuts[tensor]) + 1 > MAX_PARTS:
                raise self.error(where, f"nnsolve makes one layer per group and splits the "
                                        f"layers before it to match; this would split "
                                        f"{quote(tensor)} into {len(cuts[tensor]) + 1} layers, "
                                        f"more than the {MAX_PARTS} allowed (grouped "
                                        f"convolutions of many groups are not supported)")
        return cuts

    # -- pass 3: the layers -----------------------------------------------------------------

    def _build(self, name: str, first: str, cuts: dict[str, set[int]]) -> Network:
        x = self.shapes[first]
        net = Network(name=name, input=Fmap(x.channels, x.h, x.w))
        segments: dict[str, list[tuple[str, int, int]]] = {first: [(INPUT, 0, x.channels)]}
        used = {INPUT}
        for op in self.ops:
            if op.kind == _CONCAT:
                joined, offset = [], 0
                for t in op.inputs:
                    joined += [(n, offset + lo, offset + hi) for n, lo, hi in segments[t]]
                    offset += self.shapes[t].channels
                segments[op.output] = joined
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
                segments[op.output].append((layer_name, lo, hi))
        return net

    def _part(self, op: _Op, lo: int, hi: int,
              segments: dict[str, list[tuple[str, int, int]]]) -> tuple[Layer, tuple[str, ...]]:
        """The layer computing output channels [lo, hi) of ``op``, and its predecessors."""
        def within(tensor: str, a: int, b: int) -> list[str]:
            return [n for n, s, e in segments[tensor] if a <= s and e <= b]

        (oh, ow), (kh, kw), (sh, sw) = (op.out.h, op.out.w), op.kernel, op.stride
        if op.kind == CONV:
            step_in, step_out = op.x.channels // op.groups, op.out.channels // op.groups
            group = lo // step_out
            prevs = within(op.inputs[0], group * step_in, (group + 1) * step_in)
            return Layer(CONV, step_in, hi - lo, oh, ow, kh, kw, sh, sw), tuple(prevs)
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
