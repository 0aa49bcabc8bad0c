"""The scheduling DAG of a network and its candidate vertex segments (inter-layer pipelining).

A vertex is a CONV/FC layer followed by the chain of pooling/element-wise layers that read
only its output (or such a chain on its own); the layers of a vertex always run together.
Vertices are ordered depth first (each branch as deep as it goes before the next sibling),
which is the order the network search schedules them in. A vertex segment is a contiguous
range of that order that may share the chip at once (network spec §3.1-3.2); the rules are
nn_dataflow 2.1's, and so is the order segments are generated in, which decides ties later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .network import INPUT, Network

#: The vertex that stands for the network input and every external input.
INPUT_VERTEX = -1


@dataclass(frozen=True)
class SchedDag:
    """Vertices (tuples of layer names) in scheduling order, with each vertex's predecessor
    and successor vertices (``INPUT_VERTEX`` for the input and external inputs)."""

    vertices: tuple[tuple[str, ...], ...]
    prevs: tuple[frozenset[int], ...]
    nexts: tuple[frozenset[int], ...]

    @property
    def layer_order(self) -> tuple[str, ...]:
        """Every layer, vertex by vertex."""
        return tuple(name for vertex in self.vertices for name in vertex)

    def vertex_of(self, name: str) -> int:
        for index, vertex in enumerate(self.vertices):
            if name in vertex:
                return index
        return INPUT_VERTEX


def sched_dag(network: Network) -> SchedDag:
    """The scheduling DAG of ``network``."""
    vertices = _topological(network, _merge(network))
    where = {name: i for i, vertex in enumerate(vertices) for name in vertex}
    prevs: list[set[int]] = [set() for _ in vertices]
    nexts: list[set[int]] = [set() for _ in vertices]
    for name, sources in network.prevs.items():
        v = where[name]
        for p in sources:
            u = where.get(p, INPUT_VERTEX)       # the input and external inputs
            if u != v:
                prevs[v].add(u)
                if u != INPUT_VERTEX:
                    nexts[u].add(v)
    return SchedDag(tuple(vertices), tuple(map(frozenset, prevs)),
                    tuple(map(frozenset, nexts)))


def _merge(network: Network) -> list[tuple[str, ...]]:
    """Vertices in layer order: a local-region layer joins the latest vertex whose last
    layer is among its predecessors, whose other layers are not, and which it alone reads.
    A depthwise layer has weights and is a vertex of its own, as CONV/FC layers are."""
    vertices: list[tuple[str, ...]] = []
    for name, layer in network.layers.items():
        sources = set(network.prevs[name])
        if not layer.has_weights:
            for i in reversed(range(len(vertices))):
                *head, tail = vertices[i]
                if tail in sources and sources.isdisjoint(head) \
                        and len(network.nexts(tail)) == 1:
                    vertices[i] += (name,)
                    break
            else:
                vertices.append((name,))
            continue
        vertices.append((name,))
    return vertices


def _topological(network: Network, vertices: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Reverse post-order of a depth-first search from the first layers, children visited
    in reverse order of their layers so that siblings keep their original order. The search
    keeps its own stack: a chain of thousands of layers is as deep as the network."""
    owner = {name: vertex for vertex in vertices for name in vertex}
    done: list[tuple[str, ...]] = []
    finished: set[tuple[str, ...]] = set()
    active: set[tuple[str, ...]] = set()

    def children(vertex: tuple[str, ...]) -> list[tuple[str, ...]]:
        """The vertices reading this one, not finished or on the stack, when it is entered."""
        following: list[str] = []
        for name in vertex:
            for n in network.nexts(name):
                if n not in vertex and n not in following:
                    following.append(n)
        found = [owner[n] for n in reversed(following)]
        return [c for c in found if c not in finished and c not in active]

    outside = {INPUT, *network.external}
    firsts = [name for name, ps in network.prevs.items() if outside.issuperset(ps)]
    for start in [owner[name] for name in reversed(firsts)]:
        if start in finished:
            continue
        active.add(start)
        stack = [(start, iter(children(start)))]
        while stack:
            vertex, pending = stack[-1]
            child = next(pending, None)
            if child is None:                   # every child done: the vertex is finished
                stack.pop()
                active.discard(vertex)
                finished.add(vertex)
                done.append(vertex)
            elif child not in finished:
                active.add(child)
                stack.append((child, iter(children(child))))
    if len(done) != len(vertices):
        raise ValueError("the network has layers that no first layer leads to")
    return list(reversed(done))


