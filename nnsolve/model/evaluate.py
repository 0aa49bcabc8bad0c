"""The one cost model: validity, buffer use, accesses, time and energy of a layer's schedule.

``evaluate_blocking`` scores any number of loop-blocking schemes of one mapping candidate at
once (numpy arrays, one row per scheme); every solver in nnsolve, from the exhaustive search
to the exact formulations' self-checks, scores schedules through it, and ``evaluate_layer``
is the same computation for one schedule, returned as plain data.

The rules are nn_dataflow 2.1's ``LoopBlockingScheme`` and its per-layer result assembly
(layer spec §5, §8.3), with the same floating-point operation order so that numbers agree to
the last bit. In short, for data category d with top-level fetch count F0 (DRAM -> global
buffer) and F1 (global buffer -> register files):

* a loop unrelated to d re-fetches d for each of its iterations placed outside the innermost
  non-trivial loop of d at a level, and at every level above (OFM: 2f - 1, the first pass
  writes only);
* data allowed to bypass the global buffer is kept there exactly when F0 < F1;
* accesses are the layer totals of the descriptor times the fetch counts, with bypassed data
  streamed from DRAM at global-buffer granularity;
* time is the largest of processing, array-bus and DRAM time; energy adds op, access, NoC and
  static energy.

Integer counts are exact. Loop, fetch and buffer counts and processing cycles are int64, and
every product that forms them stays below ``COUNT_LIMIT`` (2^62) or the layer is refused
with ``TooLarge`` before anything is computed (``check_counts``); array-bus and DRAM cycles
(ceilings of float quotients, which a tiny bandwidth makes huge) become Python integers when
they outgrow int64. Accesses and energies are floats, in nn_dataflow's operation order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np

from ..errors import TooLarge
from ..hardware.spec import Costs, Hardware
from .bufshr import ShareGroups, SharingPlan, plan_sharing
from .dims import DATA_NAMES, LEVEL_NAMES, Data, Level
from .keys import field_hash, keyless_state
from .layer import Layer
from .mapping import DEFAULT_RULES, ArrayMapping, ModelRules, NestedLoopDesc, map_layer
from .schedule import LayerSchedule

#: Exclusive bound of the int64 counts (loop, fetch and buffer counts, processing cycles) and
#: of every product on the way to them: 2^62 leaves int64 a bit of headroom for the sums.
COUNT_LIMIT = 2**62

#: Exclusive bound of a valid schedule's energy, so that energy x time, and the sums of a
#: network's layers, stay finite floats (no input within the loader's limits comes near).
ENERGY_LIMIT = 1e150


def count_bounds(nld: NestedLoopDesc, totals) -> dict[str, float]:
    """Upper bounds on the integer counts of any scheme of ``nld`` whose factors of loop l
    multiply to at most ``totals[l]`` over the levels: a partial product of factors is at
    most their product L, a fetch count at most 2L (OFM: 2f - 1), and a buffer holds at most
    each category's unit size times its own loops' totals (summed over the categories)."""
    lcnt = _prod(totals)
    own = [_prod(totals[lp] for lp in loops) for loops in nld.data_loops]
    return {"processing time": nld.unit_time * lcnt,
            "fetch count": 2 * lcnt,
            "buffer size": max(sum(u * o for u, o in zip(usize, own, strict=True))
                                        for usize in (nld.usize_gbuf, nld.usize_regf))}


def check_counts(nld: NestedLoopDesc, totals, exact: bool = True) -> None:
    """Raise TooLarge when a count of a scheme with loop totals ``totals`` (see
    ``count_bounds``) may reach COUNT_LIMIT. ``exact=False``: the totals are float products
    (relative error < 1e-15), compared with a margin."""
    what, value = max(count_bounds(nld, totals).items(), key=lambda kv: kv[1])
    limit = COUNT_LIMIT if exact else COUNT_LIMIT * (1 - 1e-12)
    if value >= limit:
        unit = {"processing time": " cycles", "buffer size": " words"}.get(what, "")
        raise TooLarge(f"its {what} would reach {value:.3g}{unit}, beyond the cost model's "
                       f"exact 64-bit range (2^62 = {COUNT_LIMIT:.3g}); use a smaller batch "
                       "or layer")


def _prod(values) -> float:
    out = 1
    for v in values:
        out = out * v
    return out


@dataclass(frozen=True)
class BlockingEnv:
    """What loop blocking of one layer on its node region sees.

    Capacities are in words; ``bypass`` permits (not forces) global-buffer bypass per data
    category (weight, ifmap, ofmap). The region fields describe where ifmaps come from and
    ofmaps go (DRAM unless pipelined), ``accfwd`` divides DRAM traffic when nodes forward data
    to each other, and ``unit_nhops`` are the NoC hops of one top-level fetch of each category.

    ``sharing`` (the nodes' data groups) turns global-buffer sharing on: every stored category
    is then spread over its whole group for the capacity check (``gbuf_subgroup`` is ignored),
    and each valid scheme gets the NoC hops of its best sharing plan (``bufshr.plan_sharing``).
    Sharing implies access forwarding, but ``accfwd`` is still the caller's to set (to the
    group sizes, as nn_dataflow divides DRAM traffic the same way with either option).
    """

    __hash__ = field_hash
    __getstate__ = keyless_state

    regf_words: int
    gbuf_words: int
    bypass: tuple[bool, bool, bool]
    costs: Costs
    num_nodes: int = 1
    array_bus_width: float = math.inf
    dram_bandwidth: float = math.inf
    src_is_dram: bool = True
    src_is_local: bool = False
    dst_is_dram: bool = True
    dst_is_local: bool = False
    no_time_mux: bool = False
    accfwd: tuple[int, int, int] = (1, 1, 1)
    gbuf_subgroup: tuple[int, int, int] = (1, 1, 1)
    unit_nhops: tuple[float, float, float] = (0, 0, 0)
    sharing: ShareGroups | None = None

    @classmethod
    def single_node(cls, hardware: Hardware, costs: Costs,
                    bypass: tuple[bool, bool, bool]) -> BlockingEnv:
        """One node with DRAM as the source and destination of all data."""
        return cls(hardware.regf_words, hardware.gbuf_words, tuple(bypass), costs,
                   array_bus_width=hardware.array_bus_width,
                   dram_bandwidth=hardware.dram_bandwidth)


@dataclass
class BlockingStats:
    """Scores of K loop-blocking schemes (arrays with one row per scheme).

    Invalid schemes (over capacity, or re-reading on-chip data) have ``valid`` False and
    infinite ``access_cost``, ``time`` and ``energy``; their other fields are not meaningful.
    """

    valid: np.ndarray            # (K,) bool
    size_gbuf: np.ndarray        # (K, 3) words per node, by data category
    size_regf: np.ndarray        # (K, 3) words per PE
    stored: np.ndarray           # (K, 3) bool: kept in the global buffer
    fetch: np.ndarray            # (K, 2, 3) top-level (F0) and buffer-level (F1) fetches
    access: np.ndarray           # (K, 4, 3) accesses by level and data category
    remote_gbuf: np.ndarray      # (K, 3) reads/writes of other nodes' buffers (pipelining)
    noc_hops: np.ndarray         # (K, 3) word-hops on the NoC
    ops: np.ndarray              # (K,)
    proc_time: np.ndarray        # (K,) cycles
    bus_time: np.ndarray
    dram_time: np.ndarray
    time: np.ndarray
    access_cost: np.ndarray      # (K,) energy of memory accesses (nn_dataflow's ranking key)
    op_cost: np.ndarray
    noc_cost: np.ndarray
    static_cost: np.ndarray
    energy: np.ndarray           # (K,) op + access + NoC + static
    #: Rows whose buffer-sharing plan is included in noc_hops/noc_cost/energy and size_gbuf
    #: (empty without buffer sharing; see evaluate_blocking's ``sharing_noc``).
    sharing: dict[int, SharingPlan] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.valid)


#: Most cycles a time may count: the model's times are 64-bit integers (with headroom for
#: the sums of a network); a float count beyond it would wrap around to a negative time.
MAX_CYCLES = 2**62


def _cycles(counts: np.ndarray, valid: np.ndarray, what: str) -> np.ndarray:
    """Float cycle counts as the model's integers; a valid row beyond MAX_CYCLES raises
    TooLarge (it used to wrap silently, so a tiny DRAM bandwidth gave a short time)."""
    over = valid & ~(counts < MAX_CYCLES)
    if np.any(over):
        raise TooLarge(f"{what} would take {float(counts[over].max()):.3g} cycles, beyond the "
                       f"{MAX_CYCLES:.3g} the cost model counts")
    return np.minimum(counts, MAX_CYCLES).astype(np.int64)     # invalid rows: capped


@dataclass(frozen=True)
class SpaceCounts:
    """What the blocking factors and orders of K schemes alone fix, whatever the buffers,
    costs and region: fetch counts (K, 2, 3), each scheme's loop product (K,), and the units
    of each data category below the global buffer and below the register files (K, 3).
    ``tops`` is the largest float product of each loop's factors and ``covers`` their least
    integer product (what the range and coverage checks need). A cached space computes them
    once for every problem that scores it."""

    fetch: np.ndarray
    lcnt: np.ndarray
    cnt_gbuf: np.ndarray
    cnt_regf: np.ndarray
    tops: tuple[float, float, float]
    covers: tuple[int, int, int]

    def rows(self, keep) -> SpaceCounts:
        """The counts of the rows ``keep`` (a slice, mask or index array); the checks'
        extremes stay those of all rows, which bound the kept rows' own."""
        return SpaceCounts(self.fetch[keep], self.lcnt[keep], self.cnt_gbuf[keep],
                           self.cnt_regf[keep], self.tops, self.covers)

    @property
    def nbytes(self) -> int:
        return self.fetch.nbytes + self.lcnt.nbytes + self.cnt_gbuf.nbytes \
            + self.cnt_regf.nbytes


