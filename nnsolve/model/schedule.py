"""Plain data for schedules: loop blocking, partition, region and the schedule of one layer.

A schedule says *what* runs where; ``evaluate`` alone turns it into numbers. The JSON form
(``to_json`` / ``from_json``) is the ``schedule`` object of DESIGN.md's result JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .dims import DATA_NAMES, LOOP_NAMES, Loop

#: Partition kinds (nn_dataflow's ParallelEnum order): output channels, output fmap, batch,
#: input channels.
PARTITION_KINDS = ("output", "ofmap", "batch", "input")


def _factors3(value: Any) -> tuple[int, int, int]:
    return tuple(int(v) for v in value)  # type: ignore[return-value]


@dataclass(frozen=True)
class Blocking:
    """Loop blocking: how each loop is split over the three levels, and the loop orders.

    ``factors[k][l]``: level k = 0 iterates over DRAM (each iteration refills the global
    buffer), k = 1 over the global buffer (each iteration refills the register files), k = 2
    inside the register files; l is Loop I, O, B. ``orders[k]`` lists the loops of level
    k = 0, 1 from outermost to innermost.
    """

    factors: tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]
    orders: tuple[tuple[int, int, int], tuple[int, int, int]] = ((0, 1, 2), (0, 1, 2))

    def __post_init__(self) -> None:
        object.__setattr__(self, "factors", tuple(_factors3(f) for f in self.factors))
        object.__setattr__(self, "orders", tuple(_factors3(o) for o in self.orders))
        if len(self.factors) != 3 or any(len(f) != 3 for f in self.factors):
            raise ValueError("blocking factors are 3 levels x 3 loops")
        if any(v < 1 for f in self.factors for v in f):
            raise ValueError("blocking factors must be positive")
        if len(self.orders) != 2 or any(sorted(o) != [0, 1, 2] for o in self.orders):
            raise ValueError("loop orders are two permutations of the loops i, o, b")

    def positions(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """nn_dataflow's ``bl_ords``: for each level and loop, its position (0 = innermost)."""
        result = []
        for order in self.orders:
            pos = [0, 0, 0]
            for depth, loop in enumerate(order):
                pos[loop] = 2 - depth
            result.append(tuple(pos))
        return tuple(result)  # type: ignore[return-value]

    @classmethod
    def from_positions(cls, factors, positions) -> Blocking:
        """A blocking from nn_dataflow-style factors and ``bl_ords`` positions."""
        orders = tuple(tuple(sorted(range(3), key=lambda lp, p=p: -p[lp])) for p in positions)
        return cls(tuple(tuple(f) for f in factors), orders)

    def totals(self) -> tuple[int, int, int]:
        """The product of each loop's factors over the three levels."""
        return tuple(self.factors[0][lp] * self.factors[1][lp] * self.factors[2][lp]
                     for lp in Loop)  # type: ignore[return-value]

    def to_json(self) -> dict[str, Any]:
        return {"factors": [dict(zip(LOOP_NAMES, f, strict=True)) for f in self.factors],
                "orders": [[LOOP_NAMES[lp] for lp in o] for o in self.orders]}


@dataclass(frozen=True)
class Partition:
    """How a layer is split over the nodes of its region.

    ``factors[kind]`` is (rows, cols) of the node region given to that kind; ``order`` lists
    the kinds from the coarsest level to the finest.
    """

    order: tuple[str, ...] = PARTITION_KINDS
    factors: tuple[tuple[int, int], ...] = ((1, 1), (1, 1), (1, 1), (1, 1))

    @property
    def size(self) -> int:
        """Nodes the layer is split over."""
        n = 1
        for h, w in self.factors:
            n *= h * w
        return n

    def to_json(self) -> dict[str, Any]:
        return {"order": list(self.order),
                "factors": {k: list(f) for k, f in zip(PARTITION_KINDS, self.factors, strict=True)}}


@dataclass(frozen=True)
class Region:
    """A rectangle of nodes: origin (row, col) and dims (rows, cols)."""

    origin: tuple[int, int] = (0, 0)
    dims: tuple[int, int] = (1, 1)

    def to_json(self) -> dict[str, Any]:
        return {"origin": list(self.origin), "dims": list(self.dims)}


@dataclass(frozen=True)
class LayerSchedule:
    """Everything chosen for one layer: mapping candidate, blocking, partition, region."""

    mapping_index: int
    blocking: Blocking
    partition: Partition = field(default_factory=Partition)
    region: Region = field(default_factory=Region)
    segment: int = 0

    def to_json(self, loopcnt: tuple[int, int, int] | None = None,
                gbuf_resident: tuple[bool, bool, bool] | None = None) -> dict[str, Any]:
        """The result-JSON form; ``loopcnt`` and ``gbuf_resident`` are derived, for reading."""
        mapping: dict[str, Any] = {"index": self.mapping_index}
        if loopcnt is not None:
            mapping["loopcnt"] = dict(zip(LOOP_NAMES, loopcnt, strict=True))
        blocking = self.blocking.to_json()
        if gbuf_resident is not None:
            blocking["gbuf_resident"] = dict(zip(DATA_NAMES, gbuf_resident, strict=True))
        return {"mapping": mapping, "partition": self.partition.to_json(), "blocking": blocking,
                "region": self.region.to_json(), "segment": self.segment}


