"""The MILP solved by HiGHS directly (highspy), split over a one-hot group of the model.

A formulation may name a *partition*: 0-1 variables of which every solution sets exactly one
(the loop-blocking MILP's order modes). The solve then branches on that group first, by
hand: it solves the LP relaxation with each part fixed to 1, keeps the parts whose LP
solution is integral as solutions (checked exactly, in integers), and runs HiGHS' MIP only
on the parts whose LP bound could still beat the best solution. Fixing a part makes the
loop-blocking relaxation tight (measured: the LP optimum of each order mode is integral on
the benchmark layers), where the whole model's relaxation is as weak as if the buffers had no
capacity, so this proves the same optimum with a few dozen warm-started LPs instead of a
root cut loop of seconds (benchmarks/milp.py).

The HiGHS model is built from the PuLP model (``form.model``, still the native model)
once, with numpy arrays; later solves pass only what changed (new rows, withdrawn temporary
rows, the objective), so the simplex warm-starts from the previous basis. Constraints a user
adds to ``form.model`` are picked up on the next solve; changes to existing ones are not.

Soundness: a part is skipped only when its LP bound exceeds the best solution by more than
a relative 1e-6 (far above simplex error), or its LP is infeasible; every solution returned
is rounded and checked against every row in exact integer arithmetic (float64 is exact on
these integer rows below 2^53), and its objective is computed in integers. Presolve stays
off (HiGHS' presolve bugs, see PulpBackend.solve).
"""

from __future__ import annotations

import math
import time as _time
from typing import Any

import numpy as np

from .backend import (
    FEASIBLE,
    INFEASIBLE,
    OPTIMAL,
    UNKNOWN,
    Outcome,
    PulpBackend,
)

#: Live parts above which the whole LP and the groups' LPs are tried first.
GROUPING_FROM = 8
#: Relative slack by which a part's LP bound must exceed the best solution to be skipped.
PRUNE_SLACK = 1e-6
#: Largest distance from an integer of an LP value taken as that integer.
INTEGRAL_TOL = 1e-9
#: The same for HiGHS' MIP solutions (its integrality tolerance is 1e-6); the rounded point
#: is checked against every row in any case.
MIP_INTEGRAL_TOL = 1e-5


def settle_slack(value: float) -> float:
    """How far an integral LP optimum's exact value may lie above the LP bound for it to be
    taken as its part's optimum: objective values are integers here, so any better solution
    is at least 1 below; the relative term is the simplex's own accuracy."""
    return max(0.5, 1e-9 * abs(value))


def _terms_key(items) -> bytes:
    """A key for a linear expression: its (column, coefficient) pairs, sorted."""
    pairs = sorted((int(i), float(a)) for i, a in items if a)
    return np.asarray(pairs, dtype=float).tobytes()


class _Numerical(Exception):
    """HiGHS returned a solution that breaks the model once rounded."""


