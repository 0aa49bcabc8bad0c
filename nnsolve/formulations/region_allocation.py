"""Exact node allocation to a segment's spatial entries (CP-SAT; network spec §7.5).

nn_dataflow splits a region among the spatial entries of a segment in proportion to their
work and rounds (``segment.allocate_nodes``), rejecting the segment when the rounded split
loses more than 5% utilisation, even when another split keeps it (VGG-16's fc1|fc2|fc3 on
16x16 nodes: [213, 35, 8] is rejected, [212, 35, 9] is fine). This model chooses the split
exactly. Entries take whole strips of height h along the region's zig-zag path, so node
counts are multiples of h (h a divisor of the region height, tried largest first, as the
rounding does); every entry keeps the utilisation floor, which is linear:

    n_e >= ceil((1 - drop) * N * w_e / sum(w))

and the objective is the segment's node balance: the least T with T * n_e >= w_e for every
entry, i.e. the work per node of the slowest entry, which bounds the pipeline's critical
time when layers scale perfectly. The model object (``AllocationModel.model``, an OR-Tools
``CpModel``) can be extended before ``solve``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .backend import cpsat_solver


@dataclass
class AllocationModel:
    """A CP-SAT model of one strip height: node counts ``counts`` (variables) of entries."""

    model: Any
    strip: int
    counts: list[Any]
    balance: Any
    notes: list[str] = field(default_factory=list)

    def solve(self, time_limit: float = 10.0, workers: int = 1) -> tuple[str, list[int] | None,
                                                                         int | None]:
        """(status, node counts, balance) of this strip height."""
        from ortools.sat.python import cp_model

        solver = cpsat_solver(cp_model)
        solver.parameters.max_time_in_seconds = time_limit
        solver.parameters.num_workers = workers
        status = solver.solve(self.model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return ("infeasible" if status == cp_model.INFEASIBLE else "unknown"), None, None
        counts = [int(solver.value(n)) for n in self.counts]
        name = "optimal" if status == cp_model.OPTIMAL else "feasible"
        return name, counts, int(solver.value(self.balance))


def build_allocation(work: list[int], dims: tuple[int, int], strip: int,
                     max_util_drop: float = 0.05) -> AllocationModel:
    """The model for node counts in multiples of ``strip`` over a ``dims`` region."""
    from ortools.sat.python import cp_model

    total = dims[0] * dims[1]
    model = cp_model.CpModel()
    model.name = f"allocation h={strip}"
    units = total // strip
    counts = []
    for e, w in enumerate(work):
        least = max(1, math.ceil((1 - max_util_drop) * total * w / sum(work) - 1e-9))
        u = model.new_int_var(-(-least // strip), units, f"units_{e}")
        n = model.new_int_var(strip, total, f"nodes_{e}")
        model.add(n == strip * u)
        counts.append(n)
    model.add(sum(counts) == total)
    top = max(work)
    balance = model.new_int_var(0, top, "balance")
    for n, w in zip(counts, work, strict=True):
        product = model.new_int_var(0, top * total, "")
        model.add_multiplication_equality(product, [balance, n])
        model.add(product >= w)
    model.minimize(balance)
    return AllocationModel(model, strip, counts, balance)


def exact_allocation(work: list[int], dims: tuple[int, int], max_util_drop: float = 0.05,
                     time_limit: float = 10.0) -> list[int] | None:
    """The node counts of the best-balanced split that keeps the utilisation floor (ties:
    the tallest strips), or None when no split keeps it."""
    if len(work) == 1:
        return [dims[0] * dims[1]]
    best = None
    for strip in sorted((d for d in range(1, dims[0] + 1) if dims[0] % d == 0), reverse=True):
        if strip * len(work) > dims[0] * dims[1]:
            continue
        _, counts, balance = build_allocation(work, dims, strip, max_util_drop).solve(
            time_limit)
        if counts is not None and (best is None or balance < best[0]):
            best = (balance, counts)
    return None if best is None else best[1]