def space_counts(factors: np.ndarray, positions: np.ndarray,
                 dims: tuple[tuple[int, ...], ...]) -> SpaceCounts:
    """The ``SpaceCounts`` of schemes (K, 3, 3) with orders (K, 2, 3) for the data loops
    ``dims`` (a descriptor's ``data_loops``)."""
    t = _int_array(factors).reshape(-1, 3, 3)
    pos = np.asarray(positions, dtype=np.int64).reshape(-1, 2, 3)
    if len(pos) != len(t):
        raise ValueError("factors and positions describe different numbers of schemes")
    if len(t) and np.any(t < 1):
        raise ValueError("blocking factors must be positive")
    if not len(t):
        empty = np.zeros((0, 3), dtype=np.int64)
        return SpaceCounts(np.zeros((0, 2, 3), dtype=np.int64), np.zeros(0, dtype=np.int64),
                           empty, empty, (1.0, 1.0, 1.0), (1, 1, 1))
    # The float product cannot wrap; past the limit the int64 products below would.
    tops = tuple(float(v) for v in t.astype(np.float64).prod(axis=1).max(axis=0))
    if max(tops) >= COUNT_LIMIT:
        covers = (COUNT_LIMIT, COUNT_LIMIT, COUNT_LIMIT)   # checked (and refused) first
        lcnt = np.zeros(len(t), dtype=np.int64)
    else:
        per_loop = t.prod(axis=1)
        covers = tuple(int(v) for v in per_loop.min(axis=0))
        lcnt = per_loop[:, 0] * per_loop[:, 1] * per_loop[:, 2]
    below_gbuf = t[:, 1, :] * t[:, 2, :]
    below_regf = t[:, 2, :]
    cnt_gbuf = np.stack([_prod_cols(below_gbuf, dims[d]) for d in Data], axis=1)
    cnt_regf = np.stack([_prod_cols(below_regf, dims[d]) for d in Data], axis=1)
    return SpaceCounts(fetch_counts(t, pos, dims), lcnt, cnt_gbuf, cnt_regf, tops, covers)


