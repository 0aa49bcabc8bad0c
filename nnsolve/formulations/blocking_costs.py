"""What the loop-blocking models share: candidates and their allowed splits, the evaluator's
cost terms as coefficients of fetch counts, integer scaling, and nn_dataflow's enumeration rank.

For one candidate (nested-loop descriptor) and data category d with top-level fetch count F0,
buffer-level fetch count F1 and residency s (layer spec §5.5), the evaluator's energy is

    const + Σ_d  kI[d]·F1 + kN[d]·F0 + (s ? kG[d]·F1 + kD[d]·F0 : kGD[d]·F0)

where const holds op and register-file energy (and static energy when time is fixed), kI, kG
are interconnect and buffer energy per fetch, kD (kGD) DRAM energy per fetch of data kept in
(streamed past) the buffer, and kN NoC energy per top-level fetch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..model.dims import Data, Level, Loop, unrelated_loops
from ..model.evaluate import LayerProblem
from ..model.factors import factor_triples
from ..model.mapping import NestedLoopDesc
from ..model.pins import Pins

#: The one loop each data category of a CONV/FC layer does not depend on (its re-fetches
#: come from this loop); a depthwise layer's are B, I, I (``unrelated``).
UNRELATED = {Data.FIL: Loop.B, Data.IFM: Loop.O, Data.OFM: Loop.I}


def unrelated(nld: NestedLoopDesc) -> dict[int, int]:
    """The unrelated loop of each data category of a CONV-shaped descriptor."""
    return dict(zip(Data, unrelated_loops(nld.data_loops), strict=True))


def factorizations(n: int) -> list[tuple[int, int, int]]:
    """Ordered triples with product n, in nn_dataflow's enumeration order (by t0, then t1)."""
    return factor_triples(n)


@dataclass
class CandidateCosts:
    """One candidate of the layer: allowed splits, cost coefficients, constants."""

    index: int
    nld: NestedLoopDesc
    triples: list[list[tuple[int, int, int]]]            # allowed splits per loop
    triple_rank: list[dict[tuple[int, int, int], int]]   # position in the full enumeration
    rank_mult: tuple[int, int, int]                      # rank weight of each loop's position
    rank_offset: int                                     # rank of this candidate's first scheme
    const: float                                         # op + regf (+ static if time fixed)
    proc_time: int
    k_itcn: list[float] = field(default_factory=list)
    k_gbuf: list[float] = field(default_factory=list)
    k_dram: list[float] = field(default_factory=list)
    k_dram_streamed: list[float] = field(default_factory=list)
    k_noc: list[float] = field(default_factory=list)
    # DRAM words per top-level fetch (kept, streamed); buffer words per node per fetch.
    dram_access: list[tuple[float, float]] = field(default_factory=list)
    gbuf_access: list[float] = field(default_factory=list)

    def energy(self, d: int, f0: int, f1: int, stored: bool) -> float:
        """Energy of data category d at these fetch counts (without the constant)."""
        e = self.k_itcn[d] * f1 + self.k_noc[d] * f0
        if stored:
            return e + self.k_gbuf[d] * f1 + self.k_dram[d] * f0
        return e + self.k_dram_streamed[d] * f0


