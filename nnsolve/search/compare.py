"""One scenario solved by several methods, side by side, with each one's loss against the
proven optimum."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import methods as registry
from ..errors import NnsolveError
from ..methods import COMPARE_METHODS
from ..model.goals import goal_value
from ..results import NetworkResult
from ..scenario import Scenario
from .network_search import Progress, solve

#: Every registered method, exact ones first as the registry lists them.
DEFAULT_METHODS = COMPARE_METHODS


@dataclass
class Comparison:
    """Each method's network result (or why it does not apply), in the order asked."""

    scenario: str
    goal: str
    methods: list[str]
    results: dict[str, NetworkResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def optimum(self) -> float | None:
        """The best proven-optimal network goal value among the methods, if any."""
        proven = [r.value for r in self.results.values() if r.status == "optimal"]
        return min(proven) if proven else None

    def best_bound(self) -> float | None:
        """The highest proven lower bound on the network's goal value among the methods."""
        bounds = [r.bound for r in self.results.values() if r.bound is not None]
        return max(bounds) if bounds else None

    def layer_optimum(self, index: int) -> float | None:
        """The best proven-optimal goal value of one layer among the methods.

        A pipelined layer is optimal only for the segment, region and data sources its
        method chose, so it never counts (another method's segments pose another problem);
        a layer on a node array is optimal for the ifmap layout its producers left, which is
        the same for methods that chose the same producer schedules."""
        values = [goal_value(r.layers[index].result.energy, r.layers[index].result.time,
                             self.goal)
                  for r in self.results.values()
                  if r.layers[index].status == "optimal" and r.segments is None]
        return min(values) if values else None

    def layer_losses_note(self) -> str | None:
        """Why some layers have no loss against an optimum (None when every layer has one)."""
        missing = [i for i in range(len(next(iter(self.results.values())).layers))
                   if self.layer_optimum(i) is None] if self.results else []
        if not missing:
            return None
        if any(r.segments is not None for r in self.results.values()):
            return ("no per-layer losses of pipelined layers: a layer is optimal only for the "
                    "segment its method chose, not for another method's")
        return "no per-layer loss where no method proved the layer optimal"

    def loss_at_most(self, value: float) -> float | None:
        """An upper bound on the relative excess of ``value`` over the optimum, from the best
        proven bound (None without one)."""
        bound = self.best_bound()
        if bound is None or bound <= 0:
            return None
        return max(0.0, value / bound - 1)

    def loss(self, value: float, optimum: float | None) -> float | None:
        """Relative excess over the optimum (0 for an optimal method)."""
        if optimum is None or optimum == 0:
            return None
        return value / optimum - 1

    def to_json(self) -> dict[str, Any]:
        optimum = self.optimum()
        first = next(iter(self.results.values()), None)
        layers = []
        if first is not None:
            for i, lo in enumerate(first.layers):
                row = {"name": lo.name}
                opt = self.layer_optimum(i)
                for m, r in self.results.items():
                    x = r.layers[i]
                    value = goal_value(x.result.energy, x.result.time, self.goal)
                    row[m] = {"energy": x.result.energy, "time": x.result.time,
                              "status": x.status, "bound": x.bound,
                              "solve_seconds": x.seconds, "loss": self.loss(value, opt)}
                layers.append(row)
        return {
            "scenario": self.scenario, "goal": self.goal, "methods": self.methods,
            "optimum": optimum, "best_bound": self.best_bound(),
            "totals": {m: {"energy": r.energy, "time": r.time, "value": r.value,
                           "status": r.status, "bound": r.bound, "gap": r.gap,
                           "solve_seconds": r.solve_seconds,
                           "loss": self.loss(r.value, optimum),
                           "loss_at_most": self.loss_at_most(r.value)}
                       for m, r in self.results.items()},
            "not_applicable": dict(self.failures),
            "layers": layers,
            "results": {m: r.to_json() for m, r in self.results.items()},
        }


def compare(scenario: Scenario, methods: tuple[str, ...] = DEFAULT_METHODS,
            progress: Progress | None = None) -> Comparison:
    """Solve the scenario with each method; a method that cannot solve it is recorded."""
    result = Comparison(scenario.name, scenario.search.goal, list(methods))
    for method in methods:
        why_not = registry.method(method).applies(scenario)
        if why_not is not None:
            result.failures[method] = why_not
            continue
        try:
            result.results[method] = solve(scenario, method, progress)
        except NnsolveError as exc:
            result.failures[method] = str(exc)
    if not result.results:
        reasons = "; ".join(f"{m}: {why}" for m, why in result.failures.items())
        raise NnsolveError(f"no method could solve the scenario: {reasons}")
    return result
