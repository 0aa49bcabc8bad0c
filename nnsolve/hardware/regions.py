"""Node regions: the processing nodes given to a layer and the DRAM channels of the chip.

A region is a block of nodes addressed by relative (row, col) coordinates. It may be folded
into a boustrophedon strip (the zig-zag layout used when a chip is split between pipelined
layers): the strip runs ``wbeg`` nodes from its origin (left if negative), drops by its height,
runs back ``wtot`` nodes, and so on. Unfolded regions are plain rectangles. Distances are
Manhattan hops on absolute node coordinates (network spec §1.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

Coord = tuple[int, int]

PROC = "proc"
DRAM = "dram"


def hops(a: Coord, b: Coord) -> int:
    """Manhattan distance between two nodes."""
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


@dataclass(frozen=True)
class NodeRegion:
    """A region of nodes. ``dist`` is the spacing of logically adjacent nodes (DRAM channels at
    the chip corners are 2 x 2 nodes spaced H-1, W-1 apart); ``wtot``/``wbeg`` fold it."""

    dims: tuple[int, int]
    origin: Coord = (0, 0)
    kind: str = PROC
    dist: tuple[int, int] = (1, 1)
    wtot: int | None = None
    wbeg: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in (PROC, DRAM):
            raise ValueError(f"region kind must be {PROC!r} or {DRAM!r}")
        if min(self.dims) < 0:
            raise ValueError("region dims must not be negative")
        wtot, wbeg = self.fold
        if self.dims[0] * self.dims[1] > 0 and not 0 < abs(wbeg) <= wtot:
            raise ValueError("a folded region needs 0 < |wbeg| <= wtot")

    @property
    def fold(self) -> tuple[int, int]:
        """(wtot, wbeg) with their defaults: an unfolded rectangle."""
        wtot = self.dims[1] if self.wtot is None else self.wtot
        wbeg = wtot if self.wbeg is None else self.wbeg
        return wtot, wbeg

    @property
    def size(self) -> int:
        return self.dims[0] * self.dims[1]

    def rel2abs(self, rel: Coord) -> Coord:
        """The absolute coordinate of relative node (row, col)."""
        (h, w), = self.rel2abs_many(np.asarray([rel], dtype=np.int64)).tolist()
        return h, w

    def rel2abs_many(self, rel: np.ndarray) -> np.ndarray:
        """Absolute coordinates (K, 2) of relative nodes (K, 2)."""
        rh, rw = rel[:, 0], rel[:, 1]
        if np.any((rh < 0) | (rh >= self.dims[0]) | (rw < 0) | (rw >= self.dims[1])):
            bad = rel[(rh < 0) | (rh >= self.dims[0]) | (rw < 0) | (rw >= self.dims[1])][0]
            raise ValueError(f"relative coordinate {tuple(bad.tolist())} outside region dims "
                             f"{self.dims}")
        wtot, wbeg = self.fold
        fold, pos = np.divmod(rw + wtot - abs(wbeg), wtot)
        forward = (wbeg > 0) == (fold % 2 == 0)
        pos = np.where(forward, pos, wtot - 1 - pos)
        shift = wtot - wbeg if wbeg > 0 else -wbeg - 1
        return np.stack([self.origin[0] + (fold * self.dims[0] + rh) * self.dist[0],
                         self.origin[1] + (pos - shift) * self.dist[1]], axis=1)

    @cached_property
    def nodes(self) -> tuple[Coord, ...]:
        """Absolute coordinates of all nodes, row-major over relative coordinates."""
        rel = np.indices(self.dims).reshape(2, -1).T
        return tuple(map(tuple, self.rel2abs_many(rel).tolist()))

    def contains(self, node: Coord) -> bool:
        return node in set(self.nodes)

    def allocate(self, counts: list[int]) -> list[NodeRegion]:
        """Split the region along its zig-zag path into strips of the given node counts
        (network spec §1.5); an empty list when they do not fit."""
        from math import gcd

        if sum(counts) > self.size:
            return []
        strip = self.dims[0]
        for n in counts:
            strip = gcd(strip, n)
        width_total = self.dims[1]
        ofs_h = ofs_w = 0
        right = True
        out = []
        for n in counts:
            width = n // strip
            if right:
                rel = (ofs_h, ofs_w)
                wbeg = min(width_total - ofs_w, width)
            else:
                rel = (ofs_h, self.dims[1] - ofs_w - 1)
                wbeg = -min(width_total - ofs_w, width)
            origin = (self.origin[0] + rel[0] * self.dist[0],
                      self.origin[1] + rel[1] * self.dist[1])
            out.append(NodeRegion((strip, width), origin, self.kind, self.dist, width_total,
                                  wbeg))
            ofs_w += width
            while ofs_w >= self.dims[1]:
                ofs_w -= self.dims[1]
                ofs_h += strip
                right = not right
        return out


def processing_region(nodes: tuple[int, int]) -> NodeRegion:
    """All nodes of the chip."""
    return NodeRegion(tuple(nodes), (0, 0), PROC)


def memory_region(nodes: tuple[int, int], memory: str) -> NodeRegion:
    """The DRAM channels: the four chip corners (2D) or one vault over every node (3D)."""
    h, w = nodes
    if memory == "3D":
        return NodeRegion((h, w), (0, 0), DRAM)
    return NodeRegion((2, 2), (0, 0), DRAM, (h - 1, w - 1))
