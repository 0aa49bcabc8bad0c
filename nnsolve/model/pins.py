"""Partial-mapping constraints: parts of a layer's schedule fixed by the user.

A pin can fix the mapping candidate, any blocking factor (loop x level), the innermost
non-trivial loop of level 0 or 1 (the only part of a loop order that matters), and whether a
data category is kept in the global buffer. Every method honours pins: the exact formulations
add them as constraints, the exhaustive search filters its space, and the analytical solver's
schedules that break a pin are dropped. In a scenario they are ``search.pin``:

    search:
      pin:
        conv1_a:                       # a layer name, or "*" for every layer
          mapping: 0                   # row-stationary candidate index
          factors: {i: [1, null, 3]}   # per loop: [DRAM, GBUF, REGF] level factors, null = free
          innermost: [o, null]         # innermost non-trivial loop at levels 0 and 1, or "none"
          gbuf_resident: {ifmap: true} # kept in the global buffer (true) or bypassed (false)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .dims import DATA_NAMES, LOOP_NAMES, Loop

if TYPE_CHECKING:
    import numpy as np

NONE = 3          # "no non-trivial loop at this level" (all factors 1)


@dataclass(frozen=True)
class TopLoops:
    """A pipeline segment's demand on a layer's DRAM-level loops (network spec §3.7): the
    batch, ifmap and ofmap factors (0 = free) and their order. Among the non-trivial
    level-0 loops, outermost first, the batch loop comes first when ``bat`` > 1, then the
    ifmap loop when ``ifm`` > 1, or the ofmap loop when ``ofm`` > 1."""

    bat: int = 0
    ifm: int = 0
    ofm: int = 0

    @property
    def free(self) -> bool:
        return not (self.bat or self.ifm or self.ofm)

    def mask(self, factors: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Which schemes (arrays as in the exhaustive search) keep the demand."""
        import numpy as np  # here: a scenario's pins are read without numpy

        f0, p0 = factors[:, 0, :], positions[:, 0, :]
        keep = np.ones(len(factors), dtype=bool)
        wanted = ((Loop.B, self.bat), (Loop.I, self.ifm), (Loop.O, self.ofm))
        for loop, value in wanted:
            if value:
                keep &= f0[:, loop] == value
        first = [loop for loop, value in wanted if value > 1]
        nontrivial = f0 > 1
        for j, loop in enumerate(first):
            here = p0[:, [loop]]
            for earlier in first[:j]:
                keep &= p0[:, earlier] > here[:, 0]
            others = [lp for lp in range(3) if lp not in first[:j + 1]]
            keep &= ~(nontrivial[:, others] & (p0[:, others] > here)).any(axis=1)
        return keep


@dataclass(frozen=True)
class Pins:
    """What is fixed; None everywhere means nothing is."""

    mapping: int | None = None
    # factors[loop][level] -> value, for the pinned entries only
    factors: dict[int, dict[int, int]] = field(default_factory=dict)
    # innermost[level] -> loop (0-2) or NONE
    innermost: dict[int, int] = field(default_factory=dict)
    # resident[data] -> kept in the global buffer
    resident: dict[int, bool] = field(default_factory=dict)
    # a pipeline segment's top-loop demand (set by the network search, not by users)
    top: TopLoops | None = None

    def __hash__(self) -> int:
        factors = tuple(sorted((lp, tuple(sorted(v.items()))) for lp, v in self.factors.items()))
        return hash((self.mapping, factors, tuple(sorted(self.innermost.items())),
                     tuple(sorted(self.resident.items())), self.top))

    @property
    def empty(self) -> bool:
        return self.mapping is None and not self.factors and not self.innermost \
            and not self.resident and (self.top is None or self.top.free)

    def merged(self, other: Pins) -> Pins:
        """These pins with ``other``'s on top (a layer's own pins over the '*' pins)."""
        factors = {lp: dict(v) for lp, v in self.factors.items()}
        for lp, levels in other.factors.items():
            factors.setdefault(lp, {}).update(levels)
        return Pins(other.mapping if other.mapping is not None else self.mapping, factors,
                    {**self.innermost, **other.innermost}, {**self.resident, **other.resident},
                    other.top if other.top is not None else self.top)

    def triple_allowed(self, loop: int, triple) -> bool:
        """Whether a (t0, t1, t2) split of ``loop`` keeps its factor pins."""
        return all(triple[level] == v for level, v in self.factors.get(loop, {}).items())

    def scheme_mask(self, factors: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Which schemes (arrays as in the exhaustive search) keep the factor and order pins."""
        import numpy as np  # here: a scenario's pins are read without numpy

        keep = np.ones(len(factors), dtype=bool)
        for loop, levels in self.factors.items():
            for level, value in levels.items():
                keep &= factors[:, level, loop] == value
        for level, loop in self.innermost.items():
            nontrivial = factors[:, level, :] > 1
            if loop == NONE:
                keep &= ~nontrivial.any(axis=1)
            else:
                # The loop is non-trivial and no other non-trivial loop is inside it.
                pos = positions[:, level, :]
                inside = nontrivial & (pos < pos[:, [loop]])
                keep &= nontrivial[:, loop] & ~inside.any(axis=1)
        if self.top is not None and not self.top.free:
            keep &= self.top.mask(factors, positions)
        return keep

    def describe(self) -> str:
        parts = []
        if self.mapping is not None:
            parts.append(f"mapping {self.mapping}")
        for lp, levels in sorted(self.factors.items()):
            vals = ["-" if levels.get(k) is None else str(levels[k]) for k in range(3)]
            parts.append(f"{LOOP_NAMES[lp]}=[{','.join(vals)}]")
        for level, lp in sorted(self.innermost.items()):
            parts.append(f"innermost{level}={'none' if lp == NONE else LOOP_NAMES[lp]}")
        for d, kept in sorted(self.resident.items()):
            parts.append(f"{DATA_NAMES[d]} {'kept' if kept else 'bypassed'}")
        if self.top is not None and not self.top.free:
            t = self.top
            parts.append(f"pipeline top loops b={t.bat or '-'} i={t.ifm or '-'} "
                         f"o={t.ofm or '-'}")
        return ", ".join(parts)


