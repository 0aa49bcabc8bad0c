"""nnsolve: energy-optimal dataflow schedules for NNs on tiled Eyeriss-style accelerators.

    import nnsolve
    sc = nnsolve.load_scenario("configs/eyeriss_isscc16_alexnet.yaml")
    res = nnsolve.solve(sc, method="cpsat", time_limit=30)
    res.total.energy, res.layers["conv2_a"].schedule
    nnsolve.rescore("result.json").result    # a saved result re-scored, checked first

Exact models of one layer are objects to extend before solving:
``nnsolve.formulations.loop_blocking.build_cpsat(problem)`` (see its docstring). The tree
follows the flow of a solve (docs/architecture.md).

The names below are imported when first used, so that ``import nnsolve`` (and every
``nnsolve`` command, which imports the package first) pays only for what it touches: the
``nnsolve nets`` listing never loads the search, numpy or a solver engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:       # the same names, for type checkers and editors
    from .errors import InfeasibleError, InputError, NnsolveError
    from .formats.network_yaml import load_network, load_zoo
    from .formats.scenario_yaml import load_scenario
    from .hardware.spec import Costs, Hardware
    from .model.evaluate import LayerProblem, LayerResult, evaluate_layer
    from .model.layer import Layer
    from .model.network import Network
    from .model.pins import Pins
    from .model.schedule import Blocking, LayerSchedule
    from .results import NetworkResult
    from .scenario import Scenario
    from .search.compare import Comparison, compare
    from .search.network_search import evaluate_schedules as evaluate
    from .search.network_search import solve
    from .search.rescore import Rescored, rescore

#: Each public name -> (the module that defines it, its name there).
_PUBLIC: dict[str, tuple[str, str]] = {
    "InfeasibleError": (".errors", "InfeasibleError"),
    "InputError": (".errors", "InputError"),
    "NnsolveError": (".errors", "NnsolveError"),
    "load_network": (".formats.network_yaml", "load_network"),
    "load_zoo": (".formats.network_yaml", "load_zoo"),
    "load_scenario": (".formats.scenario_yaml", "load_scenario"),
    "Costs": (".hardware.spec", "Costs"),
    "Hardware": (".hardware.spec", "Hardware"),
    "LayerProblem": (".model.evaluate", "LayerProblem"),
    "LayerResult": (".model.evaluate", "LayerResult"),
    "evaluate_layer": (".model.evaluate", "evaluate_layer"),
    "Layer": (".model.layer", "Layer"),
    "Network": (".model.network", "Network"),
    "Pins": (".model.pins", "Pins"),
    "Blocking": (".model.schedule", "Blocking"),
    "LayerSchedule": (".model.schedule", "LayerSchedule"),
    "NetworkResult": (".results", "NetworkResult"),
    "Scenario": (".scenario", "Scenario"),
    "Comparison": (".search.compare", "Comparison"),
    "compare": (".search.compare", "compare"),
    "evaluate": (".search.network_search", "evaluate_schedules"),
    "solve": (".search.network_search", "solve"),
    "Rescored": (".search.rescore", "Rescored"),
    "rescore": (".search.rescore", "rescore"),
}

#: The package's rooms, reachable as attributes (``nnsolve.formulations``) once imported here.
_ROOMS = ("cli", "errors", "executors", "formats", "formulations", "hardware", "heuristics",
          "methods", "model", "report", "results", "scenario", "search", "sweep")

__all__ = [
    "Blocking", "Comparison", "Costs", "Hardware", "InfeasibleError", "InputError", "Layer",
    "LayerProblem", "LayerResult", "LayerSchedule", "Network", "NetworkResult", "NnsolveError",
    "Pins", "Rescored", "Scenario", "__version__", "compare", "evaluate", "evaluate_layer",
    "load_network", "load_scenario", "load_zoo", "rescore", "solve",
]


def __getattr__(name: str) -> Any:
    """Import a public name (or a room) on first use, and keep it."""
    if name in _PUBLIC:
        module, attr = _PUBLIC[name]
        value = getattr(importlib.import_module(module, __name__), attr)
    elif name in _ROOMS:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC, *_ROOMS})