class HighsPartsBackend(PulpBackend):
    """A PuLP model solved by HiGHS through highspy, split over ``partition`` when set."""

    def __init__(self, name: str = "nnsolve") -> None:
        super().__init__("highs", name)
        import highspy

        self._hs = highspy
        #: (part's variable id, ids of the variables its rows force to 0 when it is 1)
        self.partition: list[tuple[int, np.ndarray]] = []
        self._zero_while: dict[str, np.ndarray] = {}   # temporary row -> ids it forces to 0
        #: What earlier solves proved, per part: (objective key or None for infeasible,
        #: the temporary rows then active, least value of the objective's terms). Rows are
        #: only ever added or withdrawn, so a fact holds while its rows are all active.
        self._facts: dict[Any, list[tuple]] = {}
        self._row_key: dict[str, bytes] = {}   # temporary row Σ terms <= U -> key of terms
        self._highs = None
        self._rows: dict[str, int] = {}          # PuLP constraint name -> HiGHS row
        self._withdrawn: list[str] = []
        self._cols: list = []                    # PuLP variables in HiGHS column order
        self._integer = np.zeros(0, dtype=bool)
        # Rows in CSR for the exact check: indptr, indices, data, lower, upper, integral
        self._csr: list[Any] = [[0], [], [], [], [], []]
        self._freed = 0

    def withdraw(self, handle: str) -> None:
        super().withdraw(handle)
        self._withdrawn.append(handle)
        self._zero_while.pop(handle, None)

    def imply_zero(self, handle: str, ids: np.ndarray) -> None:
        """Tell the solve that the temporary row ``handle`` forces these variables to 0
        (they get upper bound 0 while it holds: the same model, a smaller LP)."""
        self._zero_while[handle] = np.asarray(ids, dtype=np.int64)

    # -- building the HiGHS model --------------------------------------------------------

    def _sync(self) -> None:
        """Bring the HiGHS model up to date with the PuLP model."""
        hs = self._hs
        # PuLP's own list of the model's variables (variables() re-collects them from every
        # row: a third of a second per solve on fc2); ours come first, in order.
        known = getattr(self.model, "_variables", None)
        if known is None or len(known) != len(self._cols) or self._highs is None:
            found = self.model.variables() if known is None else known
            variables = self._vars + [v for v in found if id(v) not in self._ids]
            if self._highs is None or len(variables) != len(self._cols):
                self._build(variables)
        h = self._highs
        col = {id(v): i for i, v in enumerate(self._cols)}
        new = [(name, c) for name, c in self._constraints().items() if name not in self._rows]
        if new:
            starts, index, value, lower, upper = [], [], [], [], []
            for name, c in new:
                self._rows[name] = len(self._rows)
                starts.append(len(index))
                items = [(col[id(v)], float(a)) for v, a in c.items() if a != 0]
                index += [i for i, _ in items]
                value += [a for _, a in items]
                lo, hi = c.getLb(), c.getUb()
                if name in self._temporary and lo is None and hi is not None:
                    self._row_key[name] = _terms_key(items)
                lower.append(-hs.kHighsInf if lo is None else float(lo))
                upper.append(hs.kHighsInf if hi is None else float(hi))
                self._add_check_row(items, lo, hi)
            h.addRows(len(new), np.asarray(lower), np.asarray(upper), len(index),
                      np.asarray(starts, dtype=np.int32), np.asarray(index, dtype=np.int32),
                      np.asarray(value, dtype=float))
        for name in self._withdrawn:
            if name in self._rows:
                r = self._rows[name]
                h.changeRowBounds(r, -hs.kHighsInf, hs.kHighsInf)
                self._csr[3][r], self._csr[4][r] = None, None
                self._freed += 1
        self._withdrawn.clear()
        obj = self.model.objective
        cost = np.zeros(len(self._cols))
        for v, a in (obj.items() if obj is not None else ()):
            cost[col[id(v)]] = float(a)
        h.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), cost)
        nz = np.flatnonzero(cost)
        self._obj_key = _terms_key(zip(nz.tolist(), cost[nz].tolist(), strict=True))
        self._obj_const = float(obj.constant or 0) if obj is not None else 0.0
        # A power of two (exact) that brings the largest cost near 2^10: costs near 1e10
        # slow the simplex down by an order of magnitude (fc2: 16834 iterations for 647).
        top = float(np.abs(cost).max()) if len(cost) else 0.0
        self._objective_scale = int(np.clip(10 - math.ceil(math.log2(top)), -50, 0)) \
            if top > 0 else 0

    def _constraints(self) -> dict:
        """The PuLP model's constraints by name (its mapping view is deprecated in 3.x)."""
        found = getattr(self.model, "_constraints", None)
        return found if isinstance(found, dict) else dict(self.model.constraints)

    def _build(self, variables: list) -> None:
        hs = self._hs
        h = hs.Highs()
        h.setOptionValue("output_flag", False)
        self._cols = list(variables)
        n = len(self._cols)
        lower = np.asarray([-hs.kHighsInf if v.lowBound is None else float(v.lowBound)
                            for v in self._cols])
        upper = np.asarray([hs.kHighsInf if v.upBound is None else float(v.upBound)
                            for v in self._cols])
        h.addVars(n, lower, upper)
        self._integer = np.asarray([v.cat == self._pulp.LpInteger for v in self._cols])
        self._bounds = (lower, upper)
        self._highs = h
        self._rows = {}
        self._withdrawn = []
        self._facts = {}
        self._row_key = {}
        self._csr = [[0], [], [], [], [], []]
        self._freed = 0

    def _add_check_row(self, items, lo, hi) -> None:
        indptr, indices, data, lower, upper, integral = self._csr
        indices += [i for i, _ in items]
        data += [a for _, a in items]
        indptr.append(len(indices))
        lower.append(lo)
        upper.append(hi)
        integral.append(all(float(a).is_integer() for _, a in items)
                        and all(b is None or float(b).is_integer() for b in (lo, hi)))

    def _fixings(self, parts: dict, group_of: dict) -> tuple[dict, dict]:
        """What each fixing sets, as (column fixed to 1, mask of columns fixed to 0), for
        each part, each group of parts (fixed by zeroing the other parts, Σ parts = 1 doing
        the rest, and the columns every part of the group zeroes) and None (nothing);
        computed once per partition."""
        key = (id(self.partition), len(self._cols))
        if getattr(self, "_fixings_key", None) == key:
            return self._fixings_cache
        n = len(self._cols)

        def mask(ids) -> np.ndarray:
            m = np.zeros(n, dtype=bool)
            m[np.asarray(ids, dtype=np.int64)] = True
            return m

        fixings: dict[Any, tuple] = {None: (None, np.zeros(n, dtype=bool))}
        for part, zero in parts.items():
            if part is not None:
                fixings[part] = (part, mask(zero))
        groups: dict[Any, list] = {}
        for part, label in group_of.items():
            if label is not None:
                groups.setdefault(label, []).append(part)
        if len(groups) > 1:
            for label, members in groups.items():
                zero = np.logical_and.reduce([fixings[m][1] for m in members])
                others = [p for p in parts if p not in members]
                zero[np.asarray(others, dtype=np.int64)] = True
                fixings["group", label] = (None, zero)
        self._fixings_key, self._fixings_cache = key, (fixings, groups)
        return fixings, groups

    def _cutoff_rows(self) -> tuple[float, list[int]]:
        """(least cutoff, rows): the temporary rows  objective terms <= U  (exact.py's
        cut-offs against earlier candidates), as a bound on the objective value."""
        obj = self.model.objective
        if obj is None:
            return math.inf, []
        want = {id(v): a for v, a in obj.items() if a}
        cutoff, rows = math.inf, []
        for name in self._temporary:
            c = self._constraints().get(name)
            r = self._rows.get(name)
            if c is None or r is None or c.sense != self._pulp.LpConstraintLE:
                continue
            if {id(v): a for v, a in c.items() if a} == want:
                cutoff = min(cutoff, float(c.getUb()) + float(obj.constant or 0))
                rows.append(r)
        return cutoff, rows

    def _set_integrality(self, integer: bool) -> None:
        hs = self._hs
        idx = np.flatnonzero(self._integer).astype(np.int32)
        kind = hs.HighsVarType.kInteger if integer else hs.HighsVarType.kContinuous
        if len(idx):
            self._highs.changeColsIntegrality(len(idx), idx, np.asarray([kind] * len(idx)))

    # -- checking solutions ---------------------------------------------------------------

    def _rounded(self, x, tol: float) -> np.ndarray | None:
        """x with its integer columns rounded, or None when one is farther than ``tol``."""
        x = np.asarray(x, dtype=float)
        r = x.copy()
        r[self._integer] = np.round(x[self._integer])
        if np.any(np.abs(x[self._integer] - r[self._integer]) > tol):
            return None
        return r

    def _check_arrays(self):
        """The rows as numpy arrays (row of each entry, column, coefficient; bounds with
        NaN for none; integral rows), rebuilt when rows were added or withdrawn."""
        indptr, indices, data, lo, hi, integral = self._csr
        key = (len(indptr), self._freed)
        if getattr(self, "_arrays_key", None) != key:
            counts = np.diff(np.asarray(indptr))
            self._arrays = (np.repeat(np.arange(len(counts)), counts),
                            np.asarray(indices, dtype=np.int64), np.asarray(data, dtype=float),
                            np.asarray([np.nan if b is None else float(b) for b in lo]),
                            np.asarray([np.nan if b is None else float(b) for b in hi]),
                            np.asarray(integral, dtype=bool))
            self._arrays_key = key
        return self._arrays

    def _feasible(self, x: np.ndarray) -> bool:
        """Whether x keeps every bound and row: exactly on integer rows (float64 sums of
        integers below 2^53 are exact), within 1e-9 relative on others."""
        lower, upper = self._bounds
        if np.any(x < lower) or np.any(x > upper):
            return False
        rows, cols, data, lo, hi, integral = self._check_arrays()
        if not len(lo):
            return True
        act = np.bincount(rows, weights=data * x[cols], minlength=len(lo))
        tol = np.where(integral, 0.0, 1e-9 * (1 + np.abs(act)))
        with np.errstate(invalid="ignore"):
            bad = (act < lo - tol) | (act > hi + tol)
        return not bool(np.any(bad))

    def _objective(self, x: np.ndarray) -> float:
        obj = self.model.objective
        if obj is None:
            return 0.0
        col = {id(v): i for i, v in enumerate(self._cols)}
        total = sum(int(a) * int(x[col[id(v)]]) if float(a).is_integer() and
                    float(x[col[id(v)]]).is_integer() else float(a) * x[col[id(v)]]
                    for v, a in obj.items())
        return float(total + (obj.constant or 0))

    def _values(self, x: np.ndarray) -> dict[int, int]:
        return {self._ids[id(v)]: int(x[i]) for i, v in enumerate(self._cols)
                if id(v) in self._ids}

    # -- solving --------------------------------------------------------------------------

    def _run(self, deadline: float, workers: int, seed: int):
        """Run HiGHS; (status, info, column values) read before the model changes again
        (a bound change resets them), or None past the deadline."""
        h = self._highs
        left = deadline - _time.perf_counter()
        if left <= 0:
            return None
        h.setOptionValue("time_limit", left if math.isfinite(left) else self._hs.kHighsInf)
        h.setOptionValue("presolve", "off")
        h.setOptionValue("threads", workers if workers > 0 else 0)
        h.setOptionValue("random_seed", seed)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", 0.0)
        h.setOptionValue("user_objective_scale", self._objective_scale)
        h.run()
        return h.getModelStatus(), h.getInfo(), np.asarray(h.getSolution().col_value)

    def solve(self, time_limit: float, workers: int, seed: int = 0) -> Outcome:
        """Solve part by part; on numerical trouble (a MIP solution that breaks a row once
        rounded: coefficients near 2^53, e.g. batch 2^20) the whole model through PuLP, as
        before this backend."""
        start = _time.perf_counter()
        try:
            return self._solve_parts(time_limit, workers, seed)
        except _Numerical:
            self._highs.clearSolver()
            left = time_limit - (_time.perf_counter() - start)
            return PulpBackend.solve(self, max(0.0, left), workers, seed)

    def _solve_parts(self, time_limit: float, workers: int, seed: int = 0) -> Outcome:
        start = _time.perf_counter()
        deadline = start + time_limit
        self._sync()
        hs, h = self._hs, self._highs
        status_of = hs.HighsModelStatus
        best: tuple[float, np.ndarray] | None = None
        if self._hint:
            x = np.zeros(len(self._cols))
            for i, v in enumerate(self._cols):
                x[i] = self._hint.get(self._ids.get(id(v), -1), 0)
            if self._feasible(x):
                best = (self._objective(x), x)
        cutoff, relaxed = self._cutoff_rows()
        parts = {entry[0]: entry[1] for entry in self.partition} or \
            {None: np.zeros(0, np.int64)}
        group_of = {entry[0]: (entry[2] if len(entry) > 2 else None)
                    for entry in self.partition}
        lower, upper = self._bounds
        base = upper.copy()
        for zero in self._zero_while.values():
            base[zero] = np.minimum(base[zero], 0.0)
        all_cols = np.arange(len(base), dtype=np.int32)
        h.changeColsBounds(len(base), all_cols, lower, base)
        key = np.flatnonzero(base != upper).tobytes()
        if key != getattr(self, "_base_key", None):
            # Another candidate: the last basis is far off (and has left the simplex in
            # status unknown on the benchmark's conv4); start afresh.
            h.clearSolver()
            self._base_key = key
        open_bounds: dict[Any, float] = {}      # part -> LP bound, still to be settled
        complete = True

        fixings, groups = self._fixings(parts, group_of)
        fixed = [None, fixings[None][1]]      # the fixing now: its 1 column, its zero mask

        def fix(key) -> None:
            """Apply fixing ``key`` (a part, ("group", label), or None: nothing), changing
            only the columns that differ from the fixing before."""
            old, old_zero = fixed
            one, zero = fixings[key]
            if old is not None:
                h.changeColBounds(old, lower[old], base[old])
            release = np.flatnonzero(old_zero & ~zero).astype(np.int32)
            if len(release):
                h.changeColsBounds(len(release), release, lower[release], base[release])
            clamp = np.flatnonzero(zero & ~old_zero).astype(np.int32)
            if len(clamp):
                h.changeColsBounds(len(clamp), clamp, lower[clamp],
                                   np.minimum(base[clamp], 0.0))
            if one is not None:
                h.changeColBounds(one, 1.0, base[one])
            fixed[:] = [one, zero]

        def lp_bound(key) -> float | None:
            """The LP bound under a fixing (None: infeasible; -inf: not known)."""
            fix(key)
            ran = self._run(deadline, workers, seed)
            if ran is None or ran[0] not in (status_of.kOptimal, status_of.kInfeasible):
                return -math.inf
            return None if ran[0] == status_of.kInfeasible else \
                ran[1].objective_function_value

        def better(value: float) -> bool:
            return best is None or value < best[0]

        def nonlocal_best(found) -> None:
            nonlocal best
            best = found

        active = frozenset(self._temporary)
        relaxed_names = frozenset(n for n, r in self._rows.items() if r in relaxed)
        limits: dict[bytes, float] = {}
        for name in active:
            k = self._row_key.get(name)
            if k is not None:
                ub = self._constraints()[name].getUb()
                limits[k] = min(limits.get(k, math.inf), float(ub))
        const = self._obj_const

        def known(part) -> float | None:
            """None when earlier facts prove the part infeasible now, else the best known
            lower bound on the current objective over it (-inf: none)."""
            bound = -math.inf
            for k, rows, b in self._facts.get(part, ()):
                if not rows <= active:
                    continue
                if k is None:
                    return None
                u = limits.get(k)
                if u is not None and b > u + PRUNE_SLACK * max(1.0, abs(u)):
                    return None
                if k == self._obj_key:
                    bound = max(bound, b + const)
            return bound

        def learn(part, rows, bound: float | None) -> None:
            fact = (None, rows, math.inf) if bound is None else \
                (self._obj_key, rows, bound - const)
            self._facts.setdefault(part, []).append(fact)

        def prunable(bound: float) -> bool:
            limit = min(cutoff, best[0]) if best is not None else cutoff
            return bound > limit + PRUNE_SLACK * max(1.0, abs(limit))

        # The LP relaxation of each part; integral LP optima are that part's optimum. Rows
        # that only bound the objective are left out of the LPs (their bound prunes).
        self._set_integrality(False)
        for r in relaxed:
            h.changeRowBounds(r, -hs.kHighsInf, hs.kHighsInf)
        state = {"complete": True}

        def settle(part) -> None:
            """The LP of one part: its bound, or its optimum when the LP's is integral."""
            fix(part)
            ran = self._run(deadline, workers, seed)
            if ran is not None and ran[0] not in (status_of.kOptimal, status_of.kInfeasible,
                                                  status_of.kTimeLimit):
                h.clearSolver()                 # numerical trouble: once more from scratch
                ran = self._run(deadline, workers, seed)
            status, info, col_value = ran if ran is not None else (None, None, None)
            if status is None or status == status_of.kTimeLimit:
                state["complete"] = False
                open_bounds[part] = -math.inf
                return
            if status == status_of.kInfeasible:
                learn(part, active - relaxed_names, None)
                return
            if status != status_of.kOptimal:
                open_bounds[part] = -math.inf       # settle it with the MIP
                return
            bound = info.objective_function_value
            learn(part, active - relaxed_names, bound)
            if prunable(bound):
                return
            x = self._rounded(col_value, INTEGRAL_TOL)
            value = self._objective(x) if x is not None and self._feasible(x) else None
            if value is not None and better(value):
                nonlocal_best((value, x))
            if value is None or value - bound > settle_slack(value):
                open_bounds[part] = bound       # not settled: the part's MIP decides

        prior = {part: known(part) for part in parts}
        live = [p for p in parts if prior[p] is not None and not prunable(prior[p])]
        rank = {p: -math.inf for p in live}
        done: set = set()
        if len(live) > GROUPING_FROM and len(groups) > 1:
            # The whole LP, then each group's, may settle many parts at once; without a
            # bound to beat yet, the part the whole LP leans to most goes first.
            fix(None)
            ran = self._run(deadline, workers, seed)
            if ran is not None and ran[0] == status_of.kInfeasible:
                for p in live:
                    learn(p, active - relaxed_names, None)
                live = []
            elif ran is not None and ran[0] == status_of.kOptimal:
                for p in live:
                    learn(p, active - relaxed_names, ran[1].objective_function_value)
                if prunable(ran[1].objective_function_value):
                    live = []
                elif best is None:
                    first = max(live, key=lambda p: ran[2][p])
                    settle(first)
                    done.add(first)
            for label, members in groups.items():
                if not any(m in live and m not in done for m in members):
                    continue
                b = lp_bound(("group", label))
                for m in members:
                    if b is None or b > -math.inf:
                        learn(m, active - relaxed_names, b)
                if b is None or prunable(b):
                    live = [p for p in live if p not in members]
                for m in members:
                    rank[m] = b if b is not None else math.inf
        for part in sorted(live, key=lambda p: (rank[p], prior[p])):
            if part in done or prunable(max(prior[part], rank[part])):
                continue
            settle(part)
        complete = state["complete"]
        # HiGHS' MIP on the parts whose bound could still beat the best.
        self._set_integrality(True)
        for r in relaxed:
            lo, hi = self._csr[3][r], self._csr[4][r]
            h.changeRowBounds(r, -hs.kHighsInf if lo is None else lo,
                              hs.kHighsInf if hi is None else hi)
        for part in sorted(open_bounds, key=lambda p: open_bounds[p]):
            if prunable(open_bounds[part]):
                continue
            fix(part)
            ran = self._run(deadline, workers, seed)
            if ran is None:
                complete = False
                continue
            status, info, col_value = ran
            if status == status_of.kInfeasible:
                learn(part, active, None)
                open_bounds[part] = math.inf
                continue
            if info.primal_solution_status == 2:     # kSolutionStatusFeasible
                x = self._rounded(col_value, MIP_INTEGRAL_TOL)
                if x is None or not self._feasible(x):
                    raise _Numerical
                value = self._objective(x)
                if better(value):
                    best = (value, x)
            if status == status_of.kOptimal:
                if info.primal_solution_status == 2:
                    learn(part, active, self._objective(x))
                open_bounds[part] = math.inf
            else:
                complete = False
                bound = info.mip_dual_bound
                open_bounds[part] = bound if math.isfinite(bound) else -math.inf
        fix(None)
        seconds = _time.perf_counter() - start
        unsettled = [b for b in open_bounds.values() if b != math.inf and not prunable(b)]
        if complete and not unsettled:
            if best is None:
                return Outcome(INFEASIBLE, {}, None, None, seconds)
            return Outcome(OPTIMAL, self._values(best[1]), best[0], best[0], seconds)
        bound = min(unsettled) if unsettled else None
        if bound is not None and not math.isfinite(bound):
            bound = None
        if best is None:
            return Outcome(UNKNOWN, {}, None, bound, seconds)
        bound = best[0] if bound is None and not unsettled else \
            (min(bound, best[0]) if bound is not None else None)
        return Outcome(FEASIBLE, self._values(best[1]), best[0], bound, seconds)
