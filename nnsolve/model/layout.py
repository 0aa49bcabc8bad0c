"""Data layouts: where the pieces of a batched fmap are stored, and NoC hops to fetch them.

A layout is a list of channel slices, each stored in a region split by a partition scheme
(network spec §2.6). A layer's ofmaps are stored in its destination region with its own
scheme projected onto that region; a layer's input is the concatenation of its producers'
layouts along channels. ``noc`` counts the hops of fetching from a layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hardware.regions import NodeRegion
from .partition import FmapRange, PartitionScheme, range_size


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


def ifmap_frng(batch: int, channels: int, h: int, w: int) -> FmapRange:
    return ((0, batch), (0, channels), (0, h), (0, w))


__all__ = ["DataLayout", "ifmap_frng", "range_size"]
