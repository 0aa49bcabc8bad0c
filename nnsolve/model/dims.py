"""The index spaces of the cost model: loops, data categories and memory levels.

Their integer values are nn_dataflow's and matter: they fix enumeration and tie-breaking
orders.
"""

from __future__ import annotations

from enum import IntEnum


class Loop(IntEnum):
    """The three loops that loop blocking splits."""

    I = 0  # noqa: E741 (input channels)
    O = 1  # noqa: E741 (output channels)
    B = 2  # batch (row-stationary folding also moves ofmap-height slices here)


class Data(IntEnum):
    """Data categories."""

    FIL = 0  # weights
    IFM = 1  # input fmaps
    OFM = 2  # output fmaps


class Level(IntEnum):
    """Memory levels, from DRAM down to the PE register files."""

    DRAM = 0
    GBUF = 1
    ITCN = 2  # the array interconnect inside a node
    REGF = 3


LOOP_NAMES = ("i", "o", "b")
DATA_NAMES = ("weight", "ifmap", "ofmap")
LEVEL_NAMES = ("dram", "gbuf", "itcn", "regf")

#: Loops that index each data category, for CONV/FC and for local-region layers.
CONV_DATA_LOOPS: tuple[tuple[int, ...], ...] = (
    (Loop.I, Loop.O), (Loop.I, Loop.B), (Loop.O, Loop.B))
LOCAL_DATA_LOOPS: tuple[tuple[int, ...], ...] = ((), (Loop.O, Loop.B), (Loop.O, Loop.B))
#: Depthwise convolution: I has one iteration (one input channel per group) and O runs over
#: the channels, which every category depends on: weights (I, O), ifmaps and ofmaps (O, B).
DWCONV_DATA_LOOPS: tuple[tuple[int, ...], ...] = (
    (Loop.I, Loop.O), (Loop.O, Loop.B), (Loop.O, Loop.B))


def unrelated_loops(data_loops: tuple[tuple[int, ...], ...]) -> tuple[int, int, int]:
    """The one loop each data category does not depend on, for data loops in which every
    category depends on two loops (CONV/FC: B, O, I; DWCONV: B, I, I): its re-fetches come
    from that loop only."""
    out = []
    for own in data_loops:
        free = [lp for lp in Loop if lp not in own]
        if len(free) != 1:
            raise ValueError("every data category must depend on exactly two loops")
        out.append(free[0])
    return tuple(out)
