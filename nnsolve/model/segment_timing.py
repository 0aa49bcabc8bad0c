"""How long a pipeline segment takes, from its layers' own times (network spec §3.9).

Layers of one spatial entry run one after another; an entry starts on a producer's output
as soon as the first of its channel groups is out when the two agree on the grouping (a
producer emitting t OFM groups, a consumer reading t IFM groups, or a pooling/element-wise
layer taking t OFM groups), else when the producer is done. Batch groups pushed through the
pipeline one after another overlap the entries; all layers share the chip's DRAM bandwidth,
so their DRAM times add up. The rules are nn_dataflow 2.1's, floor divisions included.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dims import Loop
from .network import Network


@dataclass(frozen=True)
class LayerTiming:
    """What the segment needs of one layer's schedule: its time alone (cycles), node time
    (processing and array bus), DRAM time, its nodes, and the factors of the outermost
    DRAM-level loops (``top_groups``)."""

    time: float
    node_time: float
    dram_time: float
    nodes: int
    top_bat: int = 1
    top_ifm: int = 1
    top_ofm: int = 1


@dataclass(frozen=True)
class SegmentTiming:
    """The segment's time and how it arises; ``start``/``done`` per layer, in cycles."""

    time: float
    node_time: float
    dram_time: float
    critical_time: float
    batch_groups: int
    overhead: float
    start: dict[str, float]
    done: dict[str, float]


def top_groups(factors0: tuple[int, int, int], positions0: tuple[int, int, int]
               ) -> tuple[int, int, int]:
    """(batch, ifmap, ofmap) groups of a schedule from its DRAM-level factors and loop
    positions (0 = innermost): the outermost non-trivial loop if it is the batch loop, then
    the next one out of IFM/OFM; every other group count is 1."""
    loops = sorted((lp for lp in Loop if factors0[lp] > 1), key=lambda lp: -positions0[lp])
    groups = {Loop.I: 1, Loop.O: 1, Loop.B: 1}
    if loops and loops[0] == Loop.B:
        groups[Loop.B] = factors0[loops.pop(0)]
    if loops:
        groups[loops[0]] = factors0[loops[0]]
    return groups[Loop.B], groups[Loop.I], groups[Loop.O]


def segment_timing(network: Network, seg: tuple[tuple[str, ...], ...],
                   layers: dict[str, LayerTiming]) -> SegmentTiming:
    """The timing of ``seg`` given every layer's ``LayerTiming``."""
    where = {name: (sp, tm) for sp, entry in enumerate(seg) for tm, name in enumerate(entry)}
    order = [name for entry in seg for name in entry]
    first = layers[order[0]].top_bat
    groups = first if all(layers[n].top_bat == first for n in order) else 1
    start: dict[str, float] = {}
    done: dict[str, float] = {}
    for name in order:
        lt = layers[name]
        sp, _ = where[name]
        conv = network.layers[name].is_conv
        ts = td = 0
        for p in network.prevs[name]:
            if p not in where:
                continue                       # from memory
            pt = layers[p]
            overlap = start[p] + pt.time // pt.top_ofm
            if where[p][0] == sp:              # the previous layer of the same entry
                at = overlap if not conv and lt.top_ofm == pt.top_ofm else done[p]
                td = done[p] + lt.time
            else:                              # the last layer of an earlier entry
                wanted = lt.top_ifm if conv else lt.top_ofm
                at = overlap if wanted == pt.top_ofm else done[p]
            ts = max(ts, at)
        start[name] = ts
        done[name] = max(td, ts + lt.time)
    critical = max(done[entry[-1]] - start[entry[0]] for entry in seg)
    node_time = max((done[entry[-1]] + critical * (groups - 1)) // groups for entry in seg)
    dram_time = sum(layers[n].dram_time for n in order)
    time = max(node_time, dram_time)
    nodes = sum(layers[entry[0]].nodes for entry in seg)
    alone = sum(max(layers[n].node_time * layers[n].nodes / nodes, layers[n].dram_time)
                for n in order)
    return SegmentTiming(time, node_time, dram_time, critical, groups,
                         (time - alone) / alone, start, done)