def candidate_costs(problem: LayerProblem, pins: Pins) -> list[CandidateCosts]:
    """The candidates that keep the pins, with their cost coefficients."""
    env = problem.env
    costs = env.costs
    n = env.num_nodes
    time_fixed = math.isinf(env.dram_bandwidth) and math.isinf(env.array_bus_width)
    out = []
    offset = 0
    for index, nld in enumerate(problem.mapping.candidates):
        full = [factorizations(x) for x in nld.loopcnt]
        size = len(full[0]) * len(full[1]) * len(full[2]) * 36
        allowed = [[t for t in full[lp] if pins.triple_allowed(lp, t)] for lp in Loop]
        cand_offset = offset
        offset += size
        if pins.mapping is not None and pins.mapping != index:
            continue
        if any(not a for a in allowed):
            continue
        total = [[nld.total_access(m, d) for d in Data] for m in Level]
        lcnt = math.prod(nld.loopcnt)
        ops = nld.unit_ops * lcnt * n
        regf = sum(nld.unit_access[Level.REGF][d] * lcnt * (2 if d == Data.OFM else 1) * n
                   for d in Data)
        proc_time = nld.unit_time * lcnt
        const = costs.mac * ops + costs.regf * regf
        if time_fixed:
            const += costs.idle * proc_time
        c = CandidateCosts(
            index=index, nld=nld, triples=allowed,
            triple_rank=[{t: i for i, t in enumerate(full[lp])} for lp in Loop],
            rank_mult=(len(full[1]) * len(full[2]) * 36, len(full[2]) * 36, 36),
            rank_offset=cand_offset, const=const, proc_time=int(proc_time))
        for d in Data:
            c.k_itcn.append(costs.itcn * total[Level.ITCN][d] * n)
            c.k_gbuf.append(costs.gbuf * total[Level.GBUF][d] * n)
            c.k_dram.append(costs.dram * total[Level.DRAM][d] * n / env.accfwd[d])
            c.k_dram_streamed.append(costs.dram * total[Level.GBUF][d] * n / env.accfwd[d])
            c.k_noc.append(costs.noc_hop * env.unit_nhops[d])
            c.dram_access.append((total[Level.DRAM][d] * n / env.accfwd[d],
                                  total[Level.GBUF][d] * n / env.accfwd[d]))
            c.gbuf_access.append(total[Level.GBUF][d])
        out.append(c)
    return out


def fetch_max(loopcnt: int, ofmap: bool) -> int:
    """The largest fetch count (F0 or F1) a category can have when its unrelated loop runs
    ``loopcnt`` times: F = t0 or t0·t1 <= loopcnt, ofmaps 2f - 1. The scaling and its error
    bound rest on it, so it must be tight: a square here once widened the rounding window
    past the whole energy range at batch 2^20 (and forced scale < 1)."""
    return 2 * loopcnt - 1 if ofmap else loopcnt


@dataclass(frozen=True)
class Scaling:
    """Integer coefficients for float ones: ``scale`` multiplies energies; ``exact`` when every
    scaled coefficient is an integer (so the scaled model equals the true energy)."""

    scale: float
    exact: bool

    def coef(self, value: float) -> int:
        return round(value * self.scale)

    def error(self, value: float) -> float:
        """Rounding error of one coefficient, in scaled units."""
        return abs(value * self.scale - round(value * self.scale))


def choose_scaling(values: list[float], max_total: float) -> Scaling:
    """The least power of ten that makes every value a nonzero integer (within 1e-9
    relative), kept small enough that ``max_total`` (the largest possible scaled objective)
    fits in 2^62. The powers tried start where the smallest value reaches 1: a value below
    1e-9 once passed as the integer 0, so costs in joules (2e-12) all became coefficients 0
    and the model ranked nothing (certifying took the evaluator's brute force, and failed
    for costs of 1e-30)."""
    values = np.asarray([v for v in values if v], dtype=float)
    biggest = float(np.abs(values).max()) if len(values) else 1.0
    smallest = float(np.abs(values).min()) if len(values) else 1.0
    first = max(0, math.ceil(-math.log10(smallest)))
    for k in range(first, first + 16):
        scale = 10.0 ** k
        if max_total * scale > 2 ** 60:
            break
        scaled = values * scale
        rounded = np.round(scaled)
        if np.all((rounded != 0) & (np.abs(scaled - rounded) <= 1e-9 * np.abs(scaled))):
            return Scaling(scale, bool(np.all(scaled == rounded)))
    # No exact power of ten: about 12 significant digits for the largest coefficient.
    scale = min(1e12 / max(biggest, 1e-300), 2 ** 60 / max(max_total, 1.0))
    return Scaling(scale, False)




