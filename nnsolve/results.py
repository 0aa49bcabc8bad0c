"""Solve results as plain data, and their JSON form (DESIGN.md's result JSON).

Energy is in the scenario's cost units, time in cycles. A layer's ``bound`` is a proven lower
bound on its goal value (None when the method proves nothing); the network's bound combines
the layers' (section "bounds" in docs/results.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .model.evaluate import FLOOR_SLACK, LayerResult
from .model.goals import goal_value
from .model.layer import Layer
from .model.schedule import LayerSchedule
from .version import __version__

#: A gap this small counts as closed: exact bounds are lowered by FLOOR_SLACK (relative) to
#: stay below the evaluator's float sums in any summation order, so a proven optimum can
#: show a gap of about 1e-9.
GAP_CLOSED = 2 * FLOOR_SLACK


class Status(str, Enum):
    """How good a result is: proven optimal, a schedule without proof (feasible: re-scored;
    heuristic: a heuristic's), none fits, cut by a time limit, or interrupted by Ctrl-C.
    A ``str``: it compares, prints and serialises as its name."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    HEURISTIC = "heuristic"
    INFEASIBLE = "infeasible"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"

    __str__ = str.__str__
    __format__ = str.__format__


STATUSES = tuple(s.value for s in Status)
BREAKDOWN_KEYS = ("mac", "dram", "gbuf", "itcn", "regf", "noc", "static")


@dataclass
class LayerOutcome:
    """One layer's schedule and score, and what the solver could prove about it.

    ``bound`` is a proven lower bound on the layer's goal value for the problem it was solved
    as (on a node array: the ifmap layout its producers left; pipelined: its segment's
    region, data sources and constraint). ``status`` optimal says the layer's schedule is
    optimal for that problem, so its bound is then its value (``proven_bound``).
    ``free_bound``, when set, is a weaker bound that holds whatever the other layers chose
    (any ifmap layout); the network's bound adds those up.
    """

    name: str
    layer: Layer
    schedule: LayerSchedule
    result: LayerResult
    status: str
    bound: float | None = None          # proven lower bound on the layer's goal value
    seconds: float = 0.0
    min_energy: float | None = None     # proven lower bounds on energy and time alone
    min_time: float | None = None
    notes: list[str] = field(default_factory=list)
    free_bound: float | None = None     # a bound for any context (None: ``bound``)
    engine: str | None = None           # the method that solved it (method auto: its pick)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "name": self.name,
            "energy": r.energy, "time": r.time, "ops": r.ops,
            "breakdown": {k: r.breakdown[k] for k in BREAKDOWN_KEYS},
            "accesses": r.access_totals,
            "status": self.status, "bound": self.bound, "solve_seconds": self.seconds,
            **({"engine": self.engine} if self.engine else {}),
            "schedule": self.schedule.to_json(r.loopcnt, r.gbuf_resident),
        }


def proven_bound(status: str, result: LayerResult, goal: str, bound: float | None
                 ) -> float | None:
    """The bound a layer reports: its own goal value when its status is optimal (that is
    what was proven: no schedule of its problem is better), else ``bound``.

    An optimal layer must not show a bound below its value beyond GAP_CLOSED; layers solved
    for one context (an ifmap layout, a pipeline segment) get from their solver a bound that
    holds for every context, which is kept as the outcome's ``free_bound``."""
    if status == "optimal":
        return goal_value(result.energy, result.time, goal)
    return bound


class LayerList(list):
    """The layers of a result in network order; also indexable by layer name."""

    def __getitem__(self, key):
        if isinstance(key, str):
            for lo in self:
                if lo.name == key:
                    return lo
            raise KeyError(f"no layer named {key!r}")
        return super().__getitem__(key)


@dataclass(frozen=True)
class SegmentOutcome:
    """One pipeline segment of a result: its layers (spatial entries of temporal layers),
    the sub-region of each entry and its timing (network spec §3.9), in cycles."""

    layers: tuple[tuple[str, ...], ...]
    regions: tuple[Any, ...]
    time: float
    critical_time: float
    node_time: float
    dram_time: float
    batch_groups: int
    overhead: float

    def to_json(self) -> dict[str, Any]:
        return {"layers": [list(entry) for entry in self.layers],
                "regions": [r.to_json() for r in self.regions],
                "time": self.time, "critical_time": self.critical_time,
                "node_time": self.node_time, "dram_time": self.dram_time,
                "batch_groups": self.batch_groups, "time_overhead": self.overhead}


@dataclass(frozen=True)
class Totals:
    """Whole-network totals: energy (cost units), time (cycles), ops, energy x time."""

    energy: float
    time: float
    ops: float
    edp: float


