"""Pipeline segments: which layers share the chip at once, where their data flow, and how
many nodes each spatial entry gets (network spec §3.3-3.5).

A segment is a tuple of *spatial* entries, each a tuple of layers run *temporally* on one
sub-region. A layer at index (sp, tm) reads its ifmaps from memory (DRAM, outside the
segment), from the previous layer of its own entry (local), or from the last layer of an
earlier entry (neighbour), and writes its ofmaps to memory and/or to on-chip consumers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..hardware.regions import NodeRegion
from .network import Network
from .sched_dag import SchedDag, SegmentIndex, vertex_segments

Segment = tuple[tuple[str, ...], ...]
Index = tuple[int, int]
#: Marks data that comes from or goes to memory in ``SegmentFlow.src``/``dst``.
MEMORY = "memory"


@dataclass(frozen=True)
class SegmentFlow:
    """Where each layer of a valid segment reads and writes, by (sp, tm).

    ``src[sp][tm]``: (MEMORY,), (neighbour index,) or () when its source is the previous
    layer of its entry. ``dst[sp][tm]``: MEMORY and/or neighbour indices; () when only the
    next layer of its entry reads it. ``ifmap_forwarding``: layers reading exactly the same
    memory data, the first fetching it for the others. ``ofmap_forwarding``: a layer whose
    ofmaps go both to memory and to on-chip consumers, and those consumers.
    """

    src: tuple[tuple[tuple, ...], ...]
    dst: tuple[tuple[tuple, ...], ...]
    ifmap_forwarding: dict[tuple[str, ...], list[Index]] = field(default_factory=dict)
    ofmap_forwarding: dict[Index, list[Index]] = field(default_factory=dict)


def segment_flow(network: Network, seg: Segment, with_opt: bool = True
                 ) -> SegmentFlow | str:
    """The data flow of ``seg``, or why it cannot be scheduled (network spec §3.4).

    ``with_opt=False`` is nn_dataflow's basic mode: the on-chip layers must form one chain.
    """
    where = {name: (sp, tm) for sp, entry in enumerate(seg) for tm, name in enumerate(entry)}
    src: list[list[tuple]] = [[() for _ in entry] for entry in seg]
    dst: list[list[tuple]] = [[() for _ in entry] for entry in seg]
    ifm_fwd: dict[tuple[str, ...], list[Index]] = {}
    ofm_fwd: dict[Index, list[Index]] = {}
    first_reader: dict[tuple[str, ...], str] = {}
    for sp, entry in enumerate(seg):
        neighbour_seen = False
        for tm, name in enumerate(entry):
            prevs = network.prevs[name]
            if any(p in where and where[p] >= (sp, tm) for p in prevs):
                return f"{name} reads a layer scheduled after it"
            mem_src = [p for p in prevs if p not in where]
            lcl_src = [p for p in prevs if p in where and where[p][0] == sp]
            nbr_src = [p for p in prevs if p in where and where[p][0] != sp]
            if mem_src and nbr_src:
                return f"{name} reads both memory and another spatial entry"
            if nbr_src:
                if neighbour_seen:
                    return f"two layers of the entry of {name} read other entries"
                neighbour_seen = True
                src[sp][tm] = (where[nbr_src[0]],)
            elif mem_src:
                src[sp][tm] = (MEMORY,)
            if mem_src and not lcl_src:
                if prevs in first_reader:
                    ifm_fwd.setdefault(prevs, [where[first_reader[prevs]]]).append((sp, tm))
                else:
                    first_reader[prevs] = name

            nexts = network.nexts(name)
            mem_dst = [n for n in nexts if n not in where]
            lcl_dst = [n for n in nexts if n in where and where[n][0] == sp]
            nbr_dst = [n for n in nexts if n in where and where[n][0] != sp]
            last = tm == len(entry) - 1
            if not lcl_dst and not last:
                return f"the next layer of {name} in its entry does not read it"
            if lcl_dst and (len(lcl_dst) != 1 or where[lcl_dst[0]][1] != tm + 1):
                return f"{name} is read in its entry by a layer other than the next one"
            if (mem_dst or not nexts) and nbr_dst:
                ofm_fwd[(sp, tm)] = [where[n] for n in nbr_dst]
            if (mem_dst or not nexts) and lcl_dst:
                ofm_fwd[(sp, tm)] = [where[lcl_dst[0]]]
            dst[sp][tm] = ((MEMORY,) if mem_dst or not nexts else ()) + \
                tuple(where[n] for n in nbr_dst)
            if not with_opt and (len(nbr_src) + len(lcl_src) > 1
                                 or len(nbr_dst) + len(lcl_dst) > 1
                                 or ((sp, tm) != (0, 0) and not nbr_src and not lcl_src)):
                return "basic pipelining needs the on-chip layers to form one chain"
    return SegmentFlow(tuple(map(tuple, src)), tuple(map(tuple, dst)), ifm_fwd, ofm_fwd)


def allocate_nodes(ops: list[float], dims: tuple[int, int], max_util_drop: float = 0.05
                   ) -> list[int] | None:
    """nn_dataflow's node counts for spatial entries of the given work (network spec §3.5):
    proportional to the work, rounded to a common factor of the region height (largest
    first) with the rounding margin moved one factor at a time, accepted when the slowest
    entry keeps utilisation at 1 - max_util_drop or more; None when no factor works."""
    height, total = dims[0], dims[0] * dims[1]
    for cf in sorted((d for d in range(1, height + 1) if height % d == 0), reverse=True):
        if len(ops) * cf > total:
            continue        # every entry gets a multiple of cf >= 1 nodes: the sum exceeds
        raw = [o / sum(ops) * total for o in ops]
        nodes = [max(1, round(r / cf)) * cf for r in raw]
        while sum(nodes) != total:
            diff = [n - r for n, r in zip(nodes, raw, strict=True)]
            if sum(nodes) > total:
                nodes[diff.index(max(diff))] -= cf
            else:
                nodes[diff.index(min(diff))] += cf
        if 0 in nodes:
            continue
        slowest = max(o / n for o, n in zip(ops, nodes, strict=True))
        if sum(ops) / slowest / sum(nodes) >= 1 - max_util_drop:
            return nodes
    return None


def segment_regions(network: Network, seg: Segment, region: NodeRegion,
                    max_util_drop: float = 0.05) -> list[NodeRegion] | None:
    """The sub-regions of the spatial entries in zig-zag order (None: rejected)."""
    ops = [sum(network.layers[name].ops(1) for name in entry) for entry in seg]
    nodes = allocate_nodes(ops, region.dims, max_util_drop)
    return None if nodes is None else region.allocate(nodes)


def candidate_segments(network: Network, dag: SchedDag, spatial: bool, temporal: bool,
                       max_degree: float = math.inf) -> list[Segment]:
    """Segments to try, before validity checks: every layer alone (in layer order), then
    for each vertex segment of at most ``max_degree`` vertices its spatial form (one entry
    per vertex) and its temporal form (one entry), without repeats. nn_dataflow iterates the
    two forms in set order; here the spatial form comes first. (The search takes them by
    last layer: ``CandidateSegments``.)"""
    out: list[Segment] = [((name,),) for name in network.layers]
    for vseg in vertex_segments(dag, max_degree):
        out += segment_forms(dag, vseg, spatial, temporal)
    return out


def segment_forms(dag: SchedDag, vseg: tuple[int, ...], spatial: bool, temporal: bool
                  ) -> list[Segment]:
    """The spatial and temporal forms of a vertex segment (none for a one-layer vertex:
    that is the layer alone), without repeats."""
    if len(vseg) == 1 and len(dag.vertices[vseg[0]]) == 1:
        return []
    forms: list[Segment] = []
    if spatial:
        forms.append(tuple(dag.vertices[v] for v in vseg))
    if temporal:
        forms.append((tuple(name for v in vseg for name in dag.vertices[v]),))
    return [form for i, form in enumerate(forms) if form not in forms[:i]]


class CandidateSegments:
    """``candidate_segments`` grouped by last layer, generated on demand: those ending at a
    layer come in the order of that list (the layer alone, then the vertex segments ending
    at its vertex by decreasing start). For networks of thousands of layers, where the full
    list has millions of segments, the search asks only for the layers it reaches."""

    def __init__(self, network: Network, dag: SchedDag, spatial: bool, temporal: bool,
                 max_degree: float = math.inf):
        self.network = network
        self.dag = dag
        self.spatial, self.temporal = spatial, temporal
        self.index = SegmentIndex(dag, max_degree)
        self.last_of = {vertex[-1]: k for k, vertex in enumerate(dag.vertices)}

    def ending_at(self, layer: str) -> Iterator[Segment]:
        """The candidates whose last layer is ``layer``, in order, one at a time."""
        yield ((layer,),)
        k = self.last_of.get(layer)
        if k is None:                   # not the last layer of its vertex: alone only
            return
        for vseg in self.index.ending_at(k):
            yield from segment_forms(self.dag, vseg, self.spatial, self.temporal)


@dataclass(frozen=True)
class LayerPlace:
    """Where one layer of a segment runs (``region``), reads (``src``) and writes (``dst``),
    and whether its weights stay on chip for the whole run (``no_time_mux``)."""

    region: NodeRegion
    src: NodeRegion
    dst: NodeRegion
    no_time_mux: bool

    @property
    def src_is_dram(self) -> bool:
        return self.src.kind == "dram"

    @property
    def dst_is_dram(self) -> bool:
        return self.dst.kind == "dram"


def layer_places(network: Network, seg: Segment, flow: SegmentFlow,
                 subregions: list[NodeRegion], memory: NodeRegion
                 ) -> tuple[tuple[LayerPlace, ...], ...]:
    """Each layer's place in a segment (network spec §3.6): memory sources read from
    ``memory`` (or from the sub-region of the entry that fetches shared input for them),
    neighbour sources from the producer's sub-region, local sources from its own; ofmaps go
    to memory when anything outside the segment reads them, else stay in its sub-region.
    Weights stay on chip when the segment holds the whole network with at most one layer
    with weights (CONV/FC/DWCONV) per entry, and no grouped CONV (its groups run one after
    another, and the blocking of one group does not hold every group's weights)."""
    no_time_mux = len(network.layers) == sum(len(entry) for entry in seg) and all(
        sum(network.layers[name].has_weights for name in entry) <= 1
        and all(network.layers[name].groups == 1 for name in entry) for entry in seg)
    fetcher = {index: readers[0] for readers in flow.ifmap_forwarding.values()
               for index in readers[1:]}
    out = []
    for sp, entry in enumerate(seg):
        row = []
        for tm, _ in enumerate(entry):
            src_flow, dst_flow = flow.src[sp][tm], flow.dst[sp][tm]
            own = subregions[sp]
            if src_flow == (MEMORY,):
                src = subregions[fetcher[(sp, tm)][0]] if (sp, tm) in fetcher else memory
            elif src_flow:
                src = subregions[src_flow[0][0]]
            else:
                src = own
            dst = memory if MEMORY in dst_flow else own
            row.append(LayerPlace(own, src, dst, no_time_mux))
        out.append(tuple(row))
    return tuple(out)
