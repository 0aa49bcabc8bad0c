"""Row-stationary array mapping (Eyeriss): a layer on one PE array -> nested-loop descriptors.

The mapper places one 2D convolution (one input channel against one output channel, or one
channel of a local-region layer) on a *logical PE set* of filter rows x ofmap rows, folds it
when it is larger than the PE array and replicates it when it is smaller, and describes the
remaining work as three nested loops (input channels I, output channels O, batch B) around a
*processing pass*. Each candidate descriptor gives the loop counts and the per-pass ops, time,
buffer footprints and accesses at every memory level; loop blocking then decides how the
three loops are split over DRAM, the global buffer and the register files.

This follows nn_dataflow 2.1's ``MapStrategyEyeriss`` number for number (same float
operation order), with two deliberate differences (docs/divergences.md):

* a mapping with PE utilisation <= 50% is reported as "no valid mapping" (nn_dataflow aborts
  the whole search with an AssertionError); ``ModelRules(min_pe_utilization=...)`` moves
  the threshold;
* an element-wise layer's pass reads all of its ``inputs`` input channels (nn_dataflow drops
  them and counts one); ``ModelRules(eltwise_ifmaps="nn_dataflow")`` restores 2.1's count.

A depthwise layer (an extension) has the unit pass of a CONV channel pair and replicates over
channels as a pooling layer does (docs/methods.md, "Depthwise convolution").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import mul

from .dims import Data, Level, Loop
from .layer import Layer

ITCN_RULES = ("v2.1", "head")
ELTWISE_RULES = ("all", "nn_dataflow")


@dataclass(frozen=True)
class ModelRules:
    """Switches between nn_dataflow's rules and nnsolve's corrections.

    ``itcn``: how array-interconnect accesses scale with PE-array replication. "v2.1" (the
    release on PyPI, the default) scales by the replicated data count; "head" (nn_dataflow's
    later fix) by the replication size, since every PE copy receives its own data.
    ``eltwise_ifmaps``: "all" counts every input channel an element-wise pass reads; "nn_dataflow"
    reproduces 2.1's undercount by the number of inputs.
    ``min_pe_utilization``: a mapping must keep more than this fraction of the PE array busy
    (nn_dataflow's 0.5; it asserts on less, nnsolve reports no valid mapping).
    """

    itcn: str = "v2.1"
    eltwise_ifmaps: str = "all"
    min_pe_utilization: float = 0.5

    def __post_init__(self) -> None:
        if self.itcn not in ITCN_RULES:
            raise ValueError(f"itcn must be one of {ITCN_RULES}, got {self.itcn!r}")
        if self.eltwise_ifmaps not in ELTWISE_RULES:
            raise ValueError(f"eltwise_ifmaps must be one of {ELTWISE_RULES}")
        if not 0 <= self.min_pe_utilization < 1:
            raise ValueError("min_pe_utilization must be in [0, 1)")


DEFAULT_RULES = ModelRules()


@dataclass(frozen=True)
class NestedLoopDesc:
    """One mapping candidate: three loops around a processing pass.

    Accesses and sizes are per processing pass, indexed [level][data] or [data]; totals over
    the whole layer multiply by the loop counts of the data's loops.
    """

    loopcnt: tuple[int, int, int]
    unit_access: tuple[tuple[float, float, float], ...]
    usize_gbuf: tuple[float, float, float]
    usize_regf: tuple[float, float, float]
    unit_ops: float
    unit_time: int
    data_loops: tuple[tuple[int, ...], ...]
    # How the candidate arose (for explanations): replication size, replicated data counts,
    # and loop occupancy (the filled fraction of the last iteration of each loop).
    repl_size: int = 1
    repl_counts: tuple[int, int, int] = (0, 0, 0)
    loop_occupancy: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def total_access(self, level: int, data: int) -> float:
        """Accesses at ``level`` to read (or write) all of ``data`` once."""
        loops = self.data_loops[data]
        return self.unit_access[level][data] * _prod(self.loopcnt[lp] for lp in loops)

    def total_ops(self) -> float:
        """Operations of the whole (per-node) layer."""
        return self.unit_ops * _prod(self.loopcnt)

    @property
    def is_conv(self) -> bool:
        """Whether the data loops are CONV-shaped: every category depends on two loops and
        loop orders matter (CONV, FC and DWCONV; not pooling or element-wise)."""
        return bool(self.data_loops[Data.FIL])


@dataclass(frozen=True)
class ArrayMapping:
    """The row-stationary placement of a layer on a PE array and its loop descriptors."""

    layer: Layer
    batch: int
    occupancy: float
    pe_array: tuple[int, int]
    logical_set: tuple[int, int]   # (filter or region rows, ofmap rows)
    fold: tuple[int, int]
    repl: tuple[int, int]
    folded_set: tuple[int, int]
    physical_set: tuple[int, int]
    utilization: float
    candidates: tuple[NestedLoopDesc, ...]
    reason: str = ""               # why there is no candidate, when there is none

    @property
    def active_pes(self) -> float:
        """Average number of busy PEs."""
        return self.utilization * self.pe_array[0] * self.pe_array[1]


def map_layer(layer: Layer, batch: int, pe_array: tuple[int, int], occupancy: float = 1.0,
              rules: ModelRules = DEFAULT_RULES) -> ArrayMapping:
    """Map ``batch`` samples of ``layer`` onto one PE array.

    ``occupancy`` (0, 1] is the fraction of this node's work that is real (from partitioning).
    """
    if not 0 < occupancy <= 1:
        raise ValueError(f"occupancy must be in (0, 1], got {occupancy}")
    if layer.groups != 1:
        raise ValueError("a grouped layer is mapped one group at a time (its one_group())")
    ah, aw = pe_array
    # One logical PE runs one filter (or region) row against one ofmap row.
    lh, lw = layer.kernel_h, layer.out_h

    # Fold a logical set larger than the array; replicate a smaller one. Spare height
    # replication first absorbs width folding.
    fold_h, repl_h = (_cdiv(lh, ah), 1) if lh > ah else (1, ah // lh)
    fold_w, repl_w = (_cdiv(lw, aw), 1) if lw > aw else (1, aw // lw)
    w2h = min(repl_h, fold_w)
    fold_w = _cdiv(fold_w, w2h)
    repl_h = repl_h // w2h
    folded = (_cdiv(lh, fold_h), _cdiv(lw, fold_w))
    physical = (folded[0] * repl_h * w2h, _cdiv(folded[1] * repl_w, w2h))
    assert physical[0] <= ah and physical[1] <= aw, "row-stationary set exceeds the PE array"
    util = 1.0 * (lh * lw * (repl_h * repl_w)) / (ah * aw * (fold_h * fold_w))

    common = dict(layer=layer, batch=batch, occupancy=occupancy, pe_array=(ah, aw),
                  logical_set=(lh, lw), fold=(fold_h, fold_w), repl=(repl_h, repl_w),
                  folded_set=folded, physical_set=physical, utilization=util)
    least = rules.min_pe_utilization
    if not util > least:
        reason = (f"PE utilisation {util:.1%} <= {least:.0%}: a {lh}x{lw} row-stationary set "
                  f"on a {ah}x{aw} array (fold {fold_h}x{fold_w}, replicate {repl_h}x{repl_w}); "
                  f"model.min_pe_utilization (nn_dataflow's 0.5) admits it when lowered")
        return ArrayMapping(candidates=(), reason=reason, **common)

    unit = _unit_pass(layer, fold_h, fold_w, folded[0] * folded[1], rules)
    candidates = tuple(_descriptors(layer, batch, occupancy, fold_w, repl_h, repl_w, unit, rules))
    return ArrayMapping(candidates=candidates, **common)


@dataclass(frozen=True)
class _UnitPass:
    """Work of one unit pass: fold_h folded sets of one channel pair, in time."""

    ops: float
    time: int
    access: tuple[tuple[float, float, float], ...]   # [level][data]
    size_gbuf: tuple[float, float, float]
    size_regf: tuple[float, float, float]


def _unit_pass(layer: Layer, fold_h: int, fold_w: int, pes: int, rules: ModelRules) -> _UnitPass:
    # Ofmap rows of one width fold: real-valued for access counts, rounded up for buffers.
    ea = 1.0 * layer.out_h / fold_w
    eb = _cdiv(layer.out_h, fold_w)
    wo, uh, uw = layer.out_w, layer.stride_h, layer.stride_w
    kh, kw = layer.kernel_h, layer.kernel_w
    ha = kh + (ea - 1) * uh
    hb = kh + (eb - 1) * uh
    wi = kw + (wo - 1) * uw
    ofm = ea * wo
    if layer.has_weights:
        # One channel pair (CONV/FC), or one channel through its own filter (DWCONV).
        ops = ofm * (kh * kw)
        time = fold_h * (kw * wo)
        fil = kh * kw
        ifm = ha * wi
        dram = (fil, ifm, ofm)
        gbuf = (fil, ifm * fold_h, ofm * fold_h)
        itcn = (kw * pes * fold_h, wi * pes * fold_h, wo * pes * fold_h)
        regf = (ops, ops, ops)
        size_gbuf = (kh * kw, hb * wi, eb * wo)
        size_regf = (kw, kw, 1)
    else:
        region = layer.inputs * kh * kw
        ops = ofm * region
        time = fold_h * (layer.inputs * kw * wo)
        # nn_dataflow builds the pass with one input channel; it really reads `inputs`.
        nin = layer.inputs if rules.eltwise_ifmaps == "all" else 1
        ifm = nin * (ha * wi)
        dram = (0, ifm, ofm)
        gbuf = (0, ifm, ofm * fold_h)
        itcn = (0, nin * (wi * pes), wo * pes * fold_h)
        regf = (0, ops, ops)
        size_gbuf = (0, nin * (hb * wi), eb * wo)
        size_regf = (0, kw, 1)
    return _UnitPass(ops, time, (dram, gbuf, itcn, regf), size_gbuf, size_regf)


def _descriptors(layer: Layer, batch: int, occupancy: float, fold_w: int, repl_h: int,
                 repl_w: int, unit: _UnitPass, rules: ModelRules):
    """Replication choices that build a processing pass from unit passes, as descriptors."""
    data_loops = layer.data_loops
    if layer.is_conv:
        # repl_w serves output channels only; repl_h is split between input and output
        # channels. Keep a split when its loop count is <= the running minimum (nn_dataflow's
        # filter: the first split is always kept, and so are ties).
        best = float("inf")
        for a in _divisors(repl_h):
            ifms = min(a, layer.in_channels)
            ofms = min(repl_h // a * repl_w, layer.out_channels)
            loopcnt = (_cdiv(layer.in_channels, ifms), _cdiv(layer.out_channels, ofms),
                       batch * fold_w)
            count = _prod(loopcnt)
            if count < best:
                best = count
            elif count > best:
                continue
            locc = (1.0 * layer.in_channels / ifms / loopcnt[Loop.I],
                    1.0 * layer.out_channels / ofms / loopcnt[Loop.O], 1.0)
            yield _descriptor(unit, loopcnt, locc, ifms * ofms, (ifms * ofms, ifms, ofms),
                              occupancy, data_loops, rules)
    else:
        # Local-region and depthwise layers replicate over channels only: every copy reads
        # its own ifmap channel (and, depthwise, its own filter) and writes its own ofmap.
        ofms = min(repl_h * repl_w, layer.out_channels)
        loopcnt = (1, _cdiv(layer.out_channels, ofms), batch * fold_w)
        locc = (1.0, 1.0 * layer.out_channels / ofms / loopcnt[Loop.O], 1.0)
        rcnt = (ofms if layer.has_weights else 0, ofms, ofms)
        yield _descriptor(unit, loopcnt, locc, ofms, rcnt, occupancy, data_loops, rules)


def _descriptor(unit: _UnitPass, loopcnt: tuple[int, int, int], locc: tuple[float, ...],
                rsz: int, rcnt: tuple[int, int, int], occupancy: float,
                data_loops: tuple[tuple[int, ...], ...], rules: ModelRules) -> NestedLoopDesc:
    all_occ = _prod(locc)
    aocc = [_prod(locc[lp] for lp in data_loops[d]) for d in Data]
    itcn_mult = rcnt if rules.itcn == "v2.1" else (rsz, rsz, rsz)
    access = []
    for level in Level:
        per = unit.access[level]
        if level == Level.REGF:
            access.append(tuple(a * rsz * occupancy * all_occ for a in per))
        else:
            mult = itcn_mult if level == Level.ITCN else rcnt
            access.append(tuple(a * n * o for a, n, o in zip(per, mult, aocc, strict=True)))
    return NestedLoopDesc(
        loopcnt=loopcnt,
        unit_access=tuple(access),
        usize_gbuf=tuple(s * n for s, n in zip(unit.size_gbuf, rcnt, strict=True)),
        usize_regf=tuple(unit.size_regf),
        unit_ops=unit.ops * rsz * occupancy * all_occ,
        unit_time=unit.time,
        data_loops=data_loops,
        repl_size=rsz,
        repl_counts=rcnt,
        loop_occupancy=tuple(locc),
    )


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _prod(values) -> float:
    return reduce(mul, values, 1)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]
