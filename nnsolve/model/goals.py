"""What schedules are ranked by: the goal value, and the keys that break ties.

nnsolve ranks a layer's schedules by the scenario's goal on the *full* per-layer total (op,
access, NoC and static energy), then by the other quantity, then by enumeration order. nn_dataflow
ranks loop blocking by access energy alone (docs/divergences.md, section 3).
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class Goal(str, Enum):
    """What a search minimises. A ``str``: it compares, prints and serialises as its name."""

    ENERGY = "energy"
    DELAY = "delay"
    EDP = "edp"

    __str__ = str.__str__
    __format__ = str.__format__


GOALS = tuple(g.value for g in Goal)


def goal_value(energy, time, goal: str):
    """The quantity a goal minimises: energy, time, or their product (scalars or arrays)."""
    if goal == "energy":
        return energy
    if goal == "delay":
        return time
    if goal == "edp":
        return energy * time
    raise ValueError(f"unknown goal {goal!r}; one of {', '.join(GOALS)}")


def repeated_goal(value, groups: int, goal: str):
    """The goal value (or a bound on it) of ``groups`` identical runs one after another from
    one run's ``value``: energy and time add up, so energy and delay scale by ``groups`` and
    their product by its square (None stays None)."""
    if value is None or groups == 1:
        return value
    return value * (groups * groups if goal == "edp" else groups)


def rank_order(energy: np.ndarray, time: np.ndarray, rank: np.ndarray, goal: str) -> np.ndarray:
    """Indices that sort schemes best first: by goal value, then the other quantity (energy
    for delay, time otherwise), then ``rank`` (enumeration order; smaller wins ties)."""
    import numpy as np  # here: reading a scenario's goal needs no numpy

    primary = goal_value(energy, time, goal)
    secondary = energy if goal == "delay" else time
    return np.lexsort((rank, secondary, primary))
