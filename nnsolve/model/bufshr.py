"""Node groups that share data: access forwarding and global-buffer sharing.

Nodes that need the same data of a category form a group (network spec §2.8): one of them
fetches it from memory and forwards it, so DRAM traffic is divided by the group size, and
with buffer sharing the group spreads the data over its buffers and rotates it over the NoC.
A category's group follows the first loop (input channels, output channels, batch) that does
not index it: input-channel parts share ofmaps, output-channel parts share ifmaps, and
batch/ofmap parts share weights.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from ..hardware.regions import NodeRegion
from .dims import Data, Loop
from .partition import BATP, INPP, OFMP, OUTP, PartitionScheme

if TYPE_CHECKING:
    from .mapping import NestedLoopDesc


@dataclass(frozen=True)
class ShareGroups:
    """Per data category: the group's (rows, cols) and the average hops between neighbours
    along each axis (inf where the group has one node along it)."""

    dims: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    nbr_dists: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]

    def size(self, d: int) -> int:
        h, w = self.dims[d]
        return h * w

    @property
    def sizes(self) -> tuple[int, int, int]:
        return tuple(self.size(d) for d in Data)  # type: ignore[return-value]


@lru_cache(maxsize=1 << 15)
def share_groups(region: NodeRegion, scheme: PartitionScheme,
                 data_loops: tuple[tuple[int, ...], ...]) -> ShareGroups:
    """The sharing groups of a partition scheme on a region, for a layer's data loops."""
    loop_dims: dict[int, tuple[int, int]] = {}
    loop_dist: dict[int, tuple[float, float]] = {}
    ofmp, batp = scheme.dim(OFMP), scheme.dim(BATP)
    i_ofmp, i_batp = scheme.order.index(OFMP), scheme.order.index(BATP)
    if ofmp == (1, 1):
        loop_dims[Loop.B], loop_dist[Loop.B] = batp, scheme.neighbour_dist(region, BATP)
    elif batp == (1, 1):
        loop_dims[Loop.B], loop_dist[Loop.B] = ofmp, scheme.neighbour_dist(region, OFMP)
    elif abs(i_ofmp - i_batp) == 1:
        loop_dims[Loop.B] = (ofmp[0] * batp[0], ofmp[1] * batp[1])
        d_o, d_b = scheme.neighbour_dist(region, OFMP), scheme.neighbour_dist(region, BATP)
        loop_dist[Loop.B] = (min(d_o[0], d_b[0]), min(d_o[1], d_b[1]))
    elif i_ofmp > i_batp:
        loop_dims[Loop.B], loop_dist[Loop.B] = ofmp, scheme.neighbour_dist(region, OFMP)
    else:
        loop_dims[Loop.B], loop_dist[Loop.B] = batp, scheme.neighbour_dist(region, BATP)
    loop_dims[Loop.O], loop_dist[Loop.O] = scheme.dim(OUTP), scheme.neighbour_dist(region, OUTP)
    loop_dims[Loop.I], loop_dist[Loop.I] = scheme.dim(INPP), scheme.neighbour_dist(region, INPP)
    dims, dists = [], []
    for d in Data:
        free = [lp for lp in Loop if lp not in data_loops[d]]
        if not free:
            dims.append((1, 1))
            dists.append((math.inf, math.inf))
        else:
            dims.append(loop_dims[free[0]])
            dists.append(loop_dist[free[0]])
    return ShareGroups(tuple(dims), tuple(dists))  # type: ignore[arg-type]


# -- buffer sharing: rotation and wide-fetch traffic ----------------------------------------
#
# With buffer sharing, the data a group needs is spread over a subgroup of s nodes, each
# holding 1/s of it. To let every node see all of it, the subgroup passes the pieces along a
# snake-shaped chain (a rotation round); a node that needs more than its own piece at once
# (the rotation unit spans w > 1 node buffers) reads the rest from its upstream neighbours
# (a wide fetch). The kernels count hops per unit of unique data, summed over the group.


