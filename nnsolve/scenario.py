"""A validated scenario: the network, batch, hardware, costs and search/solver options.

Plain data; the YAML format and its table of fields are in ``formats/scenario_yaml.py``.
Sizes are words here (the YAML gives bytes, converted with ``word_bits``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .hardware.spec import Costs, Hardware
from .methods import DEFAULT_METHOD
from .model.goals import GOALS, Goal
from .model.mapping import DEFAULT_RULES, ModelRules
from .model.network import Network
from .model.pins import Pins

__all__ = ["BYPASS_DATA", "GOALS", "INF", "PARTITION_MODES", "Goal", "Scenario", "SearchOptions",
           "SolverOptions"]

BYPASS_DATA = ("ifmap", "ofmap", "weight")
PARTITION_MODES = ("naive", "hybrid")
INF = math.inf




@dataclass(frozen=True)
class SearchOptions:
    """What the search may do (nn_dataflow's options), and the goal."""

    goal: Goal = Goal.ENERGY
    bypass: tuple[str, ...] = ("ifmap", "ofmap", "weight")
    solve_loopblocking: bool = False
    partition: str = "hybrid"
    batch_partition: bool = False
    ifmap_partition: bool = False
    access_forwarding: bool = False
    gbuf_sharing: bool = False
    save_writeback: bool = False
    interlayer: bool = False
    interlayer_opt: bool = True
    pipeline_time_overhead: float = INF
    pipeline_max_degree: float = INF
    region_allocation: str = "rounding"
    pin: dict[str, Pins] = field(default_factory=dict)

    def pins_for(self, layer: str) -> Pins:
        """The pins of one layer: its own over those given for every layer ('*')."""
        base = self.pin.get("*", Pins())
        own = self.pin.get(layer)
        return base.merged(own) if own is not None else base

    @property
    def bypass_mask(self) -> tuple[bool, bool, bool]:
        """Bypass permission per data category in model order (weight, ifmap, ofmap)."""
        return ("weight" in self.bypass, "ifmap" in self.bypass, "ofmap" in self.bypass)


@dataclass(frozen=True)
class SolverOptions:
    """Which solver, and its limits."""

    method: str = DEFAULT_METHOD
    time_limit_s: float = 60.0
    total_time_limit_s: float = INF
    milp_solver: str = "highs"
    workers: int = 0              # worker processes of the network search (0: one per core)
    threads: int = 0              # solver threads per layer model (0: one)
    beam_width: int = 1


@dataclass
class Scenario:
    """A fully validated scenario."""

    name: str
    network: Network
    batch: int
    hardware: Hardware
    costs: Costs
    search: SearchOptions
    solver: SolverOptions
    source: str = "<scenario>"
    document: dict[str, Any] = field(default_factory=dict)   # the input, overrides applied
    rules: ModelRules = DEFAULT_RULES     # nn_dataflow's rules or nnsolve's (model section)














