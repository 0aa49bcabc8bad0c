"""Data layouts: where the pieces of a batched fmap are stored, and NoC hops to fetch them.

A layout is a list of channel slices, each stored in a region split by a partition scheme
(network spec §2.6). A layer's ofmaps are stored in its destination region with its own
scheme projected onto that region; a layer's input is the concatenation of its producers'
layouts along channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..hardware.regions import Coord, NodeRegion, hops
from .partition import FmapRange, PartitionScheme, overlap, range_size


@dataclass(frozen=True)
class DataLayout:
    """Channel slices ``frngs`` (contiguous, all starting at batch/row/col 0), each stored in
    ``regions[k]`` split by ``parts[k]``."""

    frngs: tuple[FmapRange, ...]
    regions: tuple[NodeRegion, ...]
    parts: tuple[PartitionScheme, ...]

    @classmethod
    def of(cls, frng: FmapRange, region: NodeRegion, scheme: PartitionScheme) -> DataLayout:
        """An fmap stored in ``region`` following ``scheme`` (projected onto the region)."""
        return cls((frng,), (region,), (scheme.projection(region, fmap=True),))

    @classmethod
    def concat(cls, layouts: list[DataLayout]) -> DataLayout:
        """The producers' layouts one after another along channels."""
        frngs, regions, parts = [], [], []
        offset = 0
        for lay in layouts:
            for fr in lay.frngs:
                b, (n0, n1), h, w = fr
                frngs.append((b, (n0 + offset, n1 + offset), h, w))
                offset += n1 - n0
            regions += lay.regions
            parts += lay.parts
        return cls(tuple(frngs), tuple(regions), tuple(parts))

    @property
    def full(self) -> FmapRange:
        first, last = self.frngs[0], self.frngs[-1]
        return tuple((b, e) for (b, _), (_, e) in zip(first, last, strict=True))

    @cached_property
    def pieces(self) -> tuple[tuple[int, FmapRange, Coord], ...]:
        """(slice, piece range, node) for every stored piece."""
        out = []
        for k, (frng, region, part) in enumerate(zip(self.frngs, self.regions, self.parts,
                                                     strict=True)):
            for pidx, node in zip(part.indices, part.coordinates(region), strict=True):
                out.append((k, part.fmap_range(frng, pidx), node))
        return tuple(out)

    def nhops_to(self, frng: FmapRange, dests: tuple[Coord, ...],
                 forwarding: bool = False) -> int:
        """Word-hops to bring ``frng`` to every destination: each from the stored pieces,
        or with ``forwarding`` the nearest-fed destination then a spanning tree of the rest."""
        per_dest = [0] * len(dests)
        touched = [overlap(frng, fr) > 0 for fr in self.frngs]
        for k, piece, node in self.pieces:
            if not touched[k]:
                continue
            size = overlap(frng, piece)
            if size:
                per_dest = [n + size * hops(d, node) for n, d in zip(per_dest, dests,
                                                                     strict=True)]
        if not forwarding:
            return sum(per_dest)
        start = min(range(len(dests)), key=lambda j: (per_dest[j], dests[j]))
        return per_dest[start] + overlap(self.full, frng) * spanning_tree(
            [dests[start]], [d for d in dests if d != dests[start]])


def spanning_tree(roots: list[Coord], others: list[Coord]) -> int:
    """Weight of the cheapest tree linking ``others`` to any of ``roots`` (Prim; the roots
    are linked to each other for free)."""
    attached = list(dict.fromkeys(roots))
    rest = list(dict.fromkeys(o for o in others if o not in set(attached)))
    best = {o: min(hops(o, a) for a in attached) for o in rest}
    total = 0
    while best:
        node = min(best, key=best.__getitem__)
        total += best.pop(node)
        for o in best:
            d = hops(o, node)
            if d < best[o]:
                best[o] = d
    return total


def ifmap_frng(batch: int, channels: int, h: int, w: int) -> FmapRange:
    return ((0, batch), (0, channels), (0, h), (0, w))


__all__ = ["DataLayout", "ifmap_frng", "range_size", "spanning_tree"]
