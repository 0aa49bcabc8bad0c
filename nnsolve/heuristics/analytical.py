"""The analytical bypass solver of TETRIS (Gao et al., ASPLOS'17): closed-form loop blocking.

For each data category r that may stay in the global buffer while the other two bypass it, the
solver picks one blocking in which r resides in the buffer and the others stream from DRAM:

* Opt I chooses the DRAM-level factors of r's two loops (x, y) to minimise DRAM traffic,
  over their divisors, subject to r fitting in the buffer and to a register-file condition;
* Opt II chooses register-file factors that maximise the blocking of the third loop (z).

Its schedules are heuristics for the full cost; nnsolve scores them with the one evaluator and
keeps the best by the goal. This is nn_dataflow 2.1's ``--solve-loopblocking`` (layer spec §7),
except that where nn_dataflow crashes (no feasible DRAM-level factors, or no feasible register
blocking) nnsolve reports that residency as having no feasible scheme.
Local-region layers have no closed form; nn_dataflow falls back to its exhaustive search, and
so does this solver. Depthwise layers (an nnsolve extension) have none either (TETRIS derives
its solver for CONV's data loops): they fall back to the exhaustive search too.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass

import numpy as np

from ..model.dims import CONV_DATA_LOOPS, Data, Loop
from ..model.evaluate import LayerProblem, evaluate_blocking, stats_row
from ..model.goals import rank_order
from ..model.mapping import NestedLoopDesc
from ..model.schedule import Blocking, LayerSchedule
from . import exhaustive
from .exhaustive import RankedScheme

# For each resident category: its loops (x, y), the third loop z, the other two categories
# (yz, xz) and the DRAM-traffic weights of (xy, yz, xz) (2 for ofmaps: read and write).
_RESIDE = {
    Data.FIL: ((Loop.I, Loop.O, Loop.B), (Data.FIL, Data.OFM, Data.IFM), (1.0, 2.0, 1.0)),
    Data.IFM: ((Loop.I, Loop.B, Loop.O), (Data.IFM, Data.OFM, Data.FIL), (1.0, 2.0, 1.0)),
    Data.OFM: ((Loop.O, Loop.B, Loop.I), (Data.OFM, Data.IFM, Data.FIL), (2.0, 1.0, 1.0)),
}


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _largest_divisor_at_most(n: int, bound: float) -> int | None:
    """The largest divisor of n that is <= bound, or None (nn_dataflow's closest_factor)."""
    if bound < 1:
        return None
    best = None
    for d in _divisors(n):
        if d <= bound:
            best = d
    return best


def solve_resident(nld: NestedLoopDesc, regf_words: int, gbuf_words: int, reside: int
                   ) -> tuple[tuple, tuple] | None:
    """The closed-form blocking with ``reside`` kept in the global buffer: nn_dataflow's
    (bl_ts, bl_ords), or None where nn_dataflow would crash (no feasible scheme)."""
    loops, cats, weights = _RESIDE[reside]
    nx, ny, nz = (nld.loopcnt[lp] for lp in loops)
    sg = [nld.usize_gbuf[d] for d in cats]
    sr = [nld.usize_regf[d] for d in cats]

    # Opt I: DRAM-level factors of x and y, by ascending tx0 then ty0; first strict minimum.
    best = None
    for tx0 in _divisors(nx):
        for ty0 in _divisors(ny):
            if (nx // tx0) * (ny // ty0) * sg[0] > gbuf_words:
                continue
            if min(nx // tx0 * (sr[0] + sr[2]) + sr[1],
                   ny // ty0 * (sr[0] + sr[1]) + sr[2]) > regf_words:
                continue
            # The same float sum as nn_dataflow's goal_opt1.
            goal = sum(a * b * c * d for a, b, c, d in zip(
                (nx * ny, ny * nz, nx * nz), sg, weights, (1, tx0, ty0), strict=True))
            if best is None or goal < best[0]:
                best = (goal, tx0, ty0)
    if best is None:
        return None
    _, tx0, ty0 = best

    def opt2(tx2: int, ty2: int) -> float:
        """The largest feasible register-file factor of z (-inf if none)."""
        tz2 = (regf_words - tx2 * ty2 * sr[0]) * 1.0 / (ty2 * sr[1] + tx2 * sr[2])
        if tz2 < 0:
            return -float("inf")
        fit = _largest_divisor_at_most(nz, tz2)
        return fit if fit is not None else -float("inf")

    # Opt II: try keeping all of x and y in the register files, else one of them.
    tx2, ty2 = nx // tx0, ny // ty0
    tz2 = opt2(tx2, ty2)
    if tz2 == -float("inf"):
        candidates = [(1, ny // ty0), (nx // tx0, 1)]
        tx2, ty2 = max(candidates, key=lambda c: opt2(*c))
        tz2 = opt2(tx2, ty2)
        if tz2 == -float("inf"):
            return None
    tz2 = int(tz2)
    tz0 = nz // tz2
    tx1 = nx // tx0 // tx2
    ty1 = ny // ty0 // ty2

    # Orders: z innermost at level 0; at level 1 the non-trivial one of x, y innermost.
    order0 = [0, 0, 0]
    order0[loops[0]], order0[loops[1]], order0[loops[2]] = 2, 1, 0
    order1 = [0, 0, 0]
    order1[loops[0]] = 0 if tx1 > 1 else 1
    order1[loops[1]] = 1 if tx1 > 1 else 0
    order1[loops[2]] = 2
    if tz0 == 1:
        # Merge level 1 into level 0 so that bypassed data really streams.
        tx0, tx1, ty0, ty1 = tx0 * tx1, 1, ty0 * ty1, 1
        order0 = order1
    per_loop = [None, None, None]
    per_loop[loops[0]] = (tx0, tx1, tx2)
    per_loop[loops[1]] = (ty0, ty1, ty2)
    per_loop[loops[2]] = (tz0, 1, tz2)
    bl_ts = tuple(zip(*per_loop, strict=True))
    return bl_ts, (tuple(order0), tuple(order1))


@dataclass(frozen=True)
class AnalyticalResult:
    """The solver's schedules of a layer (best first by the goal), and its run time."""

    top: tuple[RankedScheme, ...]
    seconds: float
    fallback: bool = False          # local-region or depthwise layer: exhaustive search instead

    @property
    def best(self) -> RankedScheme | None:
        return self.top[0] if self.top else None


def search_layer(problem: LayerProblem, goal: str = "energy") -> AnalyticalResult:
    """All closed-form schedules of every candidate, scored and ranked by the goal."""
    start = _time.perf_counter()
    env = problem.env
    candidates = problem.mapping.candidates
    if candidates and candidates[0].data_loops != CONV_DATA_LOOPS:
        found = exhaustive.search_layer(problem, goal)
        return AnalyticalResult(found.top, _time.perf_counter() - start, fallback=True)
    residents = [r for r in Data if all(env.bypass[d] for d in Data if d != r)]
    schemes = []
    for index, nld in enumerate(candidates):
        for reside in residents:
            solved = solve_resident(nld, env.regf_words, env.gbuf_words, reside)
            if solved is not None:
                schemes.append((index, nld, *solved))
    ranked = []
    for order, (index, nld, bl_ts, bl_ords) in enumerate(schemes):
        stats = evaluate_blocking(nld, np.asarray([bl_ts]), np.asarray([bl_ords]), env)
        if stats.valid[0]:
            result = stats_row(stats, 0, nld, env.costs)
            schedule = LayerSchedule(index, Blocking.from_positions(bl_ts, bl_ords))
            ranked.append(RankedScheme(schedule, result, order))
    if ranked:
        keys = rank_order(np.array([r.result.energy for r in ranked]),
                          np.array([r.result.time for r in ranked]),
                          np.array([r.rank for r in ranked]), goal)
        ranked = [ranked[i] for i in keys]
    return AnalyticalResult(tuple(ranked), _time.perf_counter() - start)


def keeps_pins(ranked: RankedScheme, pins) -> bool:
    """Whether a closed-form schedule keeps the pins (mapping, blocking, residency)."""
    if pins.empty:
        return True
    s = ranked.schedule
    if pins.mapping is not None and s.mapping_index != pins.mapping:
        return False
    if not pins.scheme_mask(np.asarray([s.blocking.factors]),
                            np.asarray([s.blocking.positions()]))[0]:
        return False
    return all(ranked.result.gbuf_resident[d] == kept for d, kept in pins.resident.items())