def subgroup_shape(groups: ShareGroups, d: int, subgroup: int) -> tuple[tuple[int, int], int]:
    """(rows, cols) of a subgroup of ``subgroup`` nodes of category ``d``'s group, and the
    axis the rotation chain runs along first (the one with the shorter neighbour spacing).

    The size is first rounded up to a divisor of the group size; the priority axis takes
    the largest divisor of the group's extent along it that divides that size.
    """
    size = groups.size(d)
    m = subgroup
    while size % m:
        m += 1
        if m > size:
            raise ValueError(f"subgroup of {subgroup} nodes exceeds the group of {size}")
    dist = groups.nbr_dists[d]
    axis = 0 if dist[0] <= dist[1] else 1
    extent = groups.dims[d][axis]
    along = max(f for f in range(1, extent + 1) if extent % f == 0 and m % f == 0)
    shape = [0, 0]
    shape[axis] = along
    shape[1 - axis] = m // along
    return (shape[0], shape[1]), axis


def rotation_hops(groups: ShareGroups, d: int, subgroup: int, units: int | None = None
                  ) -> float:
    """Hops of one rotation round of category ``d`` over subgroups of ``subgroup`` nodes,
    per unit of unique data (nn_dataflow's ``nhops_rotate_all``). ``units``: rotation units
    per round (default ``subgroup``); with fewer units than nodes the round ends early."""
    return _rotation(groups.dims[d], groups.nbr_dists[d], subgroup,
                     subgroup if units is None else units)


def wide_fetch_hops(groups: ShareGroups, d: int, subgroup: int, width: float) -> float:
    """Hops of one wide fetch of ``width`` node buffers (``width`` <= ``subgroup``) from the
    upstream nodes of the rotation chain, per unit of unique data (``nhops_wide_fetch_once``).
    """
    if width <= 1:
        return 0
    if width > subgroup:
        raise ValueError(f"wide fetch of {width} buffers exceeds the subgroup of {subgroup}")
    per_step = rotation_hops(groups, d, subgroup) / (subgroup - 1)
    whole = math.ceil(width - 1e-6)
    # The i-th nearest upstream node sends i hops; the last, partial one only its share.
    steps = (whole - 1) * whole / 2 - (whole - 1) * (whole - width)
    return per_step * steps / width