@dataclass
class NetworkResult:
    """A whole network's schedule: per-layer outcomes (network order) and totals."""

    scenario: str
    method: str
    goal: str
    layers: list[LayerOutcome]
    solve_seconds: float = 0.0
    status_override: str | None = None
    notes: list[str] = field(default_factory=list)
    #: On a node array: how the network input lies in DRAM (a partition of the memory
    #: region), chosen with the first layer; None on one node.
    input_partition: Any = None
    #: With inter-layer pipelining: the segments in order, the network totals
    #: (energy, time, static energy) by the segment rules of network spec §4.1, and a
    #: proven lower bound on the goal from the segment-selection model (None: not run).
    segments: list[SegmentOutcome] | None = None
    pipeline_totals: tuple[float, float, float] | None = None
    pipeline_bound: float | None = None
    #: The number of layers in the network when the result holds fewer (a solve interrupted
    #: before every layer was solved); None: the result holds them all.
    network_layers: int | None = None

    def __post_init__(self) -> None:
        self.layers = LayerList(self.layers)

    @property
    def total(self) -> Totals:
        """Energy, time, ops and EDP of the whole network."""
        return Totals(self.energy, self.time, self.ops, self.edp)

    @property
    def coverage(self) -> tuple[int, int]:
        """(layers the totals cover, layers in the network): fewer after a Ctrl-C."""
        return len(self.layers), max(len(self.layers), self.network_layers or 0)

    @property
    def energy(self) -> float:
        if self.pipeline_totals is not None:
            return self.pipeline_totals[0]
        return math.fsum(lo.result.energy for lo in self.layers)

    @property
    def time(self) -> float:
        """Cycles for the whole batch; pipelined segments overlap their layers."""
        if self.pipeline_totals is not None:
            return self.pipeline_totals[1]
        return math.fsum(lo.result.time for lo in self.layers)

    @property
    def ops(self) -> float:
        return math.fsum(lo.result.ops for lo in self.layers)

    @property
    def edp(self) -> float:
        return self.energy * self.time

    @property
    def value(self) -> float:
        """The goal value of the whole network."""
        return goal_value(self.energy, self.time, self.goal)

    @property
    def breakdown(self) -> dict[str, float]:
        out = {k: math.fsum(lo.result.breakdown[k] for lo in self.layers) for k in BREAKDOWN_KEYS}
        if self.pipeline_totals is not None:
            out["static"] = self.pipeline_totals[2]
        return out

    def override_status(self, status: str) -> None:
        """Set the network's status whatever its layers say (a search cut short, or
        interrupted, is no better than that however good its layers are)."""
        self.status_override = Status(status)

    @property
    def status(self) -> Status:
        """optimal only if every layer is and the bound closes; otherwise the weakest."""
        if self.status_override:
            return self.status_override
        statuses = {lo.status for lo in self.layers}
        for weak in (Status.INFEASIBLE, Status.INTERRUPTED, Status.TIMEOUT, Status.HEURISTIC,
                     Status.FEASIBLE):
            if weak in statuses:
                return weak
        closed = self.gap is not None and self.gap <= GAP_CLOSED
        if closed:
            return Status.OPTIMAL
        # A segment chain comes from a beam search: optimal only if a bound closes.
        return Status.HEURISTIC if self.segments is not None else Status.FEASIBLE

    @property
    def bound(self) -> float | None:
        """A proven lower bound on the network's goal value, or None.

        Layers run one after another, so energy and time add up: the energy (delay) bound is the
        sum of the layers' bounds (their ``free_bound`` where set: a layer's own bound may hold
        only for the ifmap layout the earlier layers left). For EDP, (sum of least energies)
        x (sum of least times). Pipelined segments overlap layers, so there the
        segment-selection model's bound is used instead.
        """
        if self.status_override == "interrupted":
            return None                 # a partial network: no bound on the whole
        if self.segments is not None:
            return self.pipeline_bound
        if self.goal == "edp":
            if any(lo.min_energy is None or lo.min_time is None for lo in self.layers):
                return None
            return math.fsum(lo.min_energy for lo in self.layers) * \
                math.fsum(lo.min_time for lo in self.layers)
        bounds = [lo.bound if lo.free_bound is None else lo.free_bound for lo in self.layers]
        if any(b is None for b in bounds):
            return None
        return math.fsum(bounds)

    @property
    def gap(self) -> float | None:
        """Relative gap between the goal value and the bound (0 = proven optimal)."""
        bound, value = self.bound, self.value
        if bound is None or not math.isfinite(value):
            return None
        if value == 0:
            return 0.0
        return max(0.0, (value - bound) / value)

    def to_json(self) -> dict[str, Any]:
        return {
            "nnsolve_version": __version__,
            "scenario": self.scenario,
            "method": self.method,
            "goal": self.goal,
            "status": self.status,
            "total": {"energy": self.energy, "time": self.time, "ops": self.ops,
                      "edp": self.edp, "layers": self.coverage[0],
                      "network_layers": self.coverage[1]},
            "breakdown": self.breakdown,
            "bound": self.bound,
            "gap": self.gap,
            "solve_seconds": self.solve_seconds,
            "notes": list(self.notes),
            **({"input_partition": self.input_partition.to_json()}
               if self.input_partition is not None else {}),
            **({"segments": [seg.to_json() for seg in self.segments]}
               if self.segments is not None else {}),
            "layers": [lo.to_json() for lo in self.layers],
        }












class SolveInterrupted(KeyboardInterrupt):
    """Ctrl-C during a solve. ``result`` holds the layers finished before it (status
    ``interrupted``), or None when none was; it is still a KeyboardInterrupt."""

    def __init__(self, result: NetworkResult | None):
        super().__init__()
        self.result = result


def interrupted(result: NetworkResult, layer_names) -> SolveInterrupted:
    """Mark a partial result as interrupted, noting the layers it lacks."""
    done = {lo.name for lo in result.layers}
    missing = [n for n in layer_names if n not in done]
    result.override_status("interrupted")
    result.network_layers = len(missing) + len(done)
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more"
                                          if len(missing) > 8 else "")
        result.notes.insert(0, f"interrupted (Ctrl-C): {len(missing)} of "
                               f"{len(missing) + len(done)} layers not solved: {shown}; the "
                               "totals cover the solved layers only")
    else:
        result.notes.insert(0, "interrupted (Ctrl-C) after every layer was solved; the "
                               "bound was not finished")
    return SolveInterrupted(result)

