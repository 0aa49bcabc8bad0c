"""Intra-layer partitioning: how one layer is split over the nodes of its region.

A scheme gives each partition kind -- output channels (OUTP), output fmap (OFMP), batch
(BATP), input channels (INPP) -- a (rows, cols) factor, and an order from the coarsest level
to the finest (neighbouring nodes). Every node then computes the same padded per-node layer;
the occupancy is the share of that work that is real. The rules and orders are
nn_dataflow 2.1's (network spec §2.1-2.5); enumeration order decides ties, so it is kept.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

import numpy as np

from ..hardware.regions import Coord, NodeRegion
from .layer import Layer
from .schedule import PARTITION_KINDS, Partition

OUTP, OFMP, BATP, INPP = range(4)
#: Kinds that split an fmap range (a data layout uses only these).
FMAP_KINDS = (BATP, OUTP, OFMP)

Range = tuple[int, int]
#: A 4-D fmap range: (batch, channel, height, width), each [begin, end).
FmapRange = tuple[Range, Range, Range, Range]


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def approx_div(total: int, parts: int) -> bool:
    """Whether ``total`` splits into ``parts`` with at most 10% (or 1) padding."""
    if total < parts:
        return False
    padded = cdiv(total, parts) * parts
    return padded - total <= max(0.1 * padded, 1)


def split(rng: Range, index: int, parts: int) -> Range:
    """The index-th of ``parts`` near-equal pieces of [begin, end)."""
    lo, hi = rng
    length = hi - lo
    return lo + index * length // parts, lo + (index + 1) * length // parts


@cache
def factorize(value: int, k: int) -> tuple[tuple[int, ...], ...]:
    """Ordered k-tuples with product ``value``, lexicographically."""
    if k == 1:
        return ((value,),)
    return tuple((d, *rest) for d in range(1, value + 1) if value % d == 0
                 for rest in factorize(value // d, k - 1))


def range_size(rng: FmapRange) -> int:
    return math.prod(max(0, e - b) for b, e in rng)


def overlap(a: FmapRange, b: FmapRange) -> int:
    """Words in both ranges."""
    total = 1
    for (ab, ae), (bb, be) in zip(a, b, strict=True):
        side = (ae if ae < be else be) - (ab if ab > bb else bb)
        if side <= 0:
            return 0
        total *= side
    return total


@dataclass(frozen=True)
class PartitionScheme:
    """Partition factors (rows, cols) per kind (OUTP, OFMP, BATP, INPP) and their order."""

    order: tuple[int, int, int, int]
    pdims: tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]

    def __post_init__(self) -> None:
        if sorted(self.order) != [0, 1, 2, 3]:
            raise ValueError("partition order must be a permutation of the four kinds")
        if len(self.pdims) != 4 or any(len(p) != 2 or min(p) < 1 for p in self.pdims):
            raise ValueError("partition factors are four positive (rows, cols) pairs")

    @classmethod
    def trivial(cls) -> PartitionScheme:
        return cls((0, 1, 2, 3), ((1, 1),) * 4)

    @classmethod
    def from_partition(cls, part: Partition) -> PartitionScheme:
        return cls(tuple(PARTITION_KINDS.index(k) for k in part.order),
                   tuple(tuple(f) for f in part.factors))

    def to_partition(self) -> Partition:
        return Partition(tuple(PARTITION_KINDS[k] for k in self.order), self.pdims)

    def dim(self, *kinds: int) -> tuple[int, int]:
        """The (rows, cols) footprint of the given kinds (all four if none)."""
        h = w = 1
        for k in kinds or range(4):
            h *= self.pdims[k][0]
            w *= self.pdims[k][1]
        return h, w

    def size(self, *kinds: int) -> int:
        h, w = self.dim(*kinds)
        return h * w

    @cached_property
    def indices(self) -> tuple[tuple[Coord, ...], ...]:
        """Every part index (one (row, col) per kind), in nn_dataflow's order."""
        per_kind = [list(itertools.product(range(h), range(w))) for h, w in self.pdims]
        return tuple(itertools.product(*per_kind))

    def relative(self, pidx) -> Coord:
        """The relative node coordinate of a part: mixed radix over ``order``."""
        h = w = 0
        for k in self.order:
            h = h * self.pdims[k][0] + pidx[k][0]
            w = w * self.pdims[k][1] + pidx[k][1]
        return h, w

    def index_array(self) -> np.ndarray:
        """``indices`` as an array (K, kind, axis) (read-only)."""
        return _index_array(self.pdims)

    def relative_many(self) -> np.ndarray:
        """``relative`` of every part, in ``indices`` order: (K, 2)."""
        idx = self.index_array()
        rel = np.zeros((len(idx), 2), dtype=np.int64)
        for k in self.order:
            rel = rel * np.asarray(self.pdims[k]) + idx[:, k, :]
        return rel

    def coordinate(self, region: NodeRegion, pidx) -> Coord:
        return region.rel2abs(self.relative(pidx))

    def coordinates(self, region: NodeRegion) -> tuple[Coord, ...]:
        """The node of every part, in ``indices`` order."""
        return _coordinates(self, region)

    def coordinate_array(self, region: NodeRegion) -> np.ndarray:
        """``coordinates`` as an array (K, 2) (read-only)."""
        return _coordinate_array(self, region)

    def fmap_range(self, frng: FmapRange, pidx) -> FmapRange:
        """The piece of ``frng`` that part ``pidx`` owns (INPP parts share pieces)."""
        (bh, bw), (oh, ow) = pidx[BATP], pidx[OUTP]
        return (split(frng[0], bh * self.pdims[BATP][1] + bw, self.size(BATP)),
                split(frng[1], oh * self.pdims[OUTP][1] + ow, self.size(OUTP)),
                split(frng[2], pidx[OFMP][0], self.pdims[OFMP][0]),
                split(frng[3], pidx[OFMP][1], self.pdims[OFMP][1]))

    @property
    def fmap_applicable(self) -> bool:
        """Whether it can describe where an fmap is stored (no INPP)."""
        return self.size() == self.size(*FMAP_KINDS)

    def projection(self, region: NodeRegion, fmap: bool = False) -> PartitionScheme:
        """The scheme fitted to another region (to store an fmap there when ``fmap``): a
        larger region extends BATP, a smaller one cuts the coarsest levels first."""
        pd = [list(p) for p in self.pdims]
        if fmap:
            pd[INPP] = [1, 1]
        total = [math.prod(p[a] for p in pd) for a in (0, 1)]
        for a in (0, 1):
            rd = region.dims[a]
            if rd > total[a]:
                pd[BATP][a] *= rd // total[a]
            else:
                for k in reversed(self.order):
                    if rd >= pd[k][a]:
                        rd //= pd[k][a]
                    else:
                        pd[k][a] = rd
                        rd = 1
        return PartitionScheme(self.order, tuple(tuple(p) for p in pd))

    def neighbour_dist(self, region: NodeRegion, kind: int) -> tuple[float, float]:
        """Average hops between parts adjacent along ``kind``'s rows and cols (inf if none)."""
        dist: list[list[int]] = [[], []]
        where = dict(zip(self.indices, self.coordinates(region), strict=True))
        for pidx, here in where.items():
            for a in (0, 1):
                if pidx[kind][a] > 0:
                    step = list(pidx)
                    prev = list(pidx[kind])
                    prev[a] -= 1
                    step[kind] = tuple(prev)
                    there = where[tuple(step)]
                    dist[a].append(abs(here[0] - there[0]) + abs(here[1] - there[1]))
        return tuple(sum(d) / len(d) if d else math.inf for d in dist)  # type: ignore[return-value]


