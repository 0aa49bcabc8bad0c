"""A thin backend layer: one way to state 0-1/integer linear models, solved by CP-SAT or by a
MILP solver (HiGHS or CBC through PuLP).

The formulations state their models through this interface so that the CP-SAT and MILP models
are the same model, built by the same code. Each backend keeps its native model (``model``: an
ortools ``CpModel`` or a ``pulp.LpProblem``) for researchers who want to add to it.

A *term list* is a list of ``(coefficient, variable)`` pairs with integer coefficients.
Constraints added with ``temporary=True`` can be withdrawn later (``withdraw``); the exact
solve uses them for its successive stages.
"""

from __future__ import annotations

import math
import time as _time
import warnings
from dataclasses import dataclass
from typing import Any

from ..errors import TooLarge

Terms = list[tuple[int, Any]]

OPTIMAL, FEASIBLE, INFEASIBLE, UNKNOWN = "optimal", "feasible", "infeasible", "unknown"


def cpsat_solver(cp_model_module: Any):
    """A CP-SAT solver that leaves Ctrl-C to Python.

    CP-SAT's own SIGINT catching (on by default) ends the search quietly and then leaves
    SIGINT at the system default, so a later Ctrl-C kills the process without cleanup (seen
    with ortools 9.15). Without it, Ctrl-C reaches Python when the current solve returns
    (each solve is bounded by its time limit).
    """
    solver = cp_model_module.CpSolver()
    solver.parameters.catch_sigint_signal = False
    return solver


class ModelTooLarge(TooLarge):
    """A model the solver cannot represent (integers beyond 64 bits) or cannot certify at
    this size; the message suggests another method."""


#: Largest magnitude of a CP-SAT variable bound (its domains are int64; CP-SAT rejects
#: models whose bounds leave no room for sums of them).
CPSAT_INT_MAX = 2 ** 62


@dataclass
class Outcome:
    """One solve: status, variable values (by backend variable), objective and proven bound."""

    status: str                  # optimal | feasible (limit hit) | infeasible | unknown
    values: dict[int, int]       # variable id -> value (ids from the backend)
    objective: float | None
    bound: float | None
    seconds: float


#: Largest magnitude of a MILP variable bound: the solvers compute in doubles, exact for
#: integers up to 2^53 only.
MILP_INT_MAX = 2 ** 53