def vertex_segments(dag: SchedDag, max_degree: float = math.inf) -> list[tuple[int, ...]]:
    """Every vertex range that may be pipelined, in nn_dataflow's generation order; with
    ``max_degree``, only those of at most that many vertices (the same list, filtered).
    The search takes them by last vertex instead, lazily (``SegmentIndex``)."""
    index = SegmentIndex(dag, max_degree)
    longer = [(s, k) for k in range(len(dag.vertices)) for s in index.starts(k)]
    longer.sort(key=lambda sk: (-sk[0], sk[1]))
    return [(k,) for k in range(len(dag.vertices))] + \
        [tuple(range(s, k + 1)) for s, k in longer]


class SegmentIndex:
    """The vertex segments of a scheduling DAG by last vertex, computed forward on demand.

    A range grows vertex by vertex while each new vertex shares a dependency with the range
    (one of its predecessors is in the range or feeds it; the input counts) and has at most
    one predecessor in the range (rules 1, 2). A range is kept if, for each of its vertices
    whose successors reach into the range, at most one successor lies outside it (rule 3).

    nn_dataflow generates them recursively: growing from a start, every kept range recurses
    into the ranges from the vertex after it, unless that start is done. A one-vertex range
    is always kept, so the first range of each start recurses into the next start at once:
    its order is every one-vertex range, then the longer ranges of each start from the last
    start to the first, each start's by length. So the ranges ending at vertex k, in that
    order, are (k,) and then [s..k] for decreasing s. Here they are found without the
    recursion (as deep as the network, it overflowed Python's stack at 1,000 layers) by
    walking k forward and keeping the starts still growing; a successor of a vertex lies
    after it, so rule 3 for [s..k] depends on k alone (which vertices have successors both
    in [.., k] and, more than one, after k) and holds for every s above the last such
    vertex. Nothing grows past ``max_degree`` vertices.
    """

    def __init__(self, dag: SchedDag, max_degree: float = math.inf):
        self.dag = dag
        self.max_degree = max_degree
        n = len(dag.vertices)
        successors: dict[int, list[int]] = {}
        for v in range(n):
            for p in dag.prevs[v]:
                successors.setdefault(p, []).append(v)
        # Sorted (v increases), with a sentinel past every vertex.
        self._successors = {p: np.asarray(vs + [n], dtype=np.int64)
                            for p, vs in successors.items()}
        self._starts: list[tuple[int, ...]] = []    # per vertex k: the s of [s..k], decreasing
        self._alive = np.zeros(0, dtype=np.int64)   # starts still growing, increasing
        self._inside = [0] * n                      # successors of v up to the cursor
        self._bad: set[int] = set()

    def starts(self, k: int) -> tuple[int, ...]:
        """The starts s < k of the kept ranges [s..k], in generation order (decreasing)."""
        while len(self._starts) <= k:
            self._advance()
        return self._starts[k]

    def ending_at(self, k: int) -> list[tuple[int, ...]]:
        """The vertex segments whose last vertex is k, in generation order."""
        return [(k,)] + [tuple(range(s, k + 1)) for s in self.starts(k)]

    def _advance(self) -> None:
        """Grow every live range [s..k-1] by the next vertex k (all starts at once)."""
        k = len(self._starts)
        dag = self.dag
        before = dag.prevs[k]
        alive = self._alive
        if len(alive):
            alive = alive[k - alive + 1 <= self.max_degree]
            inside = np.zeros(len(alive), dtype=np.int64)     # rule 2: predecessors in range
            shares = np.zeros(len(alive), dtype=bool)         # rule 1: one in or feeding it
            for p in before:
                here = (alive <= p) & (p < k)
                inside += here
                after = self._successors[p]                   # includes k: p precedes it
                first = after[np.searchsorted(after, alive)]  # p's first successor >= s
                shares |= here | (first <= k - 1)
            alive = alive[(inside <= 1) & shares]
        # Rule 3 at k: a vertex is bad with successors both up to k and, two or more, after.
        for v in before:
            if v >= 0:
                self._inside[v] += 1
                if len(dag.nexts[v]) - self._inside[v] > 1:
                    self._bad.add(v)
                else:
                    self._bad.discard(v)
        worst = max(self._bad, default=-1)
        self._starts.append(tuple(int(s) for s in alive[::-1] if s > worst))
        if self.max_degree > 1:
            alive = np.append(alive, k)
        self._alive = alive