def evaluate_blocking(nld: NestedLoopDesc, factors: np.ndarray, positions: np.ndarray,
                      env: BlockingEnv, sharing_noc: bool = True,
                      counts: SpaceCounts | None = None) -> BlockingStats:
    """Score K blocking schemes of one descriptor.

    ``factors``: (K, 3, 3) ints, [scheme, level, loop]. ``positions``: (K, 2, 3) ints,
    nn_dataflow's ``bl_ords`` (each loop's position at levels 0 and 1, 0 = innermost).

    With buffer sharing (``env.sharing``), every valid row's sharing plan is searched, one
    row at a time in Python (``bufshr.plan_sharing``), which is slow. ``sharing_noc=False``
    skips that: validity, accesses and times are still exact, but ``noc_hops``, ``noc_cost``
    and ``energy`` leave out the sharing hops (which are >= 0, so energy is a lower bound)
    and ``size_gbuf`` keeps the whole-group spread; ``add_sharing_noc`` completes chosen rows.
    ``counts`` may pass in ``space_counts`` of the same rows (they depend on the schemes and
    the descriptor's data loops only), computed once for many problems.
    """
    t = _int_array(factors).reshape(-1, 3, 3)
    pos = np.asarray(positions, dtype=np.int64).reshape(-1, 2, 3)
    k = len(t)
    if counts is None:
        counts = space_counts(t, pos, nld.data_loops)
    elif len(counts.lcnt) != k:
        raise ValueError("the counts describe another number of schemes")
    if k:
        check_counts(nld, counts.tops, exact=False)
        if any(c < n for c, n in zip(counts.covers, nld.loopcnt, strict=True)):
            raise ValueError(f"blocking factors do not cover the loop counts {nld.loopcnt}")
    dims = nld.data_loops
    lcnt = counts.lcnt
    n = env.num_nodes

    # Buffered units below each level: global buffer holds levels 1-2, register files level 2.
    size_regf = counts.cnt_regf * np.asarray(nld.usize_regf)
    unit_gbuf = counts.cnt_gbuf * np.asarray(nld.usize_gbuf)
    subgroup = np.asarray(env.gbuf_subgroup if env.sharing is None else env.sharing.sizes)

    split = bool(np.any(subgroup > 1))

    def gbuf_size(stored: np.ndarray) -> np.ndarray:
        size = unit_gbuf * stored
        return -(-size // subgroup) if split else size

    regf_ok = _sum3(size_regf) <= env.regf_words
    stored = np.tile(~np.asarray(env.bypass, dtype=bool), (k, 1))
    valid = regf_ok & (_sum3(gbuf_size(stored)) <= env.gbuf_words)

    fetch = np.array(counts.fetch, dtype=np.int64)     # a copy: pinned filters change it

    # Data from on-chip buffers can be read only once; local data stays in the buffer.
    if not env.src_is_dram:
        valid &= fetch[:, 0, Data.IFM] <= 1
        if env.src_is_local:
            stored[:, Data.IFM] = True
    if not env.dst_is_dram:
        valid &= fetch[:, 0, Data.OFM] <= 1
        if env.dst_is_local:
            stored[:, Data.OFM] = True
    # Bypass-permitted data is kept in the global buffer exactly when it is reused there.
    stored |= fetch[:, 0, :] < fetch[:, 1, :]
    size_gbuf = gbuf_size(stored)
    valid &= regf_ok & (_sum3(size_gbuf) <= env.gbuf_words)

    # Filters pinned on chip (a segment holding the whole network): no weight refetch at all.
    if env.no_time_mux:
        pinned = np.all(t[:, 0, list(dims[Data.FIL])] == 1, axis=1)
        fetch[pinned, 0, Data.FIL] = 0

    total = [[nld.total_access(m, d) for d in Data] for m in Level]
    f0 = fetch[:, 0, :]
    f1 = fetch[:, 1, :]
    access = np.empty((k, 4, 3))
    for d in Data:
        ofm2 = 2 if d == Data.OFM else 1
        access[:, Level.REGF, d] = nld.unit_access[Level.REGF][d] * lcnt * ofm2 * n
        access[:, Level.ITCN, d] = total[Level.ITCN][d] * f1[:, d] * n
        access[:, Level.GBUF, d] = total[Level.GBUF][d] * f1[:, d] * stored[:, d] * n
        dram_unit = np.where(stored[:, d], total[Level.DRAM][d], total[Level.GBUF][d])
        access[:, Level.DRAM, d] = dram_unit * f0[:, d] * n / env.accfwd[d]
    remote = np.zeros((k, 3))
    if not env.src_is_dram:
        remote[:, Data.IFM] = access[:, Level.DRAM, Data.IFM]
        access[:, Level.DRAM, Data.IFM] = 0.0
    if not env.dst_is_dram:
        remote[:, Data.OFM] = access[:, Level.DRAM, Data.OFM]
        access[:, Level.DRAM, Data.OFM] = 0.0

    ops = nld.unit_ops * lcnt * n
    proc_time = nld.unit_time * lcnt
    dram_sum = _sum3(access[:, Level.DRAM, :])
    if math.isinf(env.dram_bandwidth):
        dram_time = np.zeros(k, dtype=np.int64)
    else:
        dram_time = _cycles(np.ceil(dram_sum / env.dram_bandwidth), valid, "moving its DRAM "
                            "data (a larger DRAM bandwidth helps)")
    if math.isinf(env.array_bus_width):
        bus_time = np.zeros(k, dtype=np.int64)
    else:
        # The words each node moves may pass MAX_CYCLES (even 2^63) while their cycles,
        # words over the bus width, do not: the cycles are checked, counted in int64 or,
        # past it, in Python integers (exact for the float counts).
        width = int(env.array_bus_width)
        words = np.ceil(1.0 * access[:, Level.GBUF, :].max(axis=1) / n)
        big = valid & ~(words < 2.0**63)
        fits = valid & ~big
        per_node = np.zeros(k, dtype=np.int64)
        per_node[fits] = words[fits].astype(np.int64)
        bus_time = -(-per_node // width)
        if np.any(big):
            bus_time[big] = [min(-(-int(w) // width), MAX_CYCLES) for w in words[big]]
        over = valid & (bus_time >= MAX_CYCLES)
        if np.any(over):
            most = max(-(-int(w) // width) for w in words[over])
            raise TooLarge(f"its array bus transfers would take {float(most):.3g} cycles, "
                           f"beyond the {MAX_CYCLES:.3g} the cost model counts")
    time = np.maximum(np.maximum(proc_time, bus_time), dram_time)

    c = env.costs
    access_cost = (c.dram * _sum3(access[:, 0, :]) + c.gbuf * _sum3(access[:, 1, :])
                   + c.itcn * _sum3(access[:, 2, :]) + c.regf * _sum3(access[:, 3, :]))
    access_cost = access_cost + c.gbuf * _sum3(remote)
    noc_hops = np.asarray(env.unit_nhops, dtype=float) * f0
    noc_cost = c.noc_hop * _sum3(noc_hops)
    op_cost = c.mac * ops
    time_f = time.astype(float)
    static_cost = c.idle * time_f
    energy = op_cost + access_cost + noc_cost + static_cost
    check_energy(energy[valid])

    inf = np.inf
    stats = BlockingStats(
        valid=valid, size_gbuf=size_gbuf, size_regf=size_regf, stored=stored, fetch=fetch,
        access=access, remote_gbuf=remote, noc_hops=noc_hops, ops=ops,
        proc_time=proc_time, bus_time=bus_time, dram_time=dram_time,
        time=np.where(valid, time_f, inf), access_cost=np.where(valid, access_cost, inf),
        op_cost=op_cost, noc_cost=noc_cost, static_cost=np.where(valid, static_cost, inf),
        energy=np.where(valid, energy, inf))
    if env.sharing is not None and sharing_noc:
        add_sharing_noc(stats, np.flatnonzero(valid), nld, t, pos, env)
    return stats


def add_sharing_noc(stats: BlockingStats, rows, nld: NestedLoopDesc, factors: np.ndarray,
                    positions: np.ndarray, env: BlockingEnv) -> None:
    """Add the buffer-sharing NoC hops of the given rows to ``stats`` (in place).

    For the rows of an ``evaluate_blocking(..., sharing_noc=False)`` result (same
    descriptor, schemes and env): each valid row not done yet gets its sharing plan (in
    ``stats.sharing``), its hops added to ``noc_hops``, ``noc_cost`` and ``energy``, and
    ``size_gbuf`` set to the plan's subgroup spread. No-op without ``env.sharing``.
    """
    groups = env.sharing
    if groups is None:
        return
    t = np.asarray(factors, dtype=np.int64).reshape(-1, 3, 3)
    pos = np.asarray(positions, dtype=np.int64).reshape(-1, 2, 3)
    usize = np.asarray(nld.usize_gbuf)
    c = env.costs
    for row in (int(r) for r in np.atleast_1d(rows)):
        if not stats.valid[row] or row in stats.sharing:
            continue
        fetch = stats.fetch[row].copy()
        fetch[0] = np.maximum(fetch[0], 1)   # the plan sees weights before filter pinning
        plan = plan_sharing(nld, t[row], pos[row], fetch, stats.size_gbuf[row], groups,
                            env.num_nodes, env.gbuf_words)
        stats.sharing[row] = plan
        hops = stats.noc_hops[row]
        for d in Data:
            hops[d] = plan.node_hops[d] + hops[d]
        stats.noc_cost[row] = c.noc_hop * _sum3(hops)
        stats.energy[row] = (stats.op_cost[row] + stats.access_cost[row]
                             + stats.noc_cost[row] + stats.static_cost[row])
        below = (t[row, 1, :] * t[row, 2, :])[None, :]
        for d in Data:
            unit = _prod_cols(below, nld.data_loops[d])[0] * usize[d] * stats.stored[row, d]
            stats.size_gbuf[row, d] = -(-unit // plan.subgroup[d])


def check_energy(energy: np.ndarray) -> None:
    """Raise TooLarge when a valid scheme's energy is not below ENERGY_LIMIT (the range in
    which the evaluator's sums stay finite and ordered)."""
    if len(energy) and not np.all(energy < ENERGY_LIMIT):
        worst = float(np.max(energy))
        raise TooLarge(f"its energy reaches {worst:.3g} cost units, beyond the {ENERGY_LIMIT:g} "
                       "the evaluator keeps finite; use smaller costs (other units)")


def _int_array(values) -> np.ndarray:
    """``values`` as an int64 array; TooLarge (not numpy's OverflowError) beyond int64."""
    try:
        return np.asarray(values, dtype=np.int64)
    except OverflowError:
        raise TooLarge("blocking factors beyond 64-bit integers") from None


def _prod_cols(values: np.ndarray, cols: tuple[int, ...]) -> np.ndarray:
    """Product of the given loop columns (1 for none), left to right."""
    out = np.ones(len(values), dtype=values.dtype)
    for col in cols:
        out = out * values[:, col]
    return out


def _sum3(values: np.ndarray) -> np.ndarray:
    """Sum over the last axis of length 3, left to right (Python's sum order)."""
    return (values[..., 0] + values[..., 1]) + values[..., 2]


def fetch_counts(t: np.ndarray, pos: np.ndarray, dims: tuple[tuple[int, ...], ...]
                 ) -> np.ndarray:
    """Fetch counts F0 (into the global buffer) and F1 (into the register files), (K, 2, 3).

    At level k, the innermost non-trivial loop of d's own loops bounds reuse: every unrelated
    loop placed outside it (and every unrelated factor of the levels above) re-fetches d.
    """
    k = len(t)
    fetch = np.empty((k, 2, 3), dtype=np.int64)
    rows = np.arange(k)
    for level in (0, 1):
        tl, pl = t[:, level, :], pos[:, level, :]
        above = t[:, :level, :].prod(axis=1)   # factors of the levels above this one
        for d in Data:
            own = dims[d]
            if not own:
                fetch[:, level, d] = fetch[:, level - 1, d] if level else 1
                continue
            # Innermost non-trivial loop of d at this level (position 99 = none).
            keys = np.stack([np.where(tl[:, lp] > 1, pl[:, lp], 99) for lp in own], axis=1)
            inner = np.asarray(own)[keys.argmin(axis=1)]
            has_inner = keys.min(axis=1) < 99
            inner_pos = pl[rows, inner]
            f = np.ones(k, dtype=np.int64)
            for lp in (lp for lp in range(3) if lp not in own):
                outside = pl[:, lp] > inner_pos
                f = f * (above[:, lp] * np.where(outside, tl[:, lp], 1))
            if d == Data.OFM:
                f = 2 * f - 1
            fallback = fetch[:, level - 1, d] if level else np.ones(k, dtype=np.int64)
            fetch[:, level, d] = np.where(has_inner, f, fallback)
    return fetch


# -- one layer --------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerProblem:
    """One layer to schedule on a node region: its shape, batch, hardware and environment."""

    __hash__ = field_hash
    __getstate__ = keyless_state

    layer: Layer
    batch: int
    pe_array: tuple[int, int]
    env: BlockingEnv
    occupancy: float = 1.0
    rules: ModelRules = DEFAULT_RULES

    def __post_init__(self) -> None:
        if self.layer.groups != 1:
            raise ValueError("a grouped layer is scheduled one group at a time: give "
                             "its one_group() and repeat the result (LayerResult.repeated)")

    @classmethod
    def single_node(cls, layer: Layer, batch: int, hardware: Hardware, costs: Costs,
                    bypass: tuple[bool, bool, bool] = (False, False, False),
                    rules: ModelRules = DEFAULT_RULES) -> LayerProblem:
        """The layer alone on one node, reading from and writing to DRAM."""
        return cls(layer, batch, hardware.pe_array,
                   BlockingEnv.single_node(hardware, costs, bypass), rules=rules)

    @cached_property
    def mapping(self) -> ArrayMapping:
        """The row-stationary mapping of the (per-node) layer on the PE array. Raises
        TooLarge when a candidate's counts leave the cost model's exact range."""
        mapping = map_layer(self.layer, self.batch, self.pe_array, self.occupancy, self.rules)
        for nld in mapping.candidates:
            check_counts(nld, nld.loopcnt)
        return mapping


@dataclass(frozen=True)
class LayerResult:
    """The score of one layer's schedule. Energy in cost units, time in cycles.

    ``accesses[level][data]`` counts word accesses (levels dram, gbuf, itcn, regf; data
    weight, ifmap, ofmap); the gbuf totals include reads of other nodes' buffers.
    """

    valid: bool
    energy: float
    time: float
    ops: float
    breakdown: dict[str, float]
    accesses: dict[str, dict[str, float]]
    fetch: tuple[tuple[int, int, int], tuple[int, int, int]]
    gbuf_resident: tuple[bool, bool, bool]
    size_gbuf: tuple[int, int, int]
    size_regf: tuple[int, int, int]
    proc_time: int
    bus_time: int
    dram_time: int
    access_cost: float
    noc_hops: tuple[float, float, float]
    remote_gbuf: tuple[float, float, float]
    loopcnt: tuple[int, int, int] = field(default=(1, 1, 1))
    sharing: SharingPlan | None = None   # the buffer-sharing plan, when sharing is on

    @property
    def edp(self) -> float:
        """Energy-delay product."""
        return self.energy * self.time

    @property
    def access_totals(self) -> dict[str, float]:
        """Accesses per level summed over data categories (gbuf includes remote reads)."""
        return {lvl: sum(per.values()) for lvl, per in self.accesses.items()}

    def repeated(self, groups: int) -> LayerResult:
        """The score of ``groups`` identical runs one after another (a grouped CONV's groups
        with one schedule): energy by category, time, operations, accesses, NoC hops and
        remote reads times ``groups``; the schedule's own fields (fetch counts, residency,
        buffer use, loop counts, sharing plan) are one group's."""
        if groups == 1:
            return self
        g = groups
        return replace(
            self, energy=self.energy * g, time=self.time * g, ops=self.ops * g,
            breakdown={k: v * g for k, v in self.breakdown.items()},
            accesses={lvl: {d: v * g for d, v in per.items()}
                      for lvl, per in self.accesses.items()},
            proc_time=self.proc_time * g, bus_time=self.bus_time * g,
            dram_time=self.dram_time * g, access_cost=self.access_cost * g,
            noc_hops=tuple(h * g for h in self.noc_hops),
            remote_gbuf=tuple(r * g for r in self.remote_gbuf))


def stats_row(stats: BlockingStats, row: int, nld: NestedLoopDesc, costs: Costs) -> LayerResult:
    """One scheme of a BlockingStats as a LayerResult."""
    acc = stats.access[row]
    remote = stats.remote_gbuf[row]
    accesses = {LEVEL_NAMES[m]: {DATA_NAMES[d]: float(acc[m, d]) for d in Data} for m in Level}
    for d in Data:
        accesses["gbuf"][DATA_NAMES[d]] += float(remote[d])
    valid = bool(stats.valid[row])
    level_cost = [float(cost * _sum3(acc[m])) for m, cost in enumerate(costs.mem_hier)]
    level_cost[Level.GBUF] += float(costs.gbuf * _sum3(remote))
    breakdown = {"mac": float(stats.op_cost[row]), "dram": level_cost[0],
                 "gbuf": level_cost[1], "itcn": level_cost[2], "regf": level_cost[3],
                 "noc": float(stats.noc_cost[row]), "static": float(stats.static_cost[row])}
    if not valid:
        breakdown = dict.fromkeys(breakdown, math.inf)
    return LayerResult(
        valid=valid, energy=float(stats.energy[row]), time=float(stats.time[row]),
        ops=float(stats.ops[row]), breakdown=breakdown, accesses=accesses,
        fetch=tuple(tuple(int(v) for v in lvl) for lvl in stats.fetch[row]),
        gbuf_resident=tuple(bool(v) for v in stats.stored[row]),
        size_gbuf=tuple(int(v) for v in stats.size_gbuf[row]),
        size_regf=tuple(int(v) for v in stats.size_regf[row]),
        proc_time=int(stats.proc_time[row]), bus_time=int(stats.bus_time[row]),
        dram_time=int(stats.dram_time[row]), access_cost=float(stats.access_cost[row]),
        noc_hops=tuple(float(v) for v in stats.noc_hops[row]),
        remote_gbuf=tuple(float(v) for v in remote), loopcnt=nld.loopcnt,
        sharing=stats.sharing.get(row))


#: Relative slack that keeps a floor computed in another float order below the true value.
FLOOR_SLACK = 1e-9


@dataclass(frozen=True)
class BlockingFloor:
    """Least energy and time any blocking of a problem can have (capacities ignored), and the
    least top-level fetch counts; NoC energy of unit hops ``h`` is at least
    ``costs.noc_hop * h . fetch0``. None of them is attained in general."""

    energy: float
    time: float
    fetch0: tuple[int, int, int]


@lru_cache(maxsize=1 << 16)
def blocking_floor(problem: LayerProblem) -> BlockingFloor | None:
    """A lower bound on the energy and time of every schedule of ``problem`` (None when the
    layer has no mapping), in closed form.

    Every access count is a layer total times a fetch count with a non-negative coefficient,
    every fetch count is at least 1 (filters pinned on chip: 0), and time is at least the
    processing time; so each category's cost is at least its cost at the least fetch counts,
    kept in or bypassing the global buffer, whichever is cheaper and allowed. Buffer-sharing
    hops are >= 0 and left out.
    """
    env, c = problem.env, problem.env.costs
    candidates = problem.mapping.candidates
    if not candidates:
        return None
    least_f0 = [1, 1, 1]
    if env.no_time_mux:
        least_f0[Data.FIL] = 0
    keep_ifm = not env.src_is_dram and env.src_is_local
    keep_ofm = not env.dst_is_dram and env.dst_is_local
    n = env.num_nodes
    energies, times = [], []
    for nld in candidates:
        lcnt = math.prod(nld.loopcnt)
        energy = c.mac * nld.unit_ops * lcnt * n + c.idle * nld.unit_time * lcnt
        for d in Data:
            ofm2 = 2 if d == Data.OFM else 1
            energy += c.regf * nld.unit_access[Level.REGF][d] * lcnt * ofm2 * n
            energy += c.itcn * nld.total_access(Level.ITCN, d) * n
            remote = (d == Data.IFM and not env.src_is_dram) or \
                (d == Data.OFM and not env.dst_is_dram)
            far = c.gbuf if remote else c.dram
            forced = not env.bypass[d] or (d == Data.IFM and keep_ifm) or \
                (d == Data.OFM and keep_ofm)
            options = (True,) if forced else (True, False)
            energy += min(
                c.gbuf * nld.total_access(Level.GBUF, d) * stored * n
                + far * nld.total_access(Level.DRAM if stored else Level.GBUF, d)
                * least_f0[d] * n / env.accfwd[d]
                for stored in options)
        energy += c.noc_hop * sum(h * f for h, f in zip(env.unit_nhops, least_f0,
                                                         strict=True))
        energies.append(energy)
        times.append(nld.unit_time * lcnt)
    return BlockingFloor(min(energies) * (1 - FLOOR_SLACK), float(min(times)),
                         tuple(least_f0))


def evaluate_layer(problem: LayerProblem, schedule: LayerSchedule) -> LayerResult:
    """Score one layer's schedule. Raises ValueError if the schedule does not fit the layer
    (mapping index out of range, or factors that do not cover the loop counts)."""
    candidates = problem.mapping.candidates
    if not candidates:
        raise ValueError(f"no valid mapping: {problem.mapping.reason}")
    if not 0 <= schedule.mapping_index < len(candidates):
        raise ValueError(f"mapping index {schedule.mapping_index} out of range: the layer has "
                         f"{len(candidates)} row-stationary candidate(s)")
    nld = candidates[schedule.mapping_index]
    stats = evaluate_blocking(nld, np.asarray([schedule.blocking.factors]),
                              np.asarray([schedule.blocking.positions()]), problem.env)
    return stats_row(stats, 0, nld, problem.env.costs)
