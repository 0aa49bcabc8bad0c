"""nnsolve: energy-optimal dataflow schedules for NNs on tiled Eyeriss-style accelerators.

    import nnsolve
    sc = nnsolve.load_scenario("configs/eyeriss_isscc16_alexnet.yaml")
    res = nnsolve.solve(sc, method="cpsat", time_limit=30)
    res.total.energy, res.layers["conv2_a"].schedule
    nnsolve.rescore("result.json").result    # a saved result re-scored, checked first

Exact models of one layer are objects to extend before solving:
``nnsolve.formulations.loop_blocking.build_cpsat(problem)`` (see its docstring). The tree
follows the flow of a solve (docs/architecture.md).
"""

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
from .version import __version__

__all__ = [
    "Blocking", "Comparison", "Costs", "Hardware", "InfeasibleError", "InputError", "Layer",
    "LayerProblem", "LayerResult", "LayerSchedule", "Network", "NetworkResult", "NnsolveError",
    "Pins", "Rescored", "Scenario", "__version__", "compare", "evaluate", "evaluate_layer",
    "load_network", "load_scenario", "load_zoo", "rescore", "solve",
]
