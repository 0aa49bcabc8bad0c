"""Networks: a DAG of layers (networkx) with its input and external inputs (the YAML
format: formats/network_yaml.py).

Layers keep their insertion order (it is the order the network search walks). Every layer
names its predecessors: earlier layers, the network input ``input``, or external inputs such
as LSTM initial states. Connections follow nn_dataflow's rules: the channels of all
predecessors add up to the layer's input channels, and each predecessor's fmap size must fit
the layer's input, allowing padding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import clip, did_you_mean, quote
from .layer import ELTWISE, Layer

if TYPE_CHECKING:
    import networkx as nx

INPUT = "input"


@dataclass(frozen=True)
class Fmap:
    """The shape of a network input or external input: channels x h x w per sample."""

    channels: int
    h: int
    w: int


@dataclass
class Network:
    """A named DAG of layers in insertion order."""

    name: str
    input: Fmap
    external: dict[str, Fmap] = field(default_factory=dict)
    layers: dict[str, Layer] = field(default_factory=dict)
    prevs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Layers whose windows leave their input's trailing rows/columns unread (``crop``).
    cropped: set[str] = field(default_factory=set)

    def add(self, name: str, layer: Layer, prevs: tuple[str, ...] | None = None,
            crop: bool = False) -> None:
        """Append a layer; ``prevs`` defaults to the layer added last (or the input).
        ``crop``: the layer may leave trailing input rows/columns unread.

        Raises ValueError when the name is taken or the connection does not fit.
        """
        if name in self.layers or name == INPUT or name in self.external:
            raise ValueError(f"the name {quote(name)} is already used")
        if not prevs:
            prevs = (next(reversed(self.layers)),) if self.layers else (INPUT,)
        for p in prevs:
            if p not in self.layers and p != INPUT and p not in self.external:
                known = [INPUT, *self.external, *self.layers]
                raise ValueError(f"predecessor {quote(p)} is not an earlier layer, 'input' or an "
                                 f"external input{did_you_mean(p, known)}")
        if len(set(prevs)) != len(prevs):
            raise ValueError("a predecessor is listed twice")
        channels = 0
        for p in prevs:
            c, h, w = self.fmap(p)
            if not layer.accepts_input_size(h, w, crop):
                lo = f"{layer.out_h * layer.stride_h}x{layer.out_w * layer.stride_w}"
                if crop:
                    raise ValueError(f"predecessor {p!r} gives {h}x{w} fmaps, but the layer "
                                     f"needs at least {lo} (output size x stride)")
                hint = ("; set crop: true to leave the trailing rows and columns unread"
                        if h >= layer.out_h * layer.stride_h
                        and w >= layer.out_w * layer.stride_w else "")
                raise ValueError(
                    f"predecessor {quote(p)} gives {h}x{w} fmaps, but the layer needs between "
                    f"{lo} and {layer.in_h}x{layer.in_w} (output size x stride .. unpadded "
                    f"input size){hint}")
            channels += c
        if channels != layer.in_channels:
            raise ValueError(f"predecessors give {channels} channels in total, but the layer "
                             f"takes {layer.in_channels}")
        if layer.kind == ELTWISE:
            self._check_merge(layer, prevs)
        self.layers[name] = layer
        self.prevs[name] = tuple(prevs)
        if crop:
            self.cropped.add(name)
        self._readers = None

    def _check_merge(self, layer: Layer, prevs: tuple[str, ...]) -> None:
        """An element-wise layer merges ``inputs`` fmaps of ``out_channels`` channels each,
        the predecessors' channels concatenated in order: each input must be made of whole
        predecessors (two predecessors of 8 and 4 channels are not two inputs of 6)."""
        width = layer.out_channels
        ends, total = set(), 0
        for p in prevs:
            total += self.fmap(p)[0]
            ends.add(total)
        if all(k * width in ends for k in range(1, layer.inputs)):
            return
        given = ", ".join(f"{quote(p)} ({self.fmap(p)[0]} channels)" for p in prevs)
        raise ValueError(f"an element-wise layer merges {layer.inputs} inputs of {width} "
                         f"channels each, but its predecessors {clip(given, 240)} do not "
                         f"split into them; each input must be one or more whole "
                         f"predecessors")

    def fmap(self, name: str) -> tuple[int, int, int]:
        """(channels, h, w) of the output of a layer, the input or an external input."""
        if name == INPUT:
            return self.input.channels, self.input.h, self.input.w
        if name in self.external:
            ext = self.external[name]
            return ext.channels, ext.h, ext.w
        layer = self.layers[name]
        return layer.out_channels, layer.out_h, layer.out_w

    def nexts(self, name: str) -> tuple[str, ...]:
        """Layers that read the output of ``name``, in insertion order (from an index kept
        since the last ``add``: ``prevs`` changes through ``add`` only)."""
        readers = getattr(self, "_readers", None)
        if readers is None or readers[0] != len(self.prevs):
            index: dict[str, list[str]] = {}
            for n, ps in self.prevs.items():
                for p in ps:
                    index.setdefault(p, []).append(n)
            readers = (len(self.prevs), {p: tuple(ns) for p, ns in index.items()})
            self._readers = readers
        return readers[1].get(name, ())

    @property
    def graph(self) -> nx.DiGraph:
        """The DAG: nodes are 'input', external inputs and layers (attribute ``layer``)."""
        import networkx as nx  # on first use: the package's start-up does not need it

        g = nx.DiGraph(name=self.name)
        g.add_node(INPUT, fmap=self.input)
        for ext, fm in self.external.items():
            g.add_node(ext, fmap=fm)
        for name, layer in self.layers.items():
            g.add_node(name, layer=layer)
            for p in self.prevs[name]:
                g.add_edge(p, name)
        return g

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, name: str) -> Layer:
        return self.layers[name]

    def total_ops(self, batch: int = 1) -> int:
        """Operations of all layers."""
        return sum(layer.ops(batch) for layer in self.layers.values())

    def total_weights(self) -> int:
        """Words of all CONV/FC filters."""
        return sum(layer.weight_words() for layer in self.layers.values())


# -- loading ------------------------------------------------------------------------------
























