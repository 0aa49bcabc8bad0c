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
"""

from __future__ import annotations

import itertools
import time as _time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..model.evaluate import (
    BlockingStats,
    LayerProblem,
    LayerResult,
    evaluate_blocking,
    fetch_counts,
    stats_row,
)
from ..model.goals import rank_order
from ..model.loop_order import canonical_positions
from ..model.mapping import NestedLoopDesc
from ..model.pins import NONE, Pins
from ..model.schedule import Blocking, LayerSchedule

_PERMS = list(itertools.permutations(range(3)))
_PERM_INDEX = np.full(27, -1, dtype=np.int64)
for _i, _p in enumerate(_PERMS):
    _PERM_INDEX[_p[0] * 9 + _p[1] * 3 + _p[2]] = _i
_CHUNK = 250_000


def factorizations(n: int) -> np.ndarray:
    """Ordered triples (t0, t1, t2) with product n, in nn_dataflow's order: by t0, then t1."""
    divs = [d for d in range(1, n + 1) if n % d == 0]
    rows = [(a, b, n // a // b) for a in divs for b in divs if (n // a) % b == 0]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


@dataclass(frozen=True)
class SchemeSpace:
    """All schemes of one descriptor: factors (K, 3, 3), positions (K, 2, 3), rank (K,)."""

    factors: np.ndarray
    positions: np.ndarray
    rank: np.ndarray

    def __len__(self) -> int:
        return len(self.rank)


def scheme_space(nld: NestedLoopDesc, canonical: bool = True) -> SchemeSpace:
    """The schemes of one descriptor that the search scores.

    ``canonical=False`` gives nn_dataflow's raw space (all 36 order pairs, nothing skipped);
    tests use it to show that the canonical space has the same optimum.
    """
    return _space(tuple(nld.loopcnt), nld.is_conv, canonical)


@lru_cache(maxsize=256)
def _space(loopcnt: tuple[int, int, int], is_conv: bool, canonical: bool) -> SchemeSpace:
    """The space depends only on the loop counts and whether orders matter (read-only)."""
    space = _build_space(loopcnt, is_conv, canonical)
    for array in (space.factors, space.positions, space.rank):
        array.flags.writeable = False
    return space


def _build_space(loopcnt: tuple[int, int, int], is_conv: bool, canonical: bool
                 ) -> SchemeSpace:
    per_loop = [factorizations(n) for n in loopcnt]
    sizes = [len(t) for t in per_loop]
    idx = np.indices(sizes).reshape(3, -1)           # I slowest, B fastest: nn_dataflow's order
    factors = np.stack([per_loop[lp][idx[lp]] for lp in range(3)], axis=2)  # (N, level, loop)
    base = (idx[0] * sizes[1] + idx[1]) * sizes[2] + idx[2]
    n = len(base)
    if not canonical:
        pos = np.asarray([[p0, p1] for p0 in _PERMS for p1 in _PERMS], dtype=np.int64)
        rank = base[:, None] * 36 + np.arange(36)[None, :]
        return SchemeSpace(np.repeat(factors, 36, axis=0), np.tile(pos, (n, 1, 1)),
                           rank.reshape(-1))
    if not is_conv:
        pos = np.tile(np.asarray([[0, 1, 2], [0, 1, 2]], dtype=np.int64), (n, 1, 1))
        return SchemeSpace(factors, pos, base * 36)

    nt = factors > 1                                   # (N, level, loop)
    none = np.zeros((n, 1), dtype=bool)
    # lam0, lam1: the innermost non-trivial loop of levels 0 and 1 (3 = none: all trivial).
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
    rows, lam0, lam1 = np.nonzero(keep)
    weights = np.asarray([1, 2, 4])
    pos0 = _CANONICAL[lam0, nt[rows, 0] @ weights]
    pos1 = _CANONICAL[lam1, nt[rows, 1] @ weights]
    o0 = _PERM_INDEX[pos0[:, 0] * 9 + pos0[:, 1] * 3 + pos0[:, 2]]
    o1 = _PERM_INDEX[pos1[:, 0] * 9 + pos1[:, 1] * 3 + pos1[:, 2]]
    rank = base[rows] * 36 + o0 * 6 + o1
    order = np.argsort(rank, kind="stable")
    return SchemeSpace(factors[rows[order]], np.stack([pos0, pos1], axis=1)[order],
                       rank[order])


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


@lru_cache(maxsize=256)
def _space_fetch(loopcnt: tuple[int, int, int], is_conv: bool, canonical: bool,
                 dims: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """Fetch counts of a whole space: they depend on the schemes and data loops only."""
    space = _space(loopcnt, is_conv, canonical)
    fetch = fetch_counts(space.factors, space.positions, dims)
    fetch.flags.writeable = False
    return fetch


def pinned_spaces(problem: LayerProblem, pins: Pins, canonical: bool = True
                  ) -> Iterator[tuple[int, SchemeSpace, np.ndarray]]:
    """(candidate index, scheme space, its fetch counts) of every candidate, cut to the
    schemes that keep the mapping, factor and order pins."""
    for index, nld in enumerate(problem.mapping.candidates):
        if pins.mapping is not None and pins.mapping != index:
            continue
        space = scheme_space(nld, canonical)
        fetch = _space_fetch(tuple(nld.loopcnt), nld.is_conv, canonical, nld.data_loops)
        if not pins.empty:
            # Orders do not matter for local-region layers: innermost pins do not apply.
            applied = replace(pins, top=None)
            if not nld.is_conv:
                applied = replace(applied, innermost={})
            keep = applied.scheme_mask(space.factors, space.positions)
            if pins.top is not None and not pins.top.free:
                ok, positions, rank = top_filter(space.factors, space.positions, space.rank,
                                                 pins.top, nld.is_conv)
                keep &= ok
                space = SchemeSpace(space.factors, positions, rank)
            space = SchemeSpace(space.factors[keep], space.positions[keep], space.rank[keep])
            fetch = fetch[keep]
        yield index, space, fetch


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
    """Every scheme the pins allow, scored by the evaluator in chunks."""
    for index, space, fetch in pinned_spaces(problem, pins, canonical):
        nld = problem.mapping.candidates[index]
        for lo in range(0, len(space), _CHUNK):
            hi = min(lo + _CHUNK, len(space))
            stats = evaluate_blocking(nld, space.factors[lo:hi], space.positions[lo:hi],
                                      problem.env, sharing_noc=sharing_noc,
                                      fetch=fetch[lo:hi])
            fits = stats.valid
            for d, kept in pins.resident.items():
                fits = fits & (stats.stored[:, d] == kept)
            yield ScoredChunk(index, space, lo, stats, np.flatnonzero(fits))


def search_layer(problem: LayerProblem, goal: str = "energy", top_k: int = 1,
                 canonical: bool = True, pins: Pins | None = None) -> ExhaustiveResult:
    """Score every scheme of every row-stationary candidate; return the best ``top_k``.

    ``pins`` restricts the space to the schemes that keep them.
    """
    start = _time.perf_counter()
    pins = pins or Pins()
    keep_e, keep_t, keep_r, keep_ref = [], [], [], []
    scored = valid = 0
    min_energy = min_time = float("inf")
    spaces: dict[int, SchemeSpace] = {}
    for chunk in scored_chunks(problem, pins, canonical):
        spaces[chunk.index] = chunk.space
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
        keep_ref.extend((chunk.index, chunk.lo + int(ok[b])) for b in best)
    top: list[RankedScheme] = []
    if keep_ref:
        order = rank_order(np.concatenate(keep_e), np.concatenate(keep_t),
                           np.concatenate(keep_r), goal)[:top_k]
        for i in order:
            index, row = keep_ref[i]
            top.append(_ranked(problem, index, spaces[index], row))
    return ExhaustiveResult(tuple(top), scored, valid, _time.perf_counter() - start,
                            min_energy, min_time)


def _ranked(problem: LayerProblem, index: int, space: SchemeSpace, row: int) -> RankedScheme:
    nld = problem.mapping.candidates[index]
    stats: BlockingStats = evaluate_blocking(nld, space.factors[row:row + 1],
                                             space.positions[row:row + 1], problem.env)
    blocking = Blocking.from_positions(space.factors[row].tolist(), space.positions[row].tolist())
    return RankedScheme(LayerSchedule(index, blocking), stats_row(stats, 0, nld, problem.env.costs),
                        int(space.rank[row]))
