"""The one registry of per-layer methods: what each is called, what it promises, and whether
it applies to a scenario.

The scenario loader, the JSON Schema, the CLI's choices, ``compare`` and the search all read
this table, so they cannot disagree. The network search (the beam over segments,
``solver.beam_width``) runs under every method; it is not a method of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .errors import NnsolveError, did_you_mean


class Promise(str, Enum):
    """What a method's answer is worth: a proven optimum, or a good schedule."""

    EXACT = "exact"
    HEURISTIC = "heuristic"

    __str__ = str.__str__
    __format__ = str.__format__


def _always(scenario: Any) -> str | None:
    return None


#: Why the analytical solver needs two bypassable categories (also its per-layer error).
ANALYTICAL_NEEDS_BYPASS = ("the analytical solver keeps one data category in the global buffer "
                           "and streams the other two, so it needs bypass permitted for at "
                           "least two of weight, ifmap, ofmap (search.bypass)")


def _analytical_applies(scenario: Any) -> str | None:
    return ANALYTICAL_NEEDS_BYPASS if len(scenario.search.bypass) < 2 else None


@dataclass(frozen=True)
class Method:
    """One per-layer method. ``applies(scenario)`` is None when the method can solve the
    scenario, else the reason it cannot (in the user's terms)."""

    name: str
    promise: Promise
    summary: str
    applies: Callable[[Any], str | None] = _always


#: The exact portfolio: per layer, the exact engine expected to prove the optimum fastest.
AUTO = "auto"
#: The engines ``auto`` chooses among (search/portfolio.py holds the rule).
AUTO_ENGINES = ("exhaustive", "cpsat")

METHODS: dict[str, Method] = {m.name: m for m in (
    Method(AUTO, Promise.EXACT, "exact portfolio: per layer, the exhaustive search when its "
           "scheme space is small, else CP-SAT (the same optimum; the result names the engine)"),
    Method("cpsat", Promise.EXACT, "exact CP-SAT model, proven optimal with bound and gap"),
    Method("milp", Promise.EXACT,
           "exact MILP model (HiGHS or CBC), proven optimal with bound and gap"),
    Method("analytical", Promise.HEURISTIC,
           "TETRIS's closed-form bypass solver (nn_dataflow --solve-loopblocking)",
           _analytical_applies),
    Method("exhaustive", Promise.EXACT,
           "scores every scheme of nn_dataflow's space (proven optimal)"),
)}

#: Method names in registry order (the scenario's choices, the CLI's, compare's default).
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
DEFAULT_METHOD = AUTO
#: The methods ``compare`` runs when none are named: every registered one, in registry order.
COMPARE_METHODS: tuple[str, ...] = METHOD_NAMES

#: Names that scenario files once accepted, and what to do instead.
REMOVED_METHODS = {
    "beam": "beam was removed; the beam search runs under every method, set "
            "solver.beam_width",
}


def method(name: str) -> Method:
    """The registry entry of ``name``; a clear error for unknown and removed names."""
    if name in METHODS:
        return METHODS[name]
    if name in REMOVED_METHODS:
        raise NnsolveError(f"solver.method: {REMOVED_METHODS[name]}")
    raise NnsolveError(f"unknown method {name!r}{did_you_mean(name, METHODS)}; methods: "
                       f"{', '.join(METHODS)}")


def exact_methods() -> tuple[str, ...]:
    """Names of the methods that prove their optimum."""
    return tuple(m.name for m in METHODS.values() if m.promise is Promise.EXACT)
