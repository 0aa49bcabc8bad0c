"""Exhaustive loop-blocking search: every scheme of nn_dataflow's space, scored in arrays.

The space of one layer on one node is: every row-stationary candidate x every ordered
factorisation of each of the three loops over the three levels x the loop orders of levels 0
and 1. For a loop order only the innermost non-trivial loop of each level matters, so orders
are generated directly in nn_dataflow's canonical form (the innermost non-trivial loop first,
then the other non-trivial loops, then the trivial ones, each group in loop order), and schemes
that nn_dataflow skips as dominated (a loop that could be merged into the level above with the
same accesses and smaller buffers) are not generated. Both are speed-ups only: the property
tests compare with the full 36-order space. Local-region layers fetch everything once whatever
the order, so only the first order pair is scored for them.

Every scheme carries its position in nn_dataflow's enumeration order (candidate, then the
factorisations of I, O, B, then the two orders), which breaks ties.

Memory and time are budgeted. The number of schemes is counted in closed form before
anything is built (``space_size``); a layer with more than ``MAX_SCHEMES`` is refused with
TooLarge (naming what to use instead). Spaces up to ``CACHE_ROWS`` schemes are built whole and
cached (the partition search asks for the same spaces again and again) within ``CACHE_BYTES``
in all; larger ones are generated and scored piece by piece, in enumeration order, so the
search holds one piece at a time whatever the layer.
"""

from __future__ import annotations

import itertools
import time as _time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import TooLarge
from ..model.evaluate import (
    BlockingStats,
    LayerProblem,
    LayerResult,
    SpaceCounts,
    evaluate_blocking,
    space_counts,
    stats_row,
)
from ..model.factors import factor_triples, triple_count
from ..model.goals import rank_order
from ..model.loop_order import canonical_positions
from ..model.mapping import NestedLoopDesc
from ..model.pins import NONE, Pins
from ..model.schedule import Blocking, LayerSchedule

_PERMS = list(itertools.permutations(range(3)))
_PERM_INDEX = np.full(27, -1, dtype=np.int64)
for _i, _p in enumerate(_PERMS):
    _PERM_INDEX[_p[0] * 9 + _p[1] * 3 + _p[2]] = _i
#: Schemes scored per evaluator call (and about the size of a piece of a large space).
_CHUNK = 250_000
#: Most schemes one search of a layer scores (all its mapping candidates): about two
#: minutes of scoring; beyond it the exact models (cpsat) are the way.
MAX_SCHEMES = 30_000_000
#: Spaces up to this many schemes are built whole and cached; larger ones in pieces.
CACHE_ROWS = 1_500_000
#: Bytes the cached spaces (and their counts) may hold together: a whole space of
#: CACHE_ROWS schemes still fits.
CACHE_BYTES = 3 * 2**27
#: Bytes one scheme of a built space takes: factors, positions, rank and fetch counts.
SCHEME_BYTES = 9 * 8 + 6 * 8 + 8 + 6 * 8


#: What to do about a space too large for enumeration, when another method can solve it.
USE_CPSAT = "use method cpsat (solver.method) for layers this large"


class SpaceTooLarge(TooLarge):
    """A blocking space beyond the exhaustive search's budget: ``what`` it would take (a
    count of schemes, or of bytes) against the budget, and ``advice``."""

    def __init__(self, what: str, budget: str, advice: str = USE_CPSAT):
        self.what, self.budget, self.advice = what, budget, advice
        super().__init__(f"the exhaustive search would {what}, more than its budget of "
                         f"{budget}; {advice}")

    def __reduce__(self):
        return SpaceTooLarge, (self.what, self.budget, self.advice)

    def advise(self, advice: str) -> SpaceTooLarge:
        """The same refusal with other advice."""
        return SpaceTooLarge(self.what, self.budget, advice)


class ByteLRU:
    """A least-recently-used cache bounded by the bytes of what it holds (``size`` of an
    entry); an entry larger than the bound is returned without being kept."""

    def __init__(self, limit: int, size: Callable[[Any], int]):
        self.limit = limit
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.bytes = 0

    def get(self, key, build: Callable[[], Any]):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key][0]
        value = build()
        nbytes = self.size(value)
        if nbytes <= self.limit:
            self.items[key] = (value, nbytes)
            self.bytes += nbytes
            while self.bytes > self.limit:
                _, (_, old) = self.items.popitem(last=False)
                self.bytes -= old
        return value

    def clear(self) -> None:
        self.items.clear()
        self.bytes = 0