@lru_cache(maxsize=4096)
def _index_array(pdims) -> np.ndarray:
    # itertools.product order: kinds 0..3 slowest to fastest, each (row, col) row-major.
    shape = [f for pair in pdims for f in pair]
    idx = np.indices(shape).reshape(8, -1).T.reshape(-1, 4, 2).astype(np.int64)
    idx.flags.writeable = False
    return idx


@lru_cache(maxsize=4096)
def _coordinates(scheme: PartitionScheme, region: NodeRegion) -> tuple[Coord, ...]:
    return tuple(map(tuple, scheme.coordinate_array(region).tolist()))


@lru_cache(maxsize=4096)
def _coordinate_array(scheme: PartitionScheme, region: NodeRegion) -> np.ndarray:
    nodes = region.rel2abs_many(scheme.relative_many())
    nodes.flags.writeable = False
    return nodes


# -- the per-node layer and data ranges ---------------------------------------------------


def part_layer(layer: Layer, batch: int, scheme: PartitionScheme) -> tuple[Layer, int, float]:
    """(per-node layer, per-node batch, occupancy) of a partitioned layer."""
    pd = scheme.pdims
    p_out = cdiv(layer.out_channels, scheme.size(OUTP))
    p_h = cdiv(layer.out_h, pd[OFMP][0])
    p_w = cdiv(layer.out_w, pd[OFMP][1])
    p_batch = cdiv(batch, scheme.size(BATP))
    if layer.is_conv:
        p_in = cdiv(layer.in_channels, scheme.size(INPP))
        if layer.kind == "fc":
            node = Layer.fc(p_in, p_out, (layer.kernel_h, layer.kernel_w))
        else:
            node = Layer.conv(p_in, p_out, (p_h, p_w), (layer.kernel_h, layer.kernel_w),
                              (layer.stride_h, layer.stride_w))
    else:
        if scheme.size(INPP) > 1:
            raise ValueError("input-channel partitioning does not apply to pool, eltwise or "
                             "dwconv layers")
        if layer.kind == "dwconv":
            node = Layer.dwconv(p_out, (p_h, p_w), (layer.kernel_h, layer.kernel_w),
                                (layer.stride_h, layer.stride_w))
        elif layer.kind == "pool":
            node = Layer.pool(p_out, (p_h, p_w), (layer.kernel_h, layer.kernel_w),
                              (layer.stride_h, layer.stride_w))
        else:
            node = Layer.eltwise(p_out, (p_h, p_w), layer.inputs)
    occupancy = layer.ops(batch) / (node.ops(p_batch) * scheme.size())
    return node, p_batch, occupancy


