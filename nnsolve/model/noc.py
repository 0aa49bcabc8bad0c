"""NoC hops of bringing each data category to a layer's processing nodes once.

The layer's memory NoC hops are these unit hops times the top-level fetch counts (network
spec §2.7). Weights come from the nearest DRAM channel (or along a tree from the channels when
nodes forward data), ifmaps from wherever the producers' layout put them, and ofmaps go to
the destination layout; input-channel replicas of an ofmap piece reduce their partial sums
at the middle replica (or along a tree).

A partition search asks for these hops for thousands of (scheme, layout) pairs, so the parts
of a scheme and the pieces of a layout are held as integer arrays and every count is an array
reduction. Forwarding trees are minimum spanning trees over the nodes that share a range; their
weight does not depend on where the tree is entered, so it is computed once per node group.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from ..errors import TooLarge
from ..hardware.regions import Coord, NodeRegion
from .layer import Layer
from .layout import DataLayout
from .partition import BATP, INPP, OFMP, OUTP, FmapRange, PartitionScheme, local_reach

#: Exclusive bound of the int64 word and hop counts computed here (2^62, as the evaluator's).
HOP_LIMIT = 2**62


def check_hop_range(layer: Layer, batch: int, chip: tuple[int, int]) -> None:
    """Raise TooLarge unless every count computed here fits int64 for ``layer`` on a chip
    of ``chip`` nodes: a range (or overlap) holds at most the largest data category's words
    W, each of at most H*W parts reads its ranges from pieces that do not overlap over at
    most (H - 1) + (W - 1) hops, and a forwarding tree adds at most as much again."""
    words = max(layer.ifmap_words(batch), layer.ofmap_words(batch), layer.weight_words())
    nodes = chip[0] * chip[1]
    bound = 2 * words * nodes * max(1, chip[0] + chip[1] - 2)
    if bound >= HOP_LIMIT:
        raise TooLarge(f"its NoC word-hops on {chip[0]}x{chip[1]} nodes may reach {bound:.3g}, "
                       f"beyond the exact 64-bit range (2^62 = {HOP_LIMIT:.3g}); use a "
                       "smaller batch, layer or node array")


@dataclass(frozen=True, eq=False)
class Parts:
    """The parts of a scheme that have work, as arrays, in the scheme's part order.

    ``nodes`` (N, 2) absolute coordinates; ``ifmaps`` (N, m, 4, 2) the ifmap ranges each part
    reads ([begin, end) per batch, channel, row, col); ``ofmaps`` (N, 4, 2); ``filters``
    (N, 2, 2) the (input, output) channel ranges of its weights (depthwise: (0, 1) and its
    channels), or None for local-region layers. The ``*_group`` properties number the parts
    that need the same data, in order of first part (filters: -1 for a part without
    weights).
    """

    nodes: np.ndarray
    ifmaps: np.ndarray
    ofmaps: np.ndarray
    filters: np.ndarray | None

    @cached_property
    def ifmap_group(self) -> np.ndarray:
        return _group_ids(self.ifmaps.reshape(len(self.nodes), -1))

    @cached_property
    def ofmap_group(self) -> np.ndarray:
        return _group_ids(self.ofmaps.reshape(len(self.nodes), -1))

    @cached_property
    def filter_group(self) -> np.ndarray | None:
        if self.filters is None:
            return None
        has = _sizes(self.filters) > 0
        group = np.full(len(self.filters), -1, dtype=np.int64)
        if has.any():
            group[has] = _group_ids(self.filters[has].reshape(int(has.sum()), -1))
        return group

    def members(self, group: np.ndarray) -> list[np.ndarray]:
        """Part indices of each group, in part order."""
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(group.max() + 2))
        return [order[bounds[g]:bounds[g + 1]] for g in range(len(bounds) - 1)]


def _split(length: int, index: np.ndarray, parts: int) -> np.ndarray:
    """[begin, end) of the index-th of ``parts`` near-equal pieces of [0, length): (K, 2)."""
    return np.stack([index * length // parts, (index + 1) * length // parts], axis=-1)


def _group_ids(rows: np.ndarray) -> np.ndarray:
    """Equal rows get the same id; ids count up in order of first appearance."""
    rows = np.ascontiguousarray(rows)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).reshape(-1)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


@lru_cache(maxsize=4096)
def scheme_parts(layer: Layer, batch: int, region: NodeRegion, scheme: PartitionScheme,
                 eltwise_all: bool = False) -> Parts:
    """What every part of ``scheme`` on ``region`` reads and writes (parts with work only)."""
    idx = scheme.index_array()                                           # (K, kind, axis)
    pd = scheme.pdims
    flat = idx[:, :, 0] * np.asarray([w for _, w in pd]) + idx[:, :, 1]  # index within kind
    out = np.stack([_split(batch, flat[:, BATP], scheme.size(BATP)),
                    _split(layer.out_channels, flat[:, OUTP], scheme.size(OUTP)),
                    _split(layer.out_h, idx[:, OFMP, 0], pd[OFMP][0]),
                    _split(layer.out_w, idx[:, OFMP, 1], pd[OFMP][1])], axis=1)
    (h0, h1), (w0, w1) = out[:, 2].T, out[:, 3].T
    sh, sw, kh, kw = layer.stride_h, layer.stride_w, layer.kernel_h, layer.kernel_w
    rows = np.stack([h0 * sh, np.maximum(h0 * sh, (h1 - 1) * sh + kh)], axis=-1)
    cols = np.stack([w0 * sw, np.maximum(w0 * sw, (w1 - 1) * sw + kw)], axis=-1)
    filters = None
    n0, n1 = out[:, 1, 0], out[:, 1, 1]
    if layer.is_conv:
        chans = [_split(layer.in_channels, flat[:, INPP], scheme.size(INPP))]
        filters = np.stack([chans[0], out[:, 1]], axis=1)
    elif eltwise_all and layer.kind == "eltwise":
        m = layer.out_channels
        chans = [np.stack([k * m + n0, k * m + n1], axis=-1) for k in range(layer.inputs)]
    elif layer.kind == "dwconv":
        # Channel c reads ifmap channel c through filter c: (0, 1) x its channels.
        chans = [out[:, 1]]
        filters = np.stack([np.stack([np.zeros_like(n0), np.ones_like(n0)], axis=-1),
                            out[:, 1]], axis=1)
    else:
        reach = local_reach(layer)
        chans = [np.stack([np.maximum(0, n0 - reach // 2),
                           np.minimum(layer.in_channels, n1 + reach - reach // 2)], axis=-1)]
    ifmaps = np.stack([np.stack([out[:, 0], c, rows, cols], axis=1) for c in chans], axis=1)
    work = (_sizes(ifmaps).sum(axis=1) > 0) & (_sizes(out) > 0)
    nodes = scheme.coordinate_array(region)[work]
    ifmaps, out = ifmaps[work], out[work]
    return Parts(nodes, ifmaps, out, None if filters is None else filters[work])


def _sizes(ranges: np.ndarray) -> np.ndarray:
    """Words in each range of an (..., d, 2) array of [begin, end) pairs."""
    return np.clip(ranges[..., 1] - ranges[..., 0], 0, None).prod(axis=-1)


def overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Words in both ranges, for every range of ``a`` (..., 4, 2) against ``b`` (P, 4, 2)."""
    out = None
    for d in range(a.shape[-2]):       # one dimension at a time: no 4-D temporaries
        width = np.minimum(a[..., None, d, 1], b[:, d, 1])
        width -= np.maximum(a[..., None, d, 0], b[:, d, 0])
        np.maximum(width, 0, out=width)
        if out is None:
            out = width
        else:
            out *= width
    return out


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Manhattan hops between every node of ``a`` (M, 2) and of ``b`` (P, 2)."""
    # One axis at a time: a sum over a last axis of length 2 is a slow reduction.
    out = np.abs(a[:, None, 0] - b[None, :, 0])
    out += np.abs(a[:, None, 1] - b[None, :, 1])
    return out


def tree_weight(roots: np.ndarray, others: np.ndarray) -> int:
    """Weight of the cheapest tree linking every node of ``others`` to one of ``roots`` (the
    roots are linked to each other for free): Prim's algorithm on Manhattan hops."""
    if not len(others):
        return 0
    best = distances(others, roots).min(axis=1) if len(roots) else None
    between = distances(others, others)
    if best is None:
        best = between[0].copy()
    best = best.astype(np.int64)
    done = np.zeros(len(others), dtype=bool)
    total = 0
    for _ in range(len(others)):
        i = int(np.argmin(np.where(done, np.iinfo(np.int64).max, best)))
        total += int(best[i])
        done[i] = True
        np.minimum(best, between[i], out=best)
    return total


