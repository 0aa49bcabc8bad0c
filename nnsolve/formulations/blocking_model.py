"""What the CP-SAT and MILP loop-blocking models share: candidates, decision handles, the
linear terms of energy, time and tie-breaking rank, and the certified solve (exact.py)."""

from __future__ import annotations

import math
from typing import Any

from ..model.dims import Data, Loop
from ..model.evaluate import LayerProblem
from ..model.pins import Pins
from ..model.schedule import Blocking
from .blocking_costs import (
    UNRELATED,
    CandidateCosts,
    Scaling,
    candidate_costs,
    fetch_max,
    unrelated,
)
from .exact import solve_exact


class LoopBlockingFormulation:
    """Base of the CP-SAT and MILP models: what the exact solve needs from a model."""

    kind = "abstract"

    def __init__(self, problem: LayerProblem, backend, goal: str = "energy",
                 pins: Pins | None = None):
        self.problem = problem
        self.goal = goal
        self.pins = pins or Pins()
        self.backend = backend
        self.candidates: list[CandidateCosts] = candidate_costs(problem, self.pins)
        self.vars: dict[str, Any] = {}
        self.infeasible_reason = ""
        # Filled by the model: linear terms of the (scaled) energy, time and rank.
        self.energy: list = []
        self.time: list = []
        self.rank: list = []
        self.scaling = Scaling(1.0, True)
        self.energy_error = 0.0      # scaled units
        self.energy_upper = 2 ** 62  # scaled units: no schedule's model energy exceeds it
        self.time_error = 0          # cycles: how far the model's time can be off
        self.chosen: dict[int, Any] = {}
        if not self.candidates:
            mapping = problem.mapping
            self.infeasible_reason = (f"no valid mapping: {mapping.reason}"
                                      if not mapping.candidates else
                                      "no candidate keeps the pins")
            return
        if not self.candidates[0].nld.is_conv:
            env = problem.env
            if any(kept != (not env.bypass[d]) for d, kept in self.pins.resident.items()):
                # Every fetch count is 1: data is kept exactly when it may not bypass.
                self.infeasible_reason = (
                    "a local-region layer fetches everything once, so data is kept in the "
                    "global buffer exactly when it may not bypass it")
                return
        self._build()

    # -- what the models provide ------------------------------------------------------------

    def _build(self) -> None:
        raise NotImplementedError

    def decode(self, values: dict[int, int]) -> tuple[int, Blocking]:
        """(candidate index, blocking) of a solution."""
        raise NotImplementedError

    def key_of(self, values: dict[int, int]) -> tuple:
        """All that a solution's energy and time depend on: candidate, (F0, F1, s) per data."""
        raise NotImplementedError

    def key_terms(self, key: tuple) -> list:
        """Terms that sum to len(key) exactly for the solutions with this key."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------

    @property
    def model(self):
        """The native model: an ortools CpModel (CP-SAT) or a pulp.LpProblem (MILP)."""
        return self.backend.model

    @property
    def time_fixed(self) -> bool:
        """Whether time is each candidate's processing time (unlimited bandwidths)."""
        env = self.problem.env
        return math.isinf(env.dram_bandwidth) and math.isinf(env.array_bus_width)

    @property
    def time_exact(self) -> bool:
        return self.time_error == 0

    @property
    def float_exact(self) -> bool:
        """Whether the scaled model energy equals the evaluator's floats exactly: integer
        coefficients at scale 1, so every float sum of the evaluator is an exact integer."""
        return self.scaling.exact and self.scaling.scale == 1.0 and self.energy_error == 0

    def _time_upper(self) -> int:
        """A safe upper bound on the layer's time, in cycles."""
        env = self.problem.env
        worst = 0
        for c in self.candidates:
            # Each category's fetch counts are at most fetch_max of its unrelated loop.
            free = unrelated(c.nld) if c.nld.is_conv else UNRELATED
            top = [fetch_max(c.nld.loopcnt[free[d]], d == Data.OFM) for d in Data]
            dram = sum(max(c.dram_access[d]) * top[d] for d in Data)
            gbuf = max(c.gbuf_access[d] * top[d] for d in Data)
            t_dram = 0 if math.isinf(env.dram_bandwidth) else dram / env.dram_bandwidth
            t_bus = 0 if math.isinf(env.array_bus_width) else gbuf / env.array_bus_width
            worst = max(worst, c.proc_time, math.ceil(t_dram) + 1, math.ceil(t_bus) + 1)
        return int(worst)

    def _split_rank_terms(self) -> list:
        """The enumeration rank's part from the candidate and the loop splits (linear in the
        candidate and split Booleans); the models add the part from the loop orders."""
        terms = [(c.rank_offset, self.chosen[c.index]) for c in self.candidates if c.rank_offset]
        for c in self.candidates:
            for lp in Loop:
                for tau in c.triples[lp]:
                    w = c.triple_rank[lp][tau] * c.rank_mult[lp]
                    if w:
                        terms.append((w, self.y[c.index, lp, tau]))
        return terms

    def rank_span(self, index: int) -> int | None:
        """At least how much the enumeration rank can vary among candidate ``index``'s
        schedules (its largest split rank per loop plus every order-rank term), or None when
        a rank term is negative (then no such bound is offered)."""
        cand = next(c for c in self.candidates if c.index == index)
        own = {id(self.chosen[c.index]) for c in self.candidates}
        own.update(id(v) for v in self.y.values())
        order = [k for k, v in self.rank if id(v) not in own]
        if any(k < 0 for k in order):
            return None
        splits = sum(max(cand.triple_rank[lp][tau] * cand.rank_mult[lp]
                         for tau in cand.triples[lp]) for lp in Loop)
        return splits + sum(order)

    def exclude_key(self, key: tuple, temporary: bool = True):
        """Forbid every solution with this key; returns the constraint's handle."""
        return self.backend.add(self.key_terms(key), "<=", len(key) - 1, temporary=temporary)

    def require_key(self, key: tuple, temporary: bool = True):
        """Admit only solutions with this key; returns the constraint's handle."""
        return self.backend.add(self.key_terms(key), ">=", len(key), temporary=temporary)

    def fix_candidate(self, index: int):
        """Admit only candidate ``index`` (temporary); returns the constraint's handle."""
        return self.backend.add([(1, self.chosen[index])], "==", 1, temporary=True)

    def solve(self, time_limit: float = math.inf, workers: int = 1, seed: int = 0):
        """Solve exactly: the exhaustive search's schedule, certified (see exact.py)."""
        return solve_exact(self, time_limit=time_limit, workers=workers, seed=seed)
