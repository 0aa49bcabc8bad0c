"""NoC hops of bringing each data category to a layer's processing nodes once.

The layer's memory NoC hops are these unit hops times the top-level fetch counts (network
spec §2.7). Weights come from the nearest DRAM channel (or along a tree from the channels when
nodes forward data), ifmaps from wherever the producers' layout put them, and ofmaps go to
the destination layout; input-channel replicas of an ofmap piece reduce their partial sums
at the middle replica (or along a tree).
"""

from __future__ import annotations

from functools import lru_cache

from ..hardware.regions import Coord, NodeRegion, hops
from .layer import Layer
from .layout import DataLayout, spanning_tree
from .partition import FmapRange, PartitionScheme, data_ranges, overlap, range_size


@lru_cache(maxsize=1024)
def part_groups(layer: Layer, batch: int, region: NodeRegion, scheme: PartitionScheme,
                eltwise_all: bool = False) -> tuple[dict, dict, dict]:
    """The nodes that process each filter, ifmap and ofmap range (parts with work only)."""
    fil: dict = {}
    ifm: dict = {}
    ofm: dict = {}
    for pidx, node in zip(scheme.indices, scheme.coordinates(region), strict=True):
        frange, iranges, orng = data_ranges(layer, batch, scheme, pidx, eltwise_all)
        if sum(range_size(r) for r in iranges) > 0 and range_size(orng) > 0:
            ifm.setdefault(iranges, []).append(node)
            ofm.setdefault(orng, []).append(node)
            if frange is not None and frange[0][1] > frange[0][0] \
                    and frange[1][1] > frange[1][0]:
                fil.setdefault(frange, []).append(node)
    return fil, ifm, ofm


def unit_nhops(layer: Layer, batch: int, region: NodeRegion, scheme: PartitionScheme,
               filter_nodes: tuple[Coord, ...], ifmap_layout: DataLayout,
               ofmap_layout: DataLayout, forwarding: bool,
               eltwise_all: bool = False) -> tuple[int, int, int]:
    """(weight, ifmap, ofmap) word-hops of one top-level fetch."""
    fil, ifm, ofm = part_groups(layer, batch, region, scheme, eltwise_all)

    fil_hops = 0
    kernel = layer.kernel_h * layer.kernel_w
    sources = tuple(dict.fromkeys(filter_nodes))
    for ((i0, i1), (o0, o1)), nodes in fil.items():
        words = (i1 - i0) * (o1 - o0) * kernel
        if forwarding:
            fil_hops += words * spanning_tree(list(sources), nodes)
        else:
            fil_hops += words * sum(min(hops(x, s) for s in sources) for x in nodes)

    ifm_hops = 0
    for iranges, nodes in ifm.items():
        for irng in iranges:
            ifm_hops += ifmap_layout.nhops_to(irng, tuple(nodes), forwarding)

    ofm_hops = 0
    local = ofmap_layout.parts == (scheme,) and ofmap_layout.regions == (region,)
    if not local:
        for orng, nodes in ofm.items():
            size = range_size(orng)
            if forwarding:
                read = min(ofmap_layout.nhops_to(orng, (x,)) for x in nodes)
                tree = ofmap_layout.nhops_to(orng, tuple(nodes), forwarding=True)
                ofm_hops += -(-(read + tree) // 2)
            else:
                mid = nodes[len(nodes) // 2]
                for j, x in enumerate(nodes):
                    if j == len(nodes) // 2:
                        ofm_hops += ofmap_layout.nhops_to(orng, (x,))
                    else:
                        ofm_hops += -(-(size * hops(x, mid)) // 2)
    return fil_hops, ifm_hops, ofm_hops


def ifmap_hops_floor(layer: Layer, batch: int, region: NodeRegion, scheme: PartitionScheme,
                     memory_nodes: tuple[Coord, ...], stored: FmapRange, forwarding: bool,
                     eltwise_all: bool = False) -> int:
    """A lower bound on the ifmap unit hops for *any* layout in DRAM of the stored ifmaps
    ``stored`` (their full range): every word travels at least from the memory channel
    nearest to the node that needs it."""
    groups = part_groups(layer, batch, region, scheme, eltwise_all)[1]
    mems = tuple(dict.fromkeys(memory_nodes))
    total = 0
    for iranges, nodes in groups.items():
        size = sum(overlap(stored, r) for r in iranges)
        near = [min(hops(x, m) for m in mems) for x in nodes]
        if forwarding:
            first = min(range(len(nodes)), key=near.__getitem__)
            rest = [x for x in nodes if x != nodes[first]]
            total += size * (near[first] + spanning_tree([nodes[first]], rest))
        else:
            total += size * sum(near)
    return total