@lru_cache(maxsize=4096)
def _group_trees(parts: Parts, kind: str) -> np.ndarray:
    """Spanning-tree weight over the nodes of each ifmap or ofmap group."""
    group = parts.ifmap_group if kind == "ifmap" else parts.ofmap_group
    members = parts.members(group)
    if len({len(m) for m in members}) != 1 or len(members[0]) < 2:
        return np.asarray([_shape_tree(parts.nodes[m]) for m in members], dtype=np.int64)
    # Groups of one size (a regular scheme's): their shapes at once, each distinct one
    # solved once (mostly there is one: the groups are translates of each other).
    nodes = parts.nodes[np.stack(members)].astype(np.int64)          # (G, m, 2)
    rel = (nodes - nodes.min(axis=1, keepdims=True)).reshape(len(members), -1)
    count = nodes.shape[1]
    if (rel == rel[0]).all():
        return np.full(len(members), _tree_of_shape(count, rel[0].tobytes()), dtype=np.int64)
    shapes, inverse = np.unique(rel, axis=0, return_inverse=True)
    weights = np.asarray([_tree_of_shape(count, np.ascontiguousarray(shape).tobytes())
                          for shape in shapes], dtype=np.int64)
    return weights[inverse.reshape(-1)]


def _shape_tree(nodes: np.ndarray) -> int:
    """``tree_weight`` of a rootless node set; it depends only on the set's shape, which
    the groups of one scheme mostly share (translates of each other)."""
    if len(nodes) < 2:
        return 0
    rel = nodes - nodes.min(axis=0)
    return _tree_of_shape(len(rel), rel.astype(np.int64).tobytes())