def local_reach(layer: Layer) -> int:
    """nn_dataflow's ``nreg``: channels a local-region output reads around its own (its
    ranges read ``nreg - nreg // 2`` channels past their end: one for pooling, as in
    nn_dataflow; a depthwise layer reads exactly its own channels)."""
    return layer.inputs if layer.kind == "eltwise" else 1


def data_ranges(layer: Layer, batch: int, scheme: PartitionScheme, pidx,
                eltwise_all: bool = False):
    """(filter range, ifmap ranges, ofmap range) processed by part ``pidx``.

    The filter range is ((in_begin, in_end), (out_begin, out_end)), None for local-region
    layers; a depthwise layer's is ((0, 1), its channels): one filter per channel. Ifmap
    ranges are a tuple of fmap ranges: one, or with ``eltwise_all`` one per merged input of
    an element-wise layer (nn_dataflow reads a window of the concatenation).
    """
    full = ((0, batch), (0, layer.out_channels), (0, layer.out_h), (0, layer.out_w))
    orng = scheme.fmap_range(full, pidx)
    (h0, h1), (w0, w1) = orng[2], orng[3]
    kh, kw = layer.kernel_h, layer.kernel_w
    rows = (h0 * layer.stride_h, max(h0 * layer.stride_h, (h1 - 1) * layer.stride_h + kh))
    cols = (w0 * layer.stride_w, max(w0 * layer.stride_w, (w1 - 1) * layer.stride_w + kw))
    if layer.is_conv:
        (ih, iw) = scheme.pdims[INPP]
        idx = pidx[INPP][0] * iw + pidx[INPP][1]
        chans = split((0, layer.in_channels), idx, ih * iw)
        irng = (orng[0], chans, rows, cols)
        return (chans, orng[1]), (irng,), orng
    n0, n1 = orng[1]
    if eltwise_all and layer.kind == "eltwise":
        m = layer.out_channels
        return None, tuple((orng[0], (k * m + n0, k * m + n1), rows, cols)
                           for k in range(layer.inputs)), orng
    if layer.kind == "dwconv":
        # Channel c of the output reads channel c of the input, through filter c.
        return ((0, 1), orng[1]), ((orng[0], orng[1], rows, cols),), orng
    reach = local_reach(layer)
    chans = (max(0, n0 - reach // 2), min(layer.in_channels, n1 + reach - reach // 2))
    return None, ((orng[0], chans, rows, cols),), orng


# -- enumeration ----------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionOptions:
    """Which schemes the search may use (scenario search.partition and switches)."""

    hybrid: bool = True
    batch: bool = False
    ifmaps: bool = False
    #: nn_dataflow drops transposed schemes assuming a square array; True reproduces that,
    #: False keeps the schemes it loses on non-square regions (docs/divergences.md).
    square_dedup: bool = False


def gen_partitions(layer: Layer, batch: int, dims: tuple[int, int],
                   options: PartitionOptions, network_input: bool = False
                   ) -> list[PartitionScheme]:
    """The partition schemes of a layer on a region of ``dims`` nodes, in nn_dataflow's order
    (with its fallback when nothing passes the filters). ``network_input``: the layer stands
    for the network's input data (no input-channel divisibility test)."""
    H, W = dims
    out = []
    for ph, pw in itertools.product(factorize(H, 4), factorize(W, 4)):
        pdims = tuple(zip(ph, pw, strict=True))
        if not _dims_ok(layer, batch, dims, pdims, options, network_input):
            continue
        sizes = [h * w for h, w in pdims]
        for order in itertools.permutations(range(4)):
            if _order_ok(order, pdims, sizes):
                out.append(PartitionScheme(order, pdims))
    if not out:
        pdims = [(1, 1)] * 4
        pdims[OUTP if (layer.out_h, layer.out_w) == (1, 1) else OFMP] = (H, W)
        out.append(PartitionScheme((0, 1, 2, 3), tuple(pdims)))
    return out


def _dims_ok(layer, batch, dims, pdims, options: PartitionOptions, network_input: bool) -> bool:
    H, W = dims
    size = [h * w for h, w in pdims]
    if (not options.batch and size[BATP] > 1) or batch % size[BATP]:
        return False
    if any(1 < h < H and 1 < w < W for k, (h, w) in enumerate(pdims) if k != OFMP):
        return False
    if options.hybrid:
        if not approx_div(layer.out_channels, size[OUTP]):
            return False
        if not (approx_div(layer.out_h, pdims[OFMP][0])
                and approx_div(layer.out_w, pdims[OFMP][1])):
            return False
        if not options.ifmaps and size[INPP] > 1:
            return False
        if network_input:
            pass
        elif layer.is_conv:
            if not approx_div(layer.in_channels, size[INPP]):
                return False
        elif size[INPP] > 1:
            return False
    else:
        if size[INPP] != 1:
            return False
        if (layer.out_h, layer.out_w) == (1, 1):
            if size[OFMP] != 1:
                return False
        elif size[OUTP] != 1:
            return False
    if size[OFMP] == 1 and all(h == 1 or w == 1 for h, w in pdims):
        hs = tuple(h for h, _ in pdims)
        ws = tuple(w for _, w in pdims)
        # A transposed twin is the same scheme only on a square region.
        if hs > ws and (options.square_dedup or H == W):
            return False
    return True


def _order_ok(order, pdims, sizes) -> bool:
    for a, b in itertools.pairwise(order):
        if sizes[a] == 1 and sizes[b] == 1 and a > b:
            return False
        if sizes[a] > 1 and sizes[b] == 1:
            return False
        if a != BATP and pdims[b][0] == 1 and pdims[b][1] > 1 and pdims[a][0] > 1 \
                and pdims[a][1] == 1:
            return False
    trivial = sum(1 for s in sizes if s == 1)
    return not (sizes[BATP] > 1 and order[trivial] != BATP)
