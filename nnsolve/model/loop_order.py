"""nn_dataflow's canonical loop order of a blocking level."""

from __future__ import annotations

from .pins import NONE


def canonical_positions(nontrivial, innermost: int) -> tuple[int, int, int]:
    """nn_dataflow's canonical loop order of a level as positions (0 = innermost): the
    innermost non-trivial loop, then the other non-trivial loops, then the trivial ones."""
    lam = -1 if innermost == NONE else innermost
    keyed = sorted(range(3), key=lambda lp: (lp != lam, not nontrivial[lp], lp))
    pos = [0, 0, 0]
    for p, lp in enumerate(keyed):
        pos[lp] = p
    return tuple(pos)
