"""Exact loop blocking with bypass: one layer on one node region.

``build_cpsat(problem)`` and ``build_milp(problem)`` return a formulation: the underlying
model (``model``: an ortools ``CpModel`` or a ``pulp.LpProblem``), named handles to its decision
variables (``vars``) and ``solve(time_limit=..., workers=...)``. A researcher can add
constraints to ``model`` (using ``vars``) before solving. Both models encode the evaluator's cost
model exactly, over exactly the exhaustive search's space (all row-stationary candidates, every
split of the three loops over the three levels, the innermost loop of levels 0 and 1, and the
residency that bypass permissions imply); ``solve`` returns the schedule the exhaustive search
would return, with the evaluator's score as its objective, a proven bound, and a status.

Decisions (both models): which candidate; for each loop its split (t0, t1, t2) over the
levels DRAM / global buffer / register file; for levels 0 and 1 the innermost non-trivial loop
λ (only it matters for reuse). Each data category d re-fetches with its one unrelated loop u:

    F0(d) = 1 if λ0 = u else t0(u)                                  (DRAM -> global buffer)
    F1(d) = F0(d) if d's own loops are trivial at level 1,
            t0(u) if λ1 = u, else t0(u)·t1(u)                          (buffer -> registers)
    (ofmaps: 2f - 1);   s_d = [F0 < F1] when d may bypass, else 1   (kept in the buffer)
    Σ_d usize_regf[d]·t2(a)·t2(b) ≤ regf words;  Σ_d usize_gbuf[d]·s_d·P(a)·P(b) ≤ gbuf words
        with a, b the loops of d and P = t1·t2;  nn_dataflow's pruning of dominated schemes.
"""

from __future__ import annotations

from ..model.evaluate import LayerProblem
from ..model.pins import Pins
from .blocking_model import LoopBlockingFormulation

__all__ = ["LoopBlockingFormulation", "build_cpsat", "build_milp"]


def build_cpsat(problem: LayerProblem, goal: str = "energy", pins: Pins | None = None):
    """The exact loop-blocking model of one layer for CP-SAT (OR-Tools)."""
    # Imported here: a solve loads only the engine it uses (start-up time).
    from .backend import CpSatBackend
    from .loop_blocking_cpsat import CpSatLoopBlocking

    return CpSatLoopBlocking(problem, CpSatBackend("loop_blocking"), goal, pins)


def build_milp(problem: LayerProblem, goal: str = "energy", pins: Pins | None = None,
               solver: str = "highs"):
    """The exact loop-blocking model of one layer as a MILP, for HiGHS (default: solved
    through highspy, order mode by order mode) or CBC (through PuLP)."""
    from .backend import PulpBackend
    from .loop_blocking_milp import MilpLoopBlocking

    if solver == "highs":
        from .highs_parts import HighsPartsBackend

        backend = HighsPartsBackend("loop_blocking")
    else:
        backend = PulpBackend(solver, "loop_blocking")
    return MilpLoopBlocking(problem, backend, goal, pins)
