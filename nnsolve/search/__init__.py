"""The network search: a scenario's network -> one schedule per layer -> a NetworkResult.

Layer by layer on one node (``network_search``, ``layer_solve``), over a node array with the
partition of every layer (``node_array``, ``partition_choice``), and pipelined in segments with
the beam and the segment-selection bound (``segments``, ``pipeline``, ``segment_bound``);
``compare`` runs several methods side by side.
"""

from .compare import Comparison, compare
from .layer_solve import layer_problem, solve_layer
from .network_search import Progress, evaluate_schedules, solve

__all__ = ["Comparison", "Progress", "compare", "evaluate_schedules", "layer_problem", "solve",
           "solve_layer"]