def factorizations(n: int) -> np.ndarray:
    """Ordered triples (t0, t1, t2) with product n, in nn_dataflow's order: by t0, then t1."""
    return np.asarray(factor_triples(n), dtype=np.int64).reshape(-1, 3)


@dataclass(frozen=True)
class SchemeSpace:
    """All schemes of one descriptor: factors (K, 3, 3), positions (K, 2, 3), rank (K,)."""

    factors: np.ndarray
    positions: np.ndarray
    rank: np.ndarray

    def __len__(self) -> int:
        return len(self.rank)


def scheme_space(nld: NestedLoopDesc, canonical: bool = True) -> SchemeSpace:
    """The schemes of one descriptor that the search scores, built whole (tests; the search
    itself uses ``space_pieces``).

    ``canonical=False`` gives nn_dataflow's raw space (all 36 order pairs, nothing skipped);
    tests use it to show that the canonical space has the same optimum.
    """
    pieces = list(space_pieces(nld, canonical))
    if len(pieces) == 1:
        return pieces[0]
    return SchemeSpace(*(np.concatenate([getattr(p, f) for p in pieces])
                         for f in ("factors", "positions", "rank")))


@lru_cache(maxsize=1 << 14)
def space_size(loopcnt: tuple[int, int, int], is_conv: bool, canonical: bool = True) -> int:
    """The number of schemes of a space, in closed form (nothing is built)."""
    combos = triple_count(loopcnt[0]) * triple_count(loopcnt[1]) * triple_count(loopcnt[2])
    if not canonical:
        return 36 * combos
    if not is_conv:
        return combos
    kept = _kept_per_pattern()
    counts = [_pattern_counts(n) for n in loopcnt]
    return int(sum(counts[0][a] * counts[1][b] * counts[2][c] * kept[a, b, c]
                   for a, b, c in itertools.product(range(8), repeat=3)))