class CpSatBackend:
    """Models for OR-Tools CP-SAT."""

    name = "cpsat"
    #: Largest objective value an exact solve may combine two objectives into (exact.py:
    #: energy x (rank span + 1) + rank); well inside CP-SAT's 64-bit integers.
    objective_limit = 2 ** 61

    def __init__(self, name: str = "nnsolve") -> None:
        from ortools.sat.python import cp_model

        self._cp = cp_model
        self.model = cp_model.CpModel()
        self.model.name = name
        self._vars: list[Any] = []
        self._active_guards: dict[int, Any] = {}
        self._hint: dict[int, int] = {}
        self._magnitude: dict[int, int] = {}    # integer variable -> largest |value|
        #: CP-SAT parameters for every solve (the exact solve's models are small: presolve,
        #: probing and the LP relaxation cost more than they save; measured on the zoo
        #: layers of benchmarks/loop_blocking.py: presolve +40%, linearization level 1
        #: +60%, probing level 2 (the default) +10% of CPU time).
        self.parameters: dict[str, Any] = {"cp_model_presolve": False,
                                           "linearization_level": 0,
                                           "cp_model_probing_level": 0}

    def bool_var(self, name: str):
        v = self.model.new_bool_var(name)
        self._vars.append(v)
        return v

    def int_var(self, lo: int, hi: int, name: str):
        if max(abs(int(lo)), abs(int(hi))) > CPSAT_INT_MAX:
            raise ModelTooLarge(f"the CP-SAT model needs an integer variable ({name}) up to "
                                f"{int(hi):.3g}, beyond 64-bit integers, for sizes this large; "
                                "method exhaustive handles them")
        v = self.model.new_int_var(int(lo), int(hi), name)
        self._vars.append(v)
        self._magnitude[v.index] = max(abs(int(lo)), abs(int(hi)))
        return v

    def int_var_in(self, values, name: str):
        """An integer variable taking only ``values`` (a tighter domain than an interval
        propagates better; the values must be within 64 bits)."""
        values = sorted({int(x) for x in values})
        if max(abs(values[0]), abs(values[-1])) > CPSAT_INT_MAX:
            return self.int_var(values[0], values[-1], name)       # refuses clearly
        v = self.model.new_int_var_from_domain(self._cp.Domain.from_values(values), name)
        self._vars.append(v)
        self._magnitude[v.index] = max(abs(values[0]), abs(values[-1]))
        return v

    def magnitude(self, terms: Terms) -> int:
        """The sum of |coefficient| x the largest |value| of its variable over the terms
        (what CP-SAT checks against 64 bits); a term's variable may be a negated Boolean."""
        return sum(abs(int(k)) * self._magnitude.get(getattr(v, "index", -1), 1)
                   for k, v in terms)

    def var_id(self, var) -> int:
        return var.index

    def linear(self, terms: Terms):
        """sum(terms) as a native linear expression (built in one call: fast)."""
        return self._expr(terms)

    def _expr(self, terms: Terms, constant: int = 0):
        if not terms:
            return constant
        coefs = [c for c, _ in terms]
        variables = [v for _, v in terms]
        return self._cp.LinearExpr.weighted_sum(variables, coefs) + constant

    def add(self, terms: Terms, sense: str, rhs: int, temporary: bool = False) -> int | None:
        """Add sum(terms) <sense> rhs, sense one of '<=', '>=', '=='."""
        expr = self._expr(terms)
        ct = self.model.add({"<=": expr <= rhs, ">=": expr >= rhs, "==": expr == rhs}[sense])
        if not temporary:
            return None
        guard = self.model.new_bool_var(f"stage_{len(self._active_guards)}_{ct.index}")
        ct.only_enforce_if(guard)
        self._active_guards[ct.index] = guard
        return ct.index

    def withdraw(self, handle: int) -> None:
        """Release a temporary constraint (its guard becomes free)."""
        self._active_guards.pop(handle, None)

    def exactly_one(self, variables: list) -> None:
        self.model.add_exactly_one(variables)

    def minimize(self, terms: Terms, constant: int = 0) -> None:
        self.model.minimize(self._expr(terms, constant))

    def hint(self, values: dict[int, int]) -> None:
        self._hint = dict(values)

    def solve(self, time_limit: float, workers: int, seed: int = 0) -> Outcome:
        cp = self._cp
        solver = cpsat_solver(cp)
        if math.isfinite(time_limit):
            solver.parameters.max_time_in_seconds = max(0.001, time_limit)
        solver.parameters.num_workers = workers if workers > 0 else 0
        solver.parameters.random_seed = seed
        for key, value in self.parameters.items():
            setattr(solver.parameters, key, value)
        self.model.clear_assumptions()
        self.model.add_assumptions(list(self._active_guards.values()))
        self.model.clear_hints()
        for v in self._vars:
            if v.index in self._hint:
                self.model.add_hint(v, self._hint[v.index])
        start = _time.perf_counter()
        code = solver.solve(self.model)
        seconds = _time.perf_counter() - start
        status = {cp.OPTIMAL: OPTIMAL, cp.FEASIBLE: FEASIBLE, cp.INFEASIBLE: INFEASIBLE}.get(
            code, UNKNOWN)
        if code == cp.MODEL_INVALID:
            # validate() checks the model only: an empty reason means the parameters.
            reason = (self.model.validate().splitlines() or
                      [f"its parameters (num_workers={solver.parameters.num_workers})"])[0]
            if "overflow" in reason:
                raise ModelTooLarge("the CP-SAT model's coefficients overflow 64-bit integers "
                                    "for sizes this large; method exhaustive handles them")
            raise RuntimeError(f"CP-SAT rejected the model: {reason}")
        if status in (OPTIMAL, FEASIBLE):
            values = {v.index: solver.value(v) for v in self._vars}
            has_obj = self.model.has_objective()
            return Outcome(status, values, solver.objective_value if has_obj else None,
                           solver.best_objective_bound if has_obj else None, seconds)
        bound = solver.best_objective_bound if self.model.has_objective() else None
        return Outcome(status, {}, None, bound if status == UNKNOWN else None, seconds)


