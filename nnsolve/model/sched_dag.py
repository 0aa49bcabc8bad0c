"""The scheduling DAG of a network and its candidate vertex segments (inter-layer pipelining).

A vertex is a CONV/FC layer followed by the chain of pooling/element-wise layers that read
only its output (or such a chain on its own); the layers of a vertex always run together.
Vertices are ordered depth first (each branch as deep as it goes before the next sibling),
which is the order the network search schedules them in. A vertex segment is a contiguous
range of that order that may share the chip at once (network spec §3.1-3.2); the rules are
nn_dataflow 2.1's, and so is the order segments are generated in, which decides ties later.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    layer is among its predecessors, whose other layers are not, and which it alone reads."""
    vertices: list[tuple[str, ...]] = []
    for name, layer in network.layers.items():
        sources = set(network.prevs[name])
        if not layer.is_conv:
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
    in reverse order of their layers so that siblings keep their original order."""
    owner = {name: vertex for vertex in vertices for name in vertex}
    done: list[tuple[str, ...]] = []
    finished: set[tuple[str, ...]] = set()
    active: set[tuple[str, ...]] = set()

    def visit(vertex: tuple[str, ...]) -> None:
        if vertex in finished:
            return
        active.add(vertex)
        following: list[str] = []
        for name in vertex:
            for n in network.nexts(name):
                if n not in vertex and n not in following:
                    following.append(n)
        children = [owner[n] for n in reversed(following)]
        children = [c for c in children if c not in finished and c not in active]
        for child in children:
            visit(child)
        active.discard(vertex)
        finished.add(vertex)
        done.append(vertex)

    outside = {INPUT, *network.external}
    firsts = [name for name, ps in network.prevs.items() if outside.issuperset(ps)]
    for start in [owner[name] for name in reversed(firsts)]:
        visit(start)
    if len(done) != len(vertices):
        raise ValueError("the network has layers that no first layer leads to")
    return list(reversed(done))


def vertex_segments(dag: SchedDag) -> list[tuple[int, ...]]:
    """Every vertex range that may be pipelined, in nn_dataflow's generation order.

    A range grows vertex by vertex while each new vertex shares a dependency with the range
    (one of its predecessors is in the range or feeds it; the input counts) and has at most
    one predecessor in the range. A range is kept if, for each of its vertices whose
    successors reach into the range, at most one successor lies outside it.
    """
    out: list[tuple[int, ...]] = []
    started: set[int] = set()

    def grow(start: int) -> None:
        seg: tuple[int, ...] = ()
        feeds: set[int] = set()                  # the range and its predecessors
        for k in range(start, len(dag.vertices)):
            before = dag.prevs[k]
            if seg and (before.isdisjoint(feeds) or len(before.intersection(seg)) > 1):
                break
            seg += (k,)
            feeds |= {k, *before}
            members = set(seg)
            if all(dag.nexts[v].isdisjoint(members) or len(dag.nexts[v] - members) <= 1
                   for v in seg):
                out.append(seg)
                if k + 1 not in started:
                    grow(k + 1)
        started.add(start)

    if dag.vertices:
        grow(0)
    return out