@lru_cache(maxsize=1 << 16)
def _tree_of_shape(count: int, rel: bytes) -> int:
    nodes = np.frombuffer(rel, dtype=np.int64).reshape(count, 2)
    return tree_weight(np.zeros((0, 2), np.int64), nodes)


@lru_cache(maxsize=4096)
def _filter_trees(parts: Parts, sources: tuple[Coord, ...]) -> np.ndarray:
    """Spanning-tree weight from the DRAM channels over the nodes of each filter group."""
    keep = parts.filter_group >= 0
    nodes = parts.nodes[keep].astype(np.int64)
    return np.asarray([_rooted_tree(sources, nodes[m].tobytes(), len(m))
                       for m in parts.members(parts.filter_group[keep])], dtype=np.int64)


@lru_cache(maxsize=1 << 16)
def _rooted_tree(sources: tuple[Coord, ...], nodes: bytes, count: int) -> int:
    """``tree_weight`` from the channels ``sources``, cached on the exact node set."""
    others = np.frombuffer(nodes, dtype=np.int64).reshape(count, 2)
    return tree_weight(np.asarray(sources, dtype=np.int64), others)


def _group_min(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    out = np.full(int(group.max()) + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, group, values)
    return out


def _first(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The value of each group's first part (group ids are 0, 1, ... with no gaps)."""
    return values[np.unique(group, return_index=True)[1]]


def _middle(group: np.ndarray) -> np.ndarray:
    """The middle part of each group (the later of two middles), in part order."""
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return order[starts + counts // 2]


@lru_cache(maxsize=1024)
def _layout_arrays(layout: DataLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(piece ranges (P, 4, 2), piece nodes (P, 2), full range (4, 2)) of a layout."""
    pieces, nodes = [], []
    for frng, region, part in zip(layout.frngs, layout.regions, layout.parts, strict=True):
        for pidx, node in zip(part.indices, part.coordinates(region), strict=True):
            pieces.append(part.fmap_range(frng, pidx))
            nodes.append(node)
    return (np.asarray(pieces, dtype=np.int64).reshape(-1, 4, 2),
            np.asarray(nodes, dtype=np.int64).reshape(-1, 2),
            np.asarray(layout.full, dtype=np.int64))



def _fetch_hops(ranges: np.ndarray, dests: np.ndarray, layout: DataLayout) -> np.ndarray:
    """Word-hops to bring each range (..., 4, 2) from ``layout``'s pieces to its own
    destination node (``dests`` matching the leading axis)."""
    pieces, nodes, _ = _layout_arrays(layout)
    ov = overlaps(ranges, pieces)                       # (N, ..., P)
    dist = distances(dests, nodes)                      # (N, P)
    dist = dist.reshape(dist.shape[:1] + (1,) * (ov.ndim - 2) + dist.shape[1:])
    return (ov * dist).sum(axis=-1)


def unit_nhops(layer: Layer, batch: int, region: NodeRegion, scheme: PartitionScheme,
               filter_nodes: tuple[Coord, ...], ifmap_layout: DataLayout,
               ofmap_layout: DataLayout, forwarding: bool,
               eltwise_all: bool = False) -> tuple[int, int, int]:
    """(weight, ifmap, ofmap) word-hops of one top-level fetch."""
    return (filter_hops(layer, batch, region, scheme, filter_nodes, forwarding, eltwise_all),
            ifmap_hops(layer, batch, region, scheme, ifmap_layout, forwarding, eltwise_all),
            ofmap_hops(layer, batch, region, scheme, ofmap_layout, forwarding, eltwise_all))


def filter_hops(layer: Layer, batch: int, region: NodeRegion, scheme: PartitionScheme,
                filter_nodes: tuple[Coord, ...], forwarding: bool,
                eltwise_all: bool = False) -> int:
    """Weight word-hops of one top-level fetch from the DRAM channels."""
    parts = scheme_parts(layer, batch, region, scheme, eltwise_all)
    sources = tuple(dict.fromkeys(filter_nodes))
    keep = None if parts.filters is None else _sizes(parts.filters) > 0
    if keep is None or not keep.any():
        return 0
    words = _sizes(parts.filters[keep]) * (layer.kernel_h * layer.kernel_w)
    if forwarding:
        group = parts.filter_group[keep]
        return int((_first(words, group) * _filter_trees(parts, sources)).sum())
    near = distances(parts.nodes[keep], np.asarray(sources, np.int64)).min(axis=1)
    return int((words * near).sum())


def ifmap_hops(layer: Layer, batch: int, region: NodeRegion, scheme: PartitionScheme,
               ifmap_layout: DataLayout, forwarding: bool, eltwise_all: bool = False,
               groups: int = 1) -> int | float:
    """Ifmap word-hops of one top-level fetch from where ``ifmap_layout`` stores them.

    ``groups`` G > 1: ``layer`` is one group of a grouped CONV whose ifmaps are all of
    ``ifmap_layout``; group g reads its channels g*C/G.. (g+1)*C/G - 1 with the same
    scheme, and the result is the mean over the groups (their sum / G: the groups run with
    one schedule, so G times it is every group's hops)."""
    parts = scheme_parts(layer, batch, region, scheme, eltwise_all)
    ranges = parts.ifmaps                                              # (N, m, 4, 2)
    if groups > 1:
        shifted = []
        for g in range(groups):
            r = ranges.copy()
            r[:, :, 1, :] += g * layer.in_channels
            shifted.append(r)
        ranges = np.concatenate(shifted, axis=1)                       # (N, G*m, 4, 2)
    per_part = _fetch_hops(ranges, parts.nodes, ifmap_layout)          # (N, G*m)
    if not forwarding:
        total = int(per_part.sum())
    else:
        full = _layout_arrays(ifmap_layout)[2]
        size = overlaps(ranges, full[None])[..., 0]                    # (N, G*m)
        group = parts.ifmap_group
        trees = _group_trees(parts, "ifmap")
        total = sum(int((_group_min(per_part[:, j], group)
                         + _first(size[:, j], group) * trees).sum())
                    for j in range(per_part.shape[1]))
    return total if groups == 1 else total / groups


def ofmap_hops(layer: Layer, batch: int, region: NodeRegion, scheme: PartitionScheme,
               ofmap_layout: DataLayout, forwarding: bool, eltwise_all: bool = False) -> int:
    """Ofmap word-hops of one top-level fetch to where ``ofmap_layout`` stores them."""
    local = ofmap_layout.parts == (scheme,) and ofmap_layout.regions == (region,)
    if local:
        return 0
    parts = scheme_parts(layer, batch, region, scheme, eltwise_all)
    per_part = _fetch_hops(parts.ofmaps, parts.nodes, ofmap_layout)  # (N,)
    group = parts.ofmap_group
    if forwarding:
        full = _layout_arrays(ofmap_layout)[2]
        size = overlaps(parts.ofmaps, full[None])[:, 0]
        read = _group_min(per_part, group)
        tree = read + _first(size, group) * _group_trees(parts, "ofmap")
        return int((-(-(read + tree) // 2)).sum())
    # Replicas send partial sums to the middle one, which writes the piece out.
    mid = _middle(group)
    to_mid = mid[group]
    far = np.abs(parts.nodes - parts.nodes[to_mid]).sum(axis=1)
    send = -(-(_sizes(parts.ofmaps) * far) // 2)
    return int(per_part[mid].sum() + send.sum())


def ifmap_hops_floor(layer: Layer, batch: int, region: NodeRegion, scheme: PartitionScheme,
                     memory_nodes: tuple[Coord, ...], stored: FmapRange, forwarding: bool,
                     eltwise_all: bool = False) -> int:
    """A lower bound on the ifmap unit hops for *any* layout in DRAM of the stored ifmaps
    ``stored`` (their full range): every word travels at least from the memory channel
    nearest to the node that needs it."""
    parts = scheme_parts(layer, batch, region, scheme, eltwise_all)
    mems = np.asarray(tuple(dict.fromkeys(memory_nodes)), dtype=np.int64)
    size = overlaps(parts.ifmaps, np.asarray(stored, np.int64)[None])[..., 0].sum(axis=1)
    near = distances(parts.nodes, mems).min(axis=1)
    if not forwarding:
        return int((size * near).sum())
    group = parts.ifmap_group
    trees = _group_trees(parts, "ifmap")
    return int((_first(size, group) * (_group_min(near, group) + trees)).sum())