#: Rank of an order, by innermost loop λ and non-triviality: index of its canonical positions
#: among itertools.permutations(range(3)) = q1 + 2·[λ=O] + 2·q2 + 3·[λ=B] + 2·q3, with
#: q1 = [λ=I ∧ ¬nt_O ∧ nt_B], q2 = [λ=O ∧ ¬nt_I ∧ nt_B], q3 = [λ=B ∧ ¬nt_I ∧ nt_O].
ORDER_RANK_TERMS = ((Loop.I, Loop.O, Loop.B, 1), (Loop.O, Loop.I, Loop.B, 2),
                    (Loop.B, Loop.I, Loop.O, 2))
ORDER_RANK_LAMBDA = {Loop.O: 2, Loop.B: 3}


@dataclass(frozen=True)
class CeilRow:
    """Integer form of  cycles >= Σ coef·var / rate, i.e.  lhs · cycles >= Σ terms.

    ``error`` bounds, in cycles, how far the modelled ceiling can be from the evaluator's
    floating-point one (0 when both are exact integer arithmetic).
    """

    lhs: int
    terms: list
    error: int


#: Relative rounding error of the evaluator's float sum of a few products and one division.
_TIME_FLOAT_SLACK = 1e-14


def ceil_row(float_terms, rate: float, maxima=None, active: int | None = None) -> CeilRow:
    """Model ``ceil(Σ coef·var / rate)`` exactly in rationals where the floats allow.

    ``maxima`` gives each term's largest variable value (default 1: 0-1 variables) and
    ``active`` how many terms can be nonzero at once (default all). The error bound is derived
    from them: the model's rational coefficients r_i and rate ρ differ from the evaluator's
    floats c_i and rate, so the quotients differ by at most
    Δ = Σ |r_i - c_i|·max_i / ρ + A·|1/ρ - 1/rate| + A/rate·ε  (A = Σ |c_i|·max_i, over the
    ``active`` largest terms), and the ceilings by at most floor(Δ) + 1. A fixed "1 cycle"
    was not enough at large sizes: an approximation within 1e-12 of a coefficient of 4e9,
    times a fetch count of 2e6, is off by thousands of words.
    """
    from fractions import Fraction

    if maxima is None:
        maxima = [1] * len(float_terms)
    top = active if active is not None else len(float_terms)
    words = sum(sorted((abs(x) * m for (x, _), m in zip(float_terms, maxima, strict=True)),
                       reverse=True)[:top])
    rate_r = Fraction(rate).limit_denominator(10 ** 6)
    if rate_r == 0 or abs(float(rate_r) - rate) > 1e-12 * abs(rate):
        rate_r = Fraction(max(1, round(rate * 10 ** 6)), 10 ** 6)
    rho = float(rate_r)

    def attempt(limit: int):
        coefs = [Fraction(c).limit_denominator(limit) for c, _ in float_terms]
        coef_err = sorted((abs(float(r) - x) * m for r, (x, _), m in
                           zip(coefs, float_terms, maxima, strict=True)), reverse=True)[:top]
        delta = (sum(coef_err) / rho + words * abs(1 / rho - 1 / rate)
                 + words / rate * _TIME_FLOAT_SLACK) * (1 + 1e-9)
        return coefs, delta

    # The smallest denominators that keep the error below a cycle: large ones overflow
    # 64 bits once multiplied by the cycle counts of large layers.
    for limit in (10 ** k for k in range(7)):
        coefs, delta = attempt(limit)
        if delta < 1:
            break
    denom = math.lcm(rate_r.denominator, *(c.denominator for c in coefs)) if coefs else \
        rate_r.denominator
    terms = [(int(c * denom), v) for c, (_, v) in zip(coefs, float_terms, strict=True) if c]
    lhs = int(rate_r * denom)
    # The evaluator computes in floats: exact only for coefficients that are integers bit for
    # bit (13.000000000000002 is not 13: its ceiling is 14) and a rate p/q that is its float
    # exactly, with words·q below 2^53: then the sum is exact and the one rounded division
    # cannot cross an integer (a non-integer quotient is at least 1/p away from one).
    exact = all(c.denominator == 1 and float(c) == x
                for c, (x, _) in zip(coefs, float_terms, strict=True)) and \
        Fraction(rate) == rate_r and words * rate_r.denominator < 2 ** 53
    return CeilRow(lhs, terms, 0 if exact else math.floor(delta) + 1)