class PulpBackend:
    """Models for a MILP solver through PuLP: HiGHS (default) or CBC (bundled with PuLP)."""

    def __init__(self, solver: str = "highs", name: str = "nnsolve") -> None:
        import pulp

        if solver not in ("highs", "cbc"):
            raise ValueError(f"MILP solver must be highs or cbc, got {solver!r}")
        self._pulp = pulp
        self.name = f"milp-{solver}"
        self.solver = solver
        self.model = pulp.LpProblem(name, pulp.LpMinimize)
        self._vars: list[Any] = []
        self._ids: dict[int, int] = {}     # id(PuLP variable) -> its index in _vars
        self._temporary: set[str] = set()
        self._count = 0
        self._hint: dict[int, int] = {}

    def _new(self, name: str, lo: int, hi: int, cat: str):
        self._count += 1
        unique = f"{name}__{self._count}"
        add_variable = getattr(self.model, "add_variable", None)   # PuLP >= 3.3
        v = add_variable(unique, lo, hi, cat=cat) if add_variable else \
            self._pulp.LpVariable(unique, lo, hi, cat=cat)
        self._ids[id(v)] = len(self._vars)
        self._vars.append(v)
        return v

    def bool_var(self, name: str):
        return self._new(name, 0, 1, "Binary")

    def int_var(self, lo: int, hi: int, name: str):
        if max(abs(int(lo)), abs(int(hi))) > MILP_INT_MAX:
            raise ModelTooLarge(f"the MILP model needs an integer variable ({name}) up to "
                                f"{int(hi):.3g}, beyond what a double holds exactly, for sizes "
                                "this large; method exhaustive handles them")
        return self._new(name, int(lo), int(hi), "Integer")

    def var_id(self, var) -> int:
        return self._ids[id(var)]

    def add(self, terms: Terms, sense: str, rhs: int, temporary: bool = False) -> str | None:
        pulp = self._pulp
        coefs: dict = {}
        for c, v in terms:
            coefs[v] = coefs.get(v, 0) + c
        # An expression from a dict and the constraint built directly: lpSum and the
        # comparison operators took 0.5 s of a 1.3 s model build (benchmarks/milp.py).
        expr = pulp.LpAffineExpression(coefs)
        self._count += 1
        name = f"c{self._count}"
        self.model.addConstraint(pulp.LpConstraint(
            expr, {"<=": pulp.LpConstraintLE, ">=": pulp.LpConstraintGE,
                   "==": pulp.LpConstraintEQ}[sense], name, rhs), name)
        if temporary:
            self._temporary.add(name)
            return name
        return None

    def withdraw(self, handle: str) -> None:
        """Make a temporary constraint vacuous (0 >= 0): PuLP has no public delete."""
        if handle in self._temporary:
            self._temporary.discard(handle)
            get = getattr(self.model, "get_constraint_by_name", None)
            constraint = get(handle) if get else self.model.constraints[handle]
            constraint.expr = self._pulp.LpAffineExpression()
            constraint.changeRHS(0)

    def exactly_one(self, variables: list) -> None:
        self.add([(1, v) for v in variables], "==", 1)

    def minimize(self, terms: Terms, constant: int = 0) -> None:
        coefs: dict = {}
        for c, v in terms:
            coefs[v] = coefs.get(v, 0) + c
        self.model.setObjective(self._pulp.LpAffineExpression(coefs, constant))

    def hint(self, values: dict[int, int]) -> None:
        self._hint = dict(values)

    def solve(self, time_limit: float, workers: int, seed: int = 0) -> Outcome:
        # HiGHS's presolve is off: on these models (integer coefficients up to ~1e12) it
        # has declared a model infeasible that held a known solution, and returned a
        # tie-breaking rank above the true least one as "optimal" (both found by the
        # cross-check against exhaustive enumeration).
        options = {"presolve": "off"} if self.solver == "highs" else {}
        return self._solve(time_limit, workers, seed, **options)

    def _solve(self, time_limit: float, workers: int, seed: int, **options: Any) -> Outcome:
        pulp = self._pulp
        limit = max(0.001, time_limit) if math.isfinite(time_limit) else None
        if self.solver == "highs":
            solver = pulp.HiGHS(msg=False, timeLimit=limit, threads=workers or None,
                                gapRel=0.0, gapAbs=0.0, random_seed=seed, **options)
        else:
            # The CBC binary bundled with PuLP 3 (deprecated there; PuLP is pinned below 4).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=limit,
                                           threads=workers or None, gapRel=0.0, gapAbs=0.0,
                                           options=[f"randomSeed {seed}"])
        start = _time.perf_counter()
        try:
            self.model.solve(solver)
        except (IndexError, ValueError, OverflowError) as exc:
            # Seen with HiGHS on coefficients near 1e15 (batch ~ 1e6): PuLP cannot read
            # the solution back. Say so instead of a traceback.
            raise ModelTooLarge(f"the MILP solver ({self.solver}) failed on this model "
                                f"({type(exc).__name__}); coefficients this large are beyond "
                                "it; method exhaustive handles them") from None
        seconds = _time.perf_counter() - start
        sol = self.model.sol_status
        if self.model.status == pulp.LpStatusInfeasible or sol == pulp.LpSolutionInfeasible:
            return Outcome(INFEASIBLE, {}, None, None, seconds)
        if sol in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
            values = {}
            for v in self._vars:
                x = v.value()
                if x is None:
                    x = 0.0
                r = round(x)
                if abs(x - r) > 1e-4:
                    raise RuntimeError(f"MILP solver returned a fractional value {x} for {v.name}")
                values[self._ids[id(v)]] = int(r)
            objective = pulp.value(self.model.objective)
            status = OPTIMAL if sol == pulp.LpSolutionOptimal else FEASIBLE
            bound = objective if status == OPTIMAL else self._bound()
            return Outcome(status, values, objective, bound, seconds)
        return Outcome(UNKNOWN, {}, None, self._bound(), seconds)

    def _bound(self) -> float | None:
        """HiGHS's proven dual bound after a limited solve (None for CBC)."""
        highs = getattr(self.model, "solverModel", None)
        if self.solver != "highs" or highs is None:
            return None
        try:
            bound = highs.getInfo().mip_dual_bound
        except Exception:
            return None
        return bound if math.isfinite(bound) else None