def space_pieces(nld: NestedLoopDesc, canonical: bool = True, rows: int | None = None
                 ) -> Iterator[SchemeSpace]:
    """The space of one descriptor in enumeration order: whole (and cached) when it has at
    most CACHE_ROWS schemes, else in pieces of at most ``rows`` (default _CHUNK) schemes."""
    rows = _CHUNK if rows is None else rows
    loopcnt = tuple(nld.loopcnt)
    size = space_size(loopcnt, nld.is_conv, canonical)
    if size <= CACHE_ROWS:
        yield _SPACES.get((loopcnt, nld.is_conv, canonical),
                          lambda: _frozen(_build_space(loopcnt, nld.is_conv, canonical)))
        return
    per_loop = [factorizations(n) for n in loopcnt]
    combos = len(per_loop[0]) * len(per_loop[1]) * len(per_loop[2])
    # Combinations per piece: a factorisation keeps at most 16 canonical order pairs.
    step = max(1, rows // (1 if not nld.is_conv and canonical else 16 if canonical else 36))
    for lo in range(0, combos, step):
        yield _build_space(loopcnt, nld.is_conv, canonical, per_loop, lo,
                           min(combos, lo + step))


def _frozen(space: SchemeSpace) -> SchemeSpace:
    for array in (space.factors, space.positions, space.rank):
        array.flags.writeable = False
    return space


def _space_bytes(space: SchemeSpace) -> int:
    return space.factors.nbytes + space.positions.nbytes + space.rank.nbytes


def _counts_bytes(counts: SpaceCounts) -> int:
    return counts.nbytes


# Split as a scheme's bytes are: 128 in the space, 104 in its counts.
_SPACES = ByteLRU(CACHE_BYTES // 232 * 128, _space_bytes)
_COUNTS = ByteLRU(CACHE_BYTES // 232 * 104, _counts_bytes)


def _build_space(loopcnt: tuple[int, int, int], is_conv: bool, canonical: bool,
                 per_loop: list[np.ndarray] | None = None, lo: int = 0, hi: int | None = None
                 ) -> SchemeSpace:
    """The schemes of the factorisation combinations ``lo:hi`` (I slowest, B fastest:
    nn_dataflow's order), sorted by rank; all of them by default."""
    if per_loop is None:
        per_loop = [factorizations(n) for n in loopcnt]
    sizes = [len(t) for t in per_loop]
    hi = sizes[0] * sizes[1] * sizes[2] if hi is None else hi
    base = np.arange(lo, hi, dtype=np.int64)
    idx = np.unravel_index(base, sizes)
    n = len(base)
    if not canonical or not is_conv:
        factors = np.stack([per_loop[lp][idx[lp]] for lp in range(3)], axis=2)  # (N, lv, lp)
    if not canonical:
        pos = np.asarray([[p0, p1] for p0 in _PERMS for p1 in _PERMS], dtype=np.int64)
        rank = base[:, None] * 36 + np.arange(36)[None, :]
        return SchemeSpace(np.repeat(factors, 36, axis=0), np.tile(pos, (n, 1, 1)),
                           rank.reshape(-1))
    if not is_conv:
        pos = np.tile(np.asarray([[0, 1, 2], [0, 1, 2]], dtype=np.int64), (n, 1, 1))
        return SchemeSpace(factors, pos, base * 36)

    # Every combination's kept order pairs follow from its pattern of non-trivial factors:
    # look them up (each pattern's pairs are sorted by rank already).
    pattern = sum(_loop_patterns(per_loop[lp])[idx[lp]] << (3 * lp) for lp in range(3))
    starts, counts, order_rank, positions = _pattern_table()
    count = counts[pattern]
    rows = np.repeat(np.arange(n), count)
    first = np.cumsum(count) - count
    entry = starts[pattern][rows] + (np.arange(len(rows)) - first[rows])
    factors = np.stack([per_loop[lp][idx[lp][rows]] for lp in range(3)], axis=2)
    return SchemeSpace(factors, positions[entry], base[rows] * 36 + order_rank[entry])


def _loop_patterns(triples: np.ndarray) -> np.ndarray:
    """Bit k set where a triple's level-k factor is non-trivial."""
    return ((triples > 1) * np.asarray([1, 2, 4])).sum(axis=1)


@lru_cache(maxsize=1)
def _pattern_table() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The canonical order pairs kept for each pattern of non-trivial factors (pattern:
    loop l's three level bits at bits 3l..3l+2), by ``_kept_orders``: (first entry of
    each pattern, entries per pattern, the entries' order rank o0 * 6 + o1, positions
    (entry, 2, 3)); each pattern's entries in rank order."""
    patterns = np.arange(512)
    nt = ((patterns[:, None, None] >> (3 * np.arange(3)[None, None, :]
                                       + np.arange(3)[None, :, None])) & 1).astype(bool)
    rows, lam0, lam1 = _kept_orders(nt)
    weights = np.asarray([1, 2, 4])
    pos0 = _CANONICAL[lam0, nt[rows, 0] @ weights]
    pos1 = _CANONICAL[lam1, nt[rows, 1] @ weights]
    o0 = _PERM_INDEX[pos0[:, 0] * 9 + pos0[:, 1] * 3 + pos0[:, 2]]
    o1 = _PERM_INDEX[pos1[:, 0] * 9 + pos1[:, 1] * 3 + pos1[:, 2]]
    rank = o0 * 6 + o1
    order = np.lexsort((rank, rows))
    counts = np.bincount(rows, minlength=512)
    starts = np.cumsum(counts) - counts
    table = (starts, counts, rank[order], np.stack([pos0, pos1], axis=1)[order])
    for array in table:
        array.flags.writeable = False
    return table


def _kept_orders(nt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, lam0, lam1) of every canonical order pair kept for factor patterns ``nt``
    (N, level, loop) bool: lam0, lam1 are the innermost non-trivial loop of levels 0 and 1
    (3 = none: all trivial)."""
    n = len(nt)
    none = np.zeros((n, 1), dtype=bool)
    ok0 = np.concatenate([nt[:, 0], ~nt[:, 0].any(axis=1, keepdims=True)], axis=1)
    ok1 = np.concatenate([nt[:, 1], ~nt[:, 1].any(axis=1, keepdims=True)], axis=1)
    keep = ok0[:, :, None] & ok1[:, None, :]           # (N, lam0, lam1)
    # Dominated: the innermost loop of the nearest outer level with one is non-trivial
    # here without being innermost (level 1), or non-trivial at all (level 2).
    lam = np.arange(4)
    level1 = np.concatenate([nt[:, 1], none], axis=1)
    keep &= ~(level1[:, :, None] & (lam[:, None] != lam[None, :]))
    prev = np.where(lam[None, :] != 3, lam[None, :], lam[:, None])   # (lam0, lam1)
    keep &= ~np.concatenate([nt[:, 2], none], axis=1)[:, prev]
    return np.nonzero(keep)


def _kept_per_pattern() -> np.ndarray:
    """Kept order pairs [pattern of I, of O, of B] (bit k of a loop's pattern: its level-k
    factor is non-trivial), from the table the spaces are built with."""
    return _pattern_table()[1].reshape(8, 8, 8).transpose(2, 1, 0)


@lru_cache(maxsize=4096)
def _pattern_counts(n: int) -> tuple[int, ...]:
    """How many factorisations of n have each pattern of non-trivial levels."""
    counts = [0] * 8
    for triple in factor_triples(n):
        counts[sum(1 << k for k, f in enumerate(triple) if f > 1)] += 1
    return tuple(counts)


def _canonical_table() -> np.ndarray:
    """``canonical_positions`` of one level for every innermost loop lam (3: none) and set of
    non-trivial loops (bit i: loop i), as a lookup table [lam, pattern, loop]."""
    table = np.zeros((4, 8, 3), dtype=np.int64)
    for lam, pattern in itertools.product(range(4), range(8)):
        nontrivial = [bool((pattern >> lp) & 1) for lp in range(3)]
        table[lam, pattern] = canonical_positions(nontrivial, NONE if lam == 3 else lam)
    return table


_CANONICAL = _canonical_table()


@dataclass(frozen=True)
class RankedScheme:
    """One scheme of the search, with its score."""

    schedule: LayerSchedule
    result: LayerResult
    rank: int


@dataclass(frozen=True)
class ExhaustiveResult:
    """The best schemes of a layer (best first), and what the search covered."""

    top: tuple[RankedScheme, ...]
    schemes: int              # scored
    valid: int
    seconds: float
    min_energy: float         # the least energy and time of any valid scheme (for bounds)
    min_time: float

    @property
    def best(self) -> RankedScheme | None:
        return self.top[0] if self.top else None


@dataclass(frozen=True)
class ScoredChunk:
    """Scores of a slice ``lo:lo + len(stats)`` of one candidate's space; ``ok`` marks the
    rows that fit and keep the residency pins (indices into the slice)."""

    index: int
    space: SchemeSpace
    lo: int
    stats: BlockingStats
    ok: np.ndarray

    def rank(self) -> np.ndarray:
        """Enumeration ranks of the ``ok`` rows, unique across candidates."""
        return self.index * (1 << 40) + self.space.rank[self.lo:self.lo + len(self.stats.energy)][
            self.ok]


def _piece_counts(nld: NestedLoopDesc, canonical: bool, space: SchemeSpace) -> SpaceCounts:
    """Fetch counts, loop products and buffered units of a piece: they depend on the
    schemes and data loops only, so those of a whole (cached) space are cached with it."""
    if space.factors.flags.writeable:                  # a piece of a large space
        return space_counts(space.factors, space.positions, nld.data_loops)

    def build() -> SpaceCounts:
        counts = space_counts(space.factors, space.positions, nld.data_loops)
        for array in (counts.fetch, counts.lcnt, counts.cnt_gbuf, counts.cnt_regf):
            array.flags.writeable = False
        return counts

    return _COUNTS.get((tuple(nld.loopcnt), nld.is_conv, canonical, nld.data_loops), build)


def search_size(problem: LayerProblem, pins: Pins, canonical: bool = True) -> int:
    """Schemes the search of ``problem`` under ``pins`` enumerates (before the pins' other
    cuts), counted without building them."""
    return sum(space_size(tuple(nld.loopcnt), nld.is_conv, canonical)
               for index, nld in enumerate(problem.mapping.candidates)
               if pins.mapping is None or pins.mapping == index)


def check_budget(problem: LayerProblem, pins: Pins, canonical: bool = True) -> int:
    """The search size; raises SpaceTooLarge past MAX_SCHEMES, before anything is built."""
    size = search_size(problem, pins, canonical)
    if size > MAX_SCHEMES:
        raise SpaceTooLarge(f"score {size:.3g} blocking schemes", f"{MAX_SCHEMES:.3g}")
    return size


def pinned_spaces(problem: LayerProblem, pins: Pins, canonical: bool = True
                  ) -> Iterator[tuple[int, SchemeSpace, np.ndarray]]:
    """(candidate index, piece of its scheme space, the piece's SpaceCounts) of every
    candidate, in enumeration order, cut to the schemes that keep the mapping, factor and
    order pins."""
    for index, nld in enumerate(problem.mapping.candidates):
        if pins.mapping is not None and pins.mapping != index:
            continue
        for space in space_pieces(nld, canonical):
            counts = _piece_counts(nld, canonical, space)
            if not pins.empty:
                # Orders do not matter for local-region layers: innermost pins do not apply.
                applied = replace(pins, top=None)
                if not nld.is_conv:
                    applied = replace(applied, innermost={})
                keep = applied.scheme_mask(space.factors, space.positions)
                if pins.top is not None and not pins.top.free:
                    ok, positions, rank = top_filter(space.factors, space.positions,
                                                     space.rank, pins.top, nld.is_conv)
                    keep &= ok
                    space = SchemeSpace(space.factors, positions, rank)
                space = SchemeSpace(space.factors[keep], space.positions[keep],
                                    space.rank[keep])
                counts = counts.rows(keep)
            yield index, space, counts


def top_filter(factors: np.ndarray, positions: np.ndarray, rank: np.ndarray, top,
               is_conv: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keep mask, positions, ranks) of schemes under a pipeline's top-loop demand.

    A CONV scheme keeps its canonical order, as in nn_dataflow. A local-region scheme's
    orders cost nothing, so its level-0 order becomes the first one (in nn_dataflow's
    enumeration) that keeps the demand: the scheme nn_dataflow would pick among equals.
    """
    if is_conv:
        return top.mask(factors, positions), positions, rank
    positions = np.array(positions)
    rank = np.array(rank)
    todo = np.ones(len(rank), dtype=bool)
    for i, perm in enumerate(_PERMS):
        trial = np.array(positions)
        trial[:, 0, :] = perm
        hit = todo & top.mask(factors, trial)
        positions[hit, 0, :] = perm
        rank[hit] += i * 6
        todo &= ~hit
    return ~todo, positions, rank


def scored_chunks(problem: LayerProblem, pins: Pins, canonical: bool = True,
                  sharing_noc: bool = True) -> Iterator[ScoredChunk]:
    """Every scheme the pins allow, scored by the evaluator in chunks. Raises SpaceTooLarge
    (before building anything) when the layer has more than MAX_SCHEMES schemes."""
    check_budget(problem, pins, canonical)
    for index, space, counts in pinned_spaces(problem, pins, canonical):
        nld = problem.mapping.candidates[index]
        for lo in range(0, len(space), _CHUNK):
            hi = min(lo + _CHUNK, len(space))
            stats = evaluate_blocking(nld, space.factors[lo:hi], space.positions[lo:hi],
                                      problem.env, sharing_noc=sharing_noc,
                                      counts=counts.rows(slice(lo, hi)))
            fits = stats.valid
            for d, kept in pins.resident.items():
                fits = fits & (stats.stored[:, d] == kept)
            yield ScoredChunk(index, space, lo, stats, np.flatnonzero(fits))


def search_layer(problem: LayerProblem, goal: str = "energy", top_k: int = 1,
                 canonical: bool = True, pins: Pins | None = None) -> ExhaustiveResult:
    """Score every scheme of every row-stationary candidate; return the best ``top_k``.

    ``pins`` restricts the space to the schemes that keep them. Raises SpaceTooLarge when
    the layer has more than MAX_SCHEMES schemes.
    """
    start = _time.perf_counter()
    pins = pins or Pins()
    keep_e, keep_t, keep_r, keep_ref = [], [], [], []
    scored = valid = 0
    min_energy = min_time = float("inf")
    for chunk in scored_chunks(problem, pins, canonical):
        stats, ok = chunk.stats, chunk.ok
        scored += len(stats.energy)
        valid += len(ok)
        if not len(ok):
            continue
        min_energy = min(min_energy, float(stats.energy[ok].min()))
        min_time = min(min_time, float(stats.time[ok].min()))
        rank = chunk.rank()
        best = rank_order(stats.energy[ok], stats.time[ok], rank, goal)[:top_k]
        keep_e.append(stats.energy[ok][best])
        keep_t.append(stats.time[ok][best])
        keep_r.append(rank[best])
        rows = chunk.lo + ok[best]
        keep_ref.extend((chunk.index, chunk.space.factors[r].copy(),
                         chunk.space.positions[r].copy(), int(chunk.space.rank[r]))
                        for r in rows)
    top: list[RankedScheme] = []
    if keep_ref:
        order = rank_order(np.concatenate(keep_e), np.concatenate(keep_t),
                           np.concatenate(keep_r), goal)[:top_k]
        for i in order:
            top.append(_ranked(problem, *keep_ref[i]))
    return ExhaustiveResult(tuple(top), scored, valid, _time.perf_counter() - start,
                            min_energy, min_time)


def _ranked(problem: LayerProblem, index: int, factors: np.ndarray, positions: np.ndarray,
            rank: int) -> RankedScheme:
    nld = problem.mapping.candidates[index]
    stats: BlockingStats = evaluate_blocking(nld, factors[None], positions[None], problem.env)
    blocking = Blocking.from_positions(factors.tolist(), positions.tolist())
    return RankedScheme(LayerSchedule(index, blocking), stats_row(stats, 0, nld, problem.env.costs),
                        rank)
