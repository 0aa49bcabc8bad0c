"""The machine and its unit costs, in words and cycles (scenarios give bytes: see from_bytes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

MEMORY_TYPES = ("2D", "3D")


def word_bytes(word_bits: int) -> int:
    """Bytes a word occupies in a buffer: ceil(word_bits / 8), as nn_dataflow's tool counts."""
    return (word_bits + 7) // 8


@dataclass(frozen=True)
class Hardware:
    """A 2D array of nodes, each a PE array with per-PE register files and a global buffer.

    Capacities are in words; ``array_bus_width`` is words per cycle per data category on a
    node's array bus and ``dram_bandwidth`` words per cycle for the whole chip (either may be
    ``inf``). ``memory`` places DRAM at the four chip corners (2D) or over every node (3D).
    """

    nodes: tuple[int, int]
    pe_array: tuple[int, int]
    regf_words: int
    gbuf_words: int
    array_bus_width: float = math.inf
    dram_bandwidth: float = math.inf
    memory: str = "2D"
    word_bits: int = 16

    def __post_init__(self) -> None:
        for name in ("nodes", "pe_array"):
            h, w = getattr(self, name)
            if h < 1 or w < 1:
                raise ValueError(f"{name} must be positive, got {(h, w)}")
        if self.regf_words < 0 or self.gbuf_words < 0:
            raise ValueError("buffer capacities must not be negative")
        if not self.array_bus_width > 0 or not self.dram_bandwidth > 0:
            raise ValueError("bus width and DRAM bandwidth must be positive")
        if self.memory not in MEMORY_TYPES:
            raise ValueError(f"memory must be one of {MEMORY_TYPES}, got {self.memory!r}")

    @classmethod
    def from_bytes(cls, nodes: tuple[int, int], pe_array: tuple[int, int], regf_bytes: int,
                   gbuf_bytes: int, array_bus_bits: float = math.inf,
                   dram_bytes_per_cycle: float = math.inf, memory: str = "2D",
                   word_bits: int = 16) -> Hardware:
        """Hardware from byte sizes, converted to words as nn_dataflow's tool does.

        Buffers hold ``bytes // word_bytes`` words; the bus carries ``bits // word_bits`` words
        per cycle; DRAM moves ``bytes / word_bytes`` words per cycle.
        """
        wb = word_bytes(word_bits)
        bus = math.inf if math.isinf(array_bus_bits) else int(array_bus_bits) // word_bits
        if bus == 0:
            raise ValueError(f"an array bus of {array_bus_bits:g} bits carries no "
                             f"{word_bits}-bit word per cycle")
        return cls(tuple(nodes), tuple(pe_array), int(regf_bytes) // wb, int(gbuf_bytes) // wb,
                   bus, dram_bytes_per_cycle / wb, memory, word_bits)

    @property
    def num_nodes(self) -> int:
        """Nodes in the whole array."""
        return self.nodes[0] * self.nodes[1]

    @property
    def num_pes(self) -> int:
        """PEs per node."""
        return self.pe_array[0] * self.pe_array[1]


@dataclass(frozen=True)
class Costs:
    """Unit energies in cost units (whatever unit the user gives them in): per op, per word
    access at each level, per word per NoC hop, and the static energy of all nodes per
    cycle."""

    mac: float = 1.0
    dram: float = 200.0
    gbuf: float = 6.0
    itcn: float = 2.0
    regf: float = 1.0
    noc_hop: float = 0.0
    idle: float = 0.0

    @property
    def mem_hier(self) -> tuple[float, float, float, float]:
        """Access energies in level order (DRAM, GBUF, ITCN, REGF)."""
        return (self.dram, self.gbuf, self.itcn, self.regf)