@lru_cache(maxsize=4096)
def _rotation(dims: tuple[int, int], dist: tuple[float, float], m: int, units: int) -> float:
    groups = ShareGroups((dims, dims, dims), (dist, dist, dist))
    shape, axis = subgroup_shape(groups, 0, m)
    run, across = shape[axis], shape[1 - axis]
    # Every node but the chain's last sends to its successor ...
    step = [0, 0]
    step[axis] = (run - 1) * across
    step[1 - axis] = across - 1
    # ... and the (m-1)-th node of the snake sends back to the first.
    col, row = divmod(m - 1, run)
    if col % 2:
        row = run - 1 - row
    back = [0, 0]
    back[axis] = row
    back[1 - axis] = col
    skipped = max(1, 1.0 * m / units)
    return ((_scaled(step, dist) + _scaled(back, dist)) * (m - skipped) * (1.0 / m)
            * (groups.size(0) // m))


def _scaled(offset, dist) -> float:
    """Hops of a (rows, cols) offset in neighbour units (a zero count costs 0, even at inf)."""
    h, w = (c * s if c else 0 for c, s in zip(offset, dist, strict=True))
    return abs(h) + abs(w)


@dataclass(frozen=True)
class SharingPlan:
    """The buffer-sharing choice of one loop-blocking scheme and its NoC traffic.

    ``node_hops`` is what nn_dataflow adds to a layer's NoC hops (its ``noc_access``): per
    category, ``rotation`` + ``wide_fetch_access`` word-hops over all nodes. The rest mirrors
    its ``bufshr_*`` details: subgroup sizes, the extra sharing level's factors and loop
    positions (``bs_t``, ``bs_ord``), the buffer level's positions after reordering
    (``gbuf_ord``, nn_dataflow's rewritten ``bl_ords[1]``), and per category the rotation
    and wide-fetch counts (``rot_fetch``, ``wide_fetch``, per unit of unique data), rotation
    rounds and units, and wide-fetch widths.
    """

    node_hops: tuple[float, float, float]
    rotation: tuple[float, float, float]
    wide_fetch_access: tuple[float, float, float]
    subgroup: tuple[int, int, int]
    bs_t: tuple[int, int, int]
    bs_ord: tuple[int, int, int]
    gbuf_ord: tuple[int, int, int]
    rot_fetch: tuple[float, float, float]
    rot_round_cnt: tuple[int, int, int]
    rot_unit_cnt: tuple[int, int, int]
    wide_fetch: tuple[float, float, float]
    wide_fetch_width: tuple[float, float, float]


def plan_sharing(nld: NestedLoopDesc, factors, positions, fetch, size_gbuf,
                 groups: ShareGroups, num_nodes: int, gbuf_words: int) -> SharingPlan:
    """The least-NoC-traffic buffer sharing of one valid loop-blocking scheme.

    ``factors`` (3 levels x 3 loops) and ``positions`` (2 x 3, 0 = innermost) are the
    scheme; ``fetch`` its (F0, F1) fetch counts before any filter pinning; ``size_gbuf`` the
    per-node buffer words of each category with every stored category spread over its whole
    group (0 = bypassed, which also disables sharing of it). Searched (network spec §2.8):
    the subgroup sizes (the whole groups, and greedy shrinks into the free capacity in all
    six category orders), and a split of the buffer level's reorderable loops into an outer
    sharing level and the rest, with all their orders. The first best in nn_dataflow's
    enumeration order wins.
    """
    t = [[int(v) for v in row] for row in factors]
    ords = [[int(v) for v in row] for row in positions]
    f_mem = [int(v) for v in fetch[0]]
    f_buf = [int(v) for v in fetch[1]]
    sizes = [int(v) for v in size_gbuf]
    group = groups.sizes
    start = tuple(g if s else 1 for g, s in zip(group, sizes, strict=True))
    if all(s == 1 for s in start):
        return _no_sharing(start, tuple(ords[1]))  # type: ignore[arg-type]

    dims = nld.data_loops
    t_x, ord_x = t[1], ords[1]
    nontrivial = [lp for lp in range(3) if t_x[lp] > 1]
    # Loops inside the outermost of the categories' innermost dimension loops set the fetch
    # counts: they stay where they are; the others may be split and reordered.
    inner = [_innermost_dim_loop(dims[d], t_x, ord_x) for d in range(3)]
    bound = max(inner, key=lambda lp: ord_x[lp] if lp is not None else -1)
    fixed = tuple(sorted((lp for lp in nontrivial if ord_x[lp] < ord_x[bound]),
                         key=lambda lp: ord_x[lp], reverse=True)) if nontrivial else ()
    flex = tuple(lp for lp in nontrivial if lp not in fixed)

    free = gbuf_words - sum(sizes)

    def shrink(order) -> tuple[int, ...]:
        room = free
        sub = list(start)
        for d in order:
            if sub[d] <= 1:
                continue
            cur = sizes[d]
            total = cur * start[d]
            for s in range(sub[d], 0, -1):
                if group[d] % s:
                    continue
                if -(-total // s) > room + cur:
                    break
                sub[d] = s
            room -= -(-total // sub[d]) - cur
        return tuple(sub)

    # The unshrunk vector first, then the distinct shrinks in Python's set order (as
    # nn_dataflow: the order decides ties).
    candidates = [start, *set(shrink(order) for order in itertools.permutations(range(3)))]

    structures = _structures(t_x, flex, fixed)
    top = t[0]
    non_dim_top = [math.prod(top[lp] for lp in range(3) if lp not in dims[d])
                   for d in range(3)]
    total_gbuf = [nld.total_access(1, d) for d in range(3)]
    copies = [num_nodes // g for g in group]
    memo: dict = {}

    def per_data(d: int, sub: int, loops) -> tuple:
        """(rotation access, wide-fetch access, rot fetch, wide fetch, rounds, units,
        width) of category d with subgroup ``sub`` under the loop list ``loops``."""
        first = next((i for i, (lp, _) in enumerate(loops) if lp in dims[d]), None)
        if first is None or sub == 1:
            rounds = 0
        else:
            rounds = non_dim_top[d] * math.prod(f for _, f in loops[:first])
        fills = (f_mem[d] + 1) // 2 if d == 2 else f_mem[d]
        if rounds == fills:
            # One rotation per fill: stream the units instead of keeping them.
            rounds = 0
        units = 1
        if first is not None:
            for lp, f in loops[first:]:
                if lp not in dims[d]:
                    break
                units *= f
        key = (d, sub, rounds, units)
        hit = memo.get(key)
        if hit is not None:
            return hit
        width = 1.0 * sub / units
        wf_once = wide_fetch_hops(groups, d, sub, width)
        buf = f_buf[d]
        # The last wide fetch of each rotation step rides on the rotation (ofmaps: a read and
        # a write, or only the write when fetched once per step), except for the last unit.
        merged = 2 * rounds - (buf <= 2 * rounds - 1) if d == 2 else rounds
        merged = merged * (1.0 * (units - 1) / units)
        wf = wf_once * (buf - merged)
        rf = rotation_hops(groups, d, sub, units) * rounds
        out = (total_gbuf[d] * rf * copies[d], total_gbuf[d] * wf * copies[d], rf, wf,
               rounds, units, width)
        memo[key] = out
        return out

    best = None
    best_key = math.inf
    for sub in candidates:
        for loops, choice in structures:
            parts = [per_data(d, sub[d], loops) for d in range(3)]
            key = (sum(p[0] for p in parts)) + (sum(p[1] for p in parts))
            if best is None or key < best_key:
                best, best_key = (sub, choice, parts), key
    sub, (t_bs, loops_bs, loops_bot), parts = best  # type: ignore[misc]

    gbuf_ord = _positions(loops_bot + fixed, lambda lp: True)
    bs_ord = _positions(loops_bs, lambda lp: t_bs[lp] > 1)
    return SharingPlan(
        node_hops=tuple(p[0] + p[1] for p in parts),  # type: ignore[arg-type]
        rotation=tuple(p[0] for p in parts),  # type: ignore[arg-type]
        wide_fetch_access=tuple(p[1] for p in parts),  # type: ignore[arg-type]
        subgroup=tuple(sub), bs_t=tuple(t_bs), bs_ord=bs_ord,  # type: ignore[arg-type]
        gbuf_ord=gbuf_ord,
        rot_fetch=tuple(p[2] for p in parts),  # type: ignore[arg-type]
        rot_round_cnt=tuple(p[4] for p in parts),  # type: ignore[arg-type]
        rot_unit_cnt=tuple(p[5] for p in parts),  # type: ignore[arg-type]
        wide_fetch=tuple(p[3] for p in parts),  # type: ignore[arg-type]
        wide_fetch_width=tuple(p[6] for p in parts))  # type: ignore[arg-type]


def _no_sharing(subgroup: tuple[int, int, int], gbuf_ord: tuple[int, int, int]) -> SharingPlan:
    zero = (0.0, 0.0, 0.0)
    return SharingPlan(zero, zero, zero, subgroup, (1, 1, 1), (0, 1, 2), gbuf_ord, zero,
                       (0, 0, 0), (1, 1, 1), zero, zero)


def _innermost_dim_loop(own, t_x, ord_x):
    """The innermost non-trivial loop among ``own`` at a level (None if all are trivial)."""
    live = [lp for lp in own if t_x[lp] > 1]
    return min(live, key=lambda lp: ord_x[lp]) if live else None


def _structures(t_x, flex, fixed):
    """The distinct outer-to-inner loop lists [(loop, factor)] of the sharing level, the
    reorderable buffer loops and the fixed loops, each with its first (t_bs, sharing-level
    order, buffer-level order) in nn_dataflow's enumeration order."""
    splits = [[f for f in range(1, t_x[lp] + 1) if t_x[lp] % f == 0] if lp in flex else [1]
              for lp in range(3)]
    tail = tuple((lp, t_x[lp]) for lp in fixed)
    seen: dict = {}
    for t_bs in itertools.product(*splits):
        outer_trivial = tuple(lp for lp in flex if t_bs[lp] == 1)
        split_loops = [lp for lp in flex if t_bs[lp] > 1]
        for outer, bottom in itertools.product(itertools.permutations(split_loops),
                                               itertools.permutations(flex)):
            loops = (tuple((lp, t_bs[lp]) for lp in outer)
                     + tuple((lp, -(-t_x[lp] // t_bs[lp])) for lp in bottom
                             if t_x[lp] > t_bs[lp])
                     + tail)
            if loops not in seen:
                seen[loops] = (t_bs, outer_trivial + outer, bottom)
    return list(seen.items())


def _positions(outer_to_inner, keep) -> tuple[int, int, int]:
    """Loop positions (0 = innermost) of the kept loops in the given outer-to-inner order,
    then the remaining loops in loop order."""
    pos = [-1, -1, -1]
    nxt = 0
    for lp in reversed(outer_to_inner):
        if keep(lp):
            pos[lp] = nxt
            nxt += 1
    for lp in range(3):
        if pos[lp] < 0:
            pos[lp] = nxt
            nxt += 1
    return tuple(pos)  # type: ignore[return-value]
