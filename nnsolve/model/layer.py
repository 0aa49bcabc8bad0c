"""Layer kinds and their dimensions: the shapes that are scheduled.

A layer is a pure shape (no name): two layers with equal fields are the same scheduling
problem. Sizes are counted in words (data elements), per sample unless a batch is given.

Conventions follow nn_dataflow 2.1: CONV and FC layers compute an output fmap of
``out_channels`` x ``out_h`` x ``out_w`` from ``in_channels`` input fmaps with a
``kernel_h`` x ``kernel_w`` filter and a stride; FC is a CONV with a 1x1 output whose kernel
covers the whole input. Pooling and element-wise layers are *local-region* layers: each output
point merges a region of the input (a ``kernel_h`` x ``kernel_w`` window of one channel for
pooling, the same point of ``inputs`` channels for element-wise).

DWCONV (depthwise convolution, an extension beyond nn_dataflow) filters each of its
``in_channels`` == ``out_channels`` channels with a filter of its own: output channel c reads
input channel c only. Its loops are those of a CONV with one input channel per group: I has
one iteration, O runs over the channels (the groups), and every data category is indexed by
O (docs/methods.md, "Depthwise convolution").

A grouped CONV (``groups`` G > 1, an extension beyond nn_dataflow) is G identical independent
dense convolutions of ``in_channels``/G -> ``out_channels``/G channels; the channel counts
are the whole layer's. It is scheduled one group at a time (``one_group``): the groups run
one after another on the layer's hardware with the same schedule, so its cost is G times one
group's (docs/networks.md, "Grouped convolution").
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import quote
from .dims import CONV_DATA_LOOPS, DWCONV_DATA_LOOPS, LOCAL_DATA_LOOPS

CONV = "conv"
FC = "fc"
POOL = "pool"
ELTWISE = "eltwise"
DWCONV = "dwconv"
KINDS = (CONV, FC, POOL, ELTWISE, DWCONV)


@dataclass(frozen=True)
class Layer:
    """One layer's shape.

    ``kernel_*`` is the filter for CONV/FC/DWCONV and the pooling window for POOL (1 for
    ELTWISE).
    ``inputs`` is the number of merged inputs of an element-wise layer (1 otherwise).
    """

    kind: str
    in_channels: int
    out_channels: int
    out_h: int
    out_w: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    inputs: int = 1
    groups: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown layer kind {quote(self.kind)}; allowed: "
                             f"{', '.join(KINDS)}")
        for name in ("in_channels", "out_channels", "out_h", "out_w", "kernel_h", "kernel_w",
                     "stride_h", "stride_w", "inputs", "groups"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {quote(value)}")
        fc_shape = (self.out_h, self.out_w, self.stride_h, self.stride_w)
        if self.kind == FC and fc_shape != (1, 1, 1, 1):
            raise ValueError("an FC layer has a 1x1 output and stride 1")
        if self.kind == ELTWISE:
            if (self.kernel_h, self.kernel_w, self.stride_h, self.stride_w) != (1, 1, 1, 1):
                raise ValueError("an element-wise layer has a 1x1 region and stride 1")
            if self.in_channels != self.out_channels * self.inputs:
                raise ValueError("an element-wise layer has in_channels = out_channels * inputs")
        if self.kind == POOL:
            if self.inputs != 1:
                raise ValueError("a pooling layer merges one input")
            if self.in_channels != self.out_channels:
                raise ValueError("a pooling layer keeps the number of channels")
        if self.kind == DWCONV and self.in_channels != self.out_channels:
            raise ValueError("a depthwise convolution keeps the number of channels "
                             "(each output channel reads its own input channel)")
        if self.kind in (CONV, FC, DWCONV) and self.inputs != 1:
            raise ValueError("inputs applies to element-wise layers only")
        if self.groups != 1:
            if self.kind != CONV:
                raise ValueError(f"groups applies to conv layers only, not {self.kind}")
            if self.in_channels % self.groups or self.out_channels % self.groups:
                raise ValueError(f"groups {self.groups} must divide the input channels "
                                 f"({self.in_channels}) and the output channels "
                                 f"({self.out_channels})")

    # -- constructors -----------------------------------------------------------------------

    @classmethod
    def conv(cls, in_channels: int, out_channels: int, out_size: int | tuple[int, int],
             kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1,
             groups: int = 1) -> Layer:
        """A convolution layer (of ``groups`` independent groups)."""
        (oh, ow), (kh, kw), (sh, sw) = _pair(out_size), _pair(kernel), _pair(stride)
        return cls(CONV, in_channels, out_channels, oh, ow, kh, kw, sh, sw, groups=groups)

    @classmethod
    def fc(cls, in_channels: int, out_channels: int, kernel: int | tuple[int, int] = 1) -> Layer:
        """A fully-connected layer over an input fmap of size ``kernel``."""
        kh, kw = _pair(kernel)
        return cls(FC, in_channels, out_channels, 1, 1, kh, kw)

    @classmethod
    def pool(cls, channels: int, out_size: int | tuple[int, int], kernel: int | tuple[int, int],
             stride: int | tuple[int, int] | None = None) -> Layer:
        """A pooling layer; the stride defaults to the window."""
        (oh, ow), (kh, kw) = _pair(out_size), _pair(kernel)
        sh, sw = _pair(stride) if stride is not None else (kh, kw)
        return cls(POOL, channels, channels, oh, ow, kh, kw, sh, sw)

    @classmethod
    def dwconv(cls, channels: int, out_size: int | tuple[int, int],
               kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1) -> Layer:
        """A depthwise convolution: each of ``channels`` channels through its own filter."""
        (oh, ow), (kh, kw), (sh, sw) = _pair(out_size), _pair(kernel), _pair(stride)
        return cls(DWCONV, channels, channels, oh, ow, kh, kw, sh, sw)

    @classmethod
    def eltwise(cls, channels: int, out_size: int | tuple[int, int], inputs: int) -> Layer:
        """An element-wise layer merging ``inputs`` fmaps of ``channels`` channels each."""
        oh, ow = _pair(out_size)
        return cls(ELTWISE, channels * inputs, channels, oh, ow, inputs=inputs)

    # -- derived shape ----------------------------------------------------------------------

    def one_group(self) -> Layer:
        """The problem that is scheduled: one group of a grouped CONV (a dense CONV of
        in_channels/G -> out_channels/G), the layer itself otherwise."""
        if self.groups == 1:
            return self
        g = self.groups
        return Layer(CONV, self.in_channels // g, self.out_channels // g, self.out_h,
                     self.out_w, self.kernel_h, self.kernel_w, self.stride_h, self.stride_w)

    @property
    def is_conv(self) -> bool:
        """CONV or FC (weights, all-to-all channels); otherwise a local-region layer or a
        depthwise one (channel c to channel c: it partitions and pipelines as a local-region
        layer does, but has weights, ``has_weights``)."""
        return self.kind in (CONV, FC)

    @property
    def has_weights(self) -> bool:
        """CONV, FC or DWCONV: the layer reads filters."""
        return self.kind in (CONV, FC, DWCONV)

    @property
    def data_loops(self) -> tuple[tuple[int, ...], ...]:
        """The loops that index each data category."""
        if self.kind == DWCONV:
            return DWCONV_DATA_LOOPS
        return CONV_DATA_LOOPS if self.is_conv else LOCAL_DATA_LOOPS

    @property
    def in_h(self) -> int:
        """Input fmap height (no padding)."""
        return self.kernel_h + (self.out_h - 1) * self.stride_h

    @property
    def in_w(self) -> int:
        """Input fmap width (no padding)."""
        return self.kernel_w + (self.out_w - 1) * self.stride_w

    @property
    def ops_per_output(self) -> int:
        """MACs (CONV/FC/DWCONV) or merge operations (local region) per output point."""
        if self.is_conv:
            return self.kernel_h * self.kernel_w * self.in_channels // self.groups
        if self.kind == DWCONV:
            return self.kernel_h * self.kernel_w
        return self.inputs * self.kernel_h * self.kernel_w

    def ops(self, batch: int = 1) -> int:
        """Operations of the whole layer for ``batch`` samples."""
        return self.out_channels * self.out_h * self.out_w * self.ops_per_output * batch

    def weight_words(self) -> int:
        """Words of all filters (0 for local-region layers)."""
        if self.kind == DWCONV:
            return self.out_channels * self.kernel_h * self.kernel_w
        if not self.is_conv:
            return 0
        return self.in_channels * self.out_channels * self.kernel_h * self.kernel_w // self.groups

    def ifmap_words(self, batch: int = 1) -> int:
        """Words of all input fmaps (unpadded) for ``batch`` samples."""
        return self.in_channels * self.in_h * self.in_w * batch

    def ofmap_words(self, batch: int = 1) -> int:
        """Words of all output fmaps for ``batch`` samples."""
        return self.out_channels * self.out_h * self.out_w * batch

    def accepts_input_size(self, h: int, w: int, crop: bool = False) -> bool:
        """Whether a predecessor fmap of h x w feeds this layer, allowing padding or cropping.

        nn_dataflow's rule: the size must lie between out*stride and the unpadded input size.
        With ``crop`` the fmap may also be larger: the windows leave its trailing rows and
        columns unread (an ONNX floor-mode window), which costs nothing.
        """
        lo_h, hi_h = sorted((self.out_h * self.stride_h, self.in_h))
        lo_w, hi_w = sorted((self.out_w * self.stride_w, self.in_w))
        if crop:
            return lo_h <= h and lo_w <= w
        return lo_h <= h <= hi_h and lo_w <= w <= hi_w


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """An int means a square (h, w) pair."""
    if isinstance(value, (tuple, list)):
        h, w = value
        return int(h), int(w)
    return value, value
