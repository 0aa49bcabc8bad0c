"""One scenario solved by several methods, side by side, with each one's loss against the
proven optimum."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import methods as registry
from ..errors import NnsolveError
from ..methods import METHOD_NAMES
from ..model.goals import goal_value
from ..results import NetworkResult
from ..scenario import Scenario
from .network_search import Progress, solve

#: Every registered method, exact ones first as the registry lists them.
DEFAULT_METHODS = METHOD_NAMES


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

    def layer_optimum(self, index: int) -> float | None:
        """The best proven-optimal goal value of one layer among the methods."""
        values = [goal_value(r.layers[index].result.energy, r.layers[index].result.time,
                             self.goal)
                  for r in self.results.values() if r.layers[index].status == "optimal"]
        return min(values) if values else None

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
            "optimum": optimum,
            "totals": {m: {"energy": r.energy, "time": r.time, "value": r.value,
                           "status": r.status, "bound": r.bound, "gap": r.gap,
                           "solve_seconds": r.solve_seconds,
                           "loss": self.loss(r.value, optimum)}
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
