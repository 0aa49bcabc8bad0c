"""What ``nnsolve explain`` says about one layer, as plain data: no rendering here.

Every number comes from the evaluator (``LayerResult``: accesses, energy breakdown, fetch
counts, residency, buffer use) or from the row-stationary mapper that the evaluator itself
used; this module only arranges them. The one thing it works out on its own is *why* each
fetch count is what it is: which loops re-fetch which data (the reuse rule of layer spec
§5.3), and the tests check that those loops multiply up to the evaluator's counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..model.dims import DATA_NAMES, LEVEL_NAMES, LOOP_NAMES, Data, Loop
from ..model.layer import Layer
from ..model.mapping import ArrayMapping, ModelRules, NestedLoopDesc, map_layer
from ..model.partition import PartitionScheme, part_layer
from ..results import LayerOutcome
from ..scenario import Scenario

#: Blocking levels, outermost first, and what one iteration of a loop there does.
BLOCKING_LEVELS = (
    ("DRAM", "each iteration refills the global buffer from DRAM"),
    ("GBUF", "each iteration refills the register files from the global buffer"),
    ("REGF", "inside the register files: no refill"),
)

#: Memory levels of the access table, by ``LEVEL_NAMES`` key.
LEVEL_TITLES = {"dram": "DRAM", "gbuf": "global buffer", "itcn": "array interconnect",
                "regf": "register files"}

#: What a loop does to one data category (the effect columns of the loop nest).
NEW, REFETCH, REUSE = "new", "re-fetch", "reuse"


@dataclass(frozen=True)
class LoopRow:
    """One loop of the nest. ``effects`` maps each data category to NEW (the loop indexes
    it: each iteration moves on to other data), REFETCH (the same data comes again from
    the level above, once per iteration), REUSE (the data stays below across the
    iterations) or "" (trivial loop, or no such data)."""

    level: str
    loop: str
    meaning: str
    factor: int
    effects: dict[str, str]
    innermost: bool = False       # the innermost non-trivial loop of its level
    spatial: bool = False         # a loop of the PE array, not of loop blocking


@dataclass(frozen=True)
class DataFlow:
    """How one data category moves: fetch counts from the evaluator and their causes.

    ``fetch[0]`` counts how often the whole data set comes from DRAM into the global buffer,
    ``fetch[1]`` how often from the global buffer into the register files. ``causes[k]``
    lists (level, loop, factor) of the loops whose iterations multiply ``fetch[k]``;
    ``same_as_above`` says ``fetch[1]`` is ``fetch[0]`` (no loop of the data at the GBUF
    level). For ofmaps, f passes cost 2f - 1 fetches (the first pass only writes).
    """

    data: str
    resident: bool
    why: str
    fetch: tuple[int, int]
    causes: tuple[tuple[tuple[str, str, int], ...], tuple[tuple[str, str, int], ...]]
    same_as_above: bool
    gbuf_words: int
    regf_words: int
    pinned: bool = False          # weights stay on chip for the whole run: no DRAM fetch

    def derived_fetch(self, level: int) -> int:
        """The fetch count the causes give (what the evaluator's count should be)."""
        if level == 0 and self.pinned:
            return 0
        if level == 1 and self.same_as_above:
            return self.derived_fetch(0)
        f = math.prod(factor for _, _, factor in self.causes[level])
        return 2 * f - 1 if self.data == "ofmap" else f


@dataclass(frozen=True)
class EnergyRow:
    """One line of the energy table: a memory level (word accesses per data category), or
    the ops, the NoC (word-hops per data category) or static energy (cycles)."""

    key: str
    title: str
    unit_cost: float
    counts: tuple[float, float, float] | None
    total: float
    unit: str
    energy: float


@dataclass(frozen=True)
class LayerExplanation:
    """Everything ``nnsolve explain`` shows for one layer."""

    outcome: LayerOutcome
    scenario: Scenario
    node_layer: Layer
    node_batch: int
    occupancy: float
    num_nodes: int
    mapping: ArrayMapping
    nld: NestedLoopDesc
    loops: tuple[LoopRow, ...]
    flows: tuple[DataFlow, ...]
    energy_rows: tuple[EnergyRow, ...]

    @property
    def name(self) -> str:
        return self.outcome.name

    @property
    def energy(self) -> float:
        """The layer's energy, as the evaluator reports it."""
        return self.outcome.result.energy

    @property
    def data_names(self) -> tuple[str, ...]:
        """The data categories the layer has (no weights for pooling and element-wise)."""
        return DATA_NAMES if self.outcome.layer.has_weights else DATA_NAMES[1:]


def explain(outcome: LayerOutcome, scenario: Scenario, rules: ModelRules | None = None
            ) -> LayerExplanation:
    """The explanation of one solved (or re-scored) layer of ``scenario`` (under its model
    rules unless ``rules`` are given)."""
    rules = scenario.rules if rules is None else rules
    sched = outcome.schedule
    batch = scenario.batch
    unit = outcome.layer.one_group()          # a grouped layer: one group is scheduled
    if sched.partition.size > 1:
        node_layer, node_batch, occupancy = part_layer(
            unit, batch, PartitionScheme.from_partition(sched.partition))
    else:
        node_layer, node_batch, occupancy = unit, batch, 1.0
    mapping = map_layer(node_layer, node_batch, scenario.hardware.pe_array, occupancy, rules)
    if not 0 <= sched.mapping_index < len(mapping.candidates):
        raise ValueError(f"layer {outcome.name}: mapping index {sched.mapping_index} is not "
                         f"one of the {len(mapping.candidates)} row-stationary candidates")
    nld = mapping.candidates[sched.mapping_index]
    data = DATA_NAMES if outcome.layer.has_weights else DATA_NAMES[1:]
    loops = _loop_rows(outcome, mapping, nld, data) + _spatial_rows(mapping, nld)
    flows = tuple(_flow(outcome, scenario, d) for d in Data if DATA_NAMES[d] in data)
    return LayerExplanation(outcome, scenario, node_layer, node_batch, occupancy,
                            max(1, sched.partition.size), mapping, nld, loops, flows,
                            _energy_rows(outcome, scenario))


# -- the loop nest ---------------------------------------------------------------------------


def loop_meaning(loop: int, layer: Layer, nld: NestedLoopDesc, mapping: ArrayMapping) -> str:
    """What one blocking loop iterates over, for this layer and mapping candidate."""
    if loop == Loop.I:
        if layer.kind == "dwconv":
            return "(one input channel per output channel: depthwise)"
        if not layer.is_conv:
            return "(none in a local-region layer)"
        ifms = nld.repl_counts[Data.IFM]
        return "input channels" + (f", {ifms} at a time" if ifms > 1 else "")
    if loop == Loop.O:
        ofms = nld.repl_counts[Data.OFM]
        what = "channels" if layer.kind == "dwconv" else "output channels"
        return what + (f", {ofms} at a time" if ofms > 1 else "")
    fold_w = mapping.fold[1]
    if fold_w > 1:
        return f"batch x {fold_w} slices of the ofmap height"
    return "batch"


def _innermost(factors, positions, loops) -> int | None:
    """The innermost non-trivial loop among ``loops`` at one level, or None."""
    live = [lp for lp in loops if factors[lp] > 1]
    return min(live, key=lambda lp: positions[lp]) if live else None


def _loop_rows(outcome: LayerOutcome, mapping: ArrayMapping, nld: NestedLoopDesc,
               data: tuple[str, ...]) -> tuple[LoopRow, ...]:
    """The blocking loops, level by level, outermost first (level 2 has no order)."""
    blocking = outcome.schedule.blocking
    positions = blocking.positions()
    layer = outcome.layer
    rows = []
    for level in range(3):
        factors = blocking.factors[level]
        order = blocking.orders[level] if level < 2 else tuple(Loop)
        live = [lp for lp in order if factors[lp] > 1]
        innermost = live[-1] if live and level < 2 else None
        for lp in order:
            effects = {}
            for d in Data:
                name = DATA_NAMES[d]
                if name not in data:
                    continue
                own = layer.data_loops[d]
                if factors[lp] == 1:
                    effects[name] = ""
                elif lp in own:
                    effects[name] = NEW
                elif level == 2:
                    effects[name] = REUSE
                else:
                    inner = _innermost(factors, positions[level], own)
                    outside = inner is not None and positions[level][lp] > positions[level][inner]
                    effects[name] = REFETCH if outside else REUSE
            rows.append(LoopRow(BLOCKING_LEVELS[level][0], LOOP_NAMES[lp],
                                loop_meaning(lp, layer, nld, mapping), factors[lp], effects,
                                innermost=lp == innermost))
    return tuple(rows)


def width_to_height(mapping: ArrayMapping) -> int:
    """How many strips of ofmap rows are stacked in the PE rows (spare height replication
    absorbing width folding, layer spec §4.2)."""
    return mapping.physical_set[0] // (mapping.folded_set[0] * mapping.repl[0])


def _spatial_rows(mapping: ArrayMapping, nld: NestedLoopDesc) -> tuple[LoopRow, ...]:
    """One processing pass on the PE array, as loops (the parallel ones marked spatial)."""
    layer = mapping.layer
    rows = []
    if layer.is_conv and nld.repl_counts[Data.IFM] > 1:
        rows.append(LoopRow("PE array", "i", "input channels, side by side",
                            nld.repl_counts[Data.IFM], {}, spatial=True))
    if nld.repl_counts[Data.OFM] > 1:
        what = "channels" if layer.kind == "dwconv" else "output channels"
        rows.append(LoopRow("PE array", "o", f"{what}, side by side",
                            nld.repl_counts[Data.OFM], {}, spatial=True))
    fold_h = mapping.fold[0]
    if fold_h > 1:
        rows.append(LoopRow("PE array", "fold", "folds of the filter rows, in turn",
                            fold_h, {}))
    what = "filter rows" if layer.has_weights else "window rows"
    rows.append(LoopRow("PE array", "r", f"{what}, one per PE row", mapping.folded_set[0],
                        {}, spatial=True))
    strips = width_to_height(mapping)
    where = (f"{strips} strips of {mapping.physical_set[1]} PE columns" if strips > 1
             else "one per PE column")
    rows.append(LoopRow("PE array", "e", f"ofmap rows, {where}", mapping.folded_set[1], {},
                        spatial=True))
    if layer.has_weights:
        per_pe = f"filter cols {layer.kernel_w} x ofmap cols {layer.out_w}"
        count = layer.kernel_w * layer.out_w
    else:
        merged = f"inputs {layer.inputs} x " if layer.inputs > 1 else ""
        per_pe = f"{merged}window cols {layer.kernel_w} x ofmap cols {layer.out_w}"
        count = layer.inputs * layer.kernel_w * layer.out_w
    rows.append(LoopRow("PE", "s", f"one op a cycle: {per_pe}", count, {}))
    return tuple(rows)


# -- data flow -------------------------------------------------------------------------------


def _flow(outcome: LayerOutcome, scenario: Scenario, d: int) -> DataFlow:
    r = outcome.result
    blocking = outcome.schedule.blocking
    positions = blocking.positions()
    own = outcome.layer.data_loops[d]
    unrelated = [lp for lp in Loop if lp not in own]
    causes: list[tuple[tuple[str, str, int], ...]] = []
    same_as_above = False
    for level in (0, 1):
        factors = blocking.factors[level]
        inner = _innermost(factors, positions[level], own)
        if inner is None:
            if level == 1:
                same_as_above = True
            causes.append(())
            continue
        found = []
        if level == 1:
            found += [("DRAM", LOOP_NAMES[lp], blocking.factors[0][lp]) for lp in unrelated
                      if blocking.factors[0][lp] > 1]
        found += [(BLOCKING_LEVELS[level][0], LOOP_NAMES[lp], factors[lp]) for lp in unrelated
                  if factors[lp] > 1 and positions[level][lp] > positions[level][inner]]
        causes.append(tuple(found))
    fetch = (r.fetch[0][d], r.fetch[1][d])
    resident = r.gbuf_resident[d]
    # Filters pinned on chip (a segment holding the whole network, layer spec §5.7): the
    # DRAM fetch count is 0 whatever the loops; the buffer-level count keeps its rule.
    pinned = d == Data.FIL and fetch[0] == 0
    if same_as_above and pinned:
        causes[1], same_as_above = causes[0], False
    return DataFlow(DATA_NAMES[d], resident, _residency(outcome, scenario, d, fetch),
                    fetch, (causes[0], causes[1]), same_as_above, r.size_gbuf[d],
                    r.size_regf[d], pinned)


def _residency(outcome: LayerOutcome, scenario: Scenario, d: int, fetch: tuple[int, int]
               ) -> str:
    """Why the data is kept in the global buffer or bypasses it (layer spec §5.4)."""
    r = outcome.result
    if d == Data.FIL and fetch[0] == 0:
        where = "pinned on chip for the whole run (the segment holds the whole network)"
        return f"{where}, kept in the global buffer" if r.gbuf_resident[d] else \
            f"{where}; it bypasses the global buffer"
    onchip = d != Data.FIL and r.remote_gbuf[d] > 0
    source = "the buffers of the nodes it is forwarded from or to (on chip, within the " \
             "pipeline segment)" if onchip else "DRAM"
    if not r.gbuf_resident[d]:
        return (f"bypasses the global buffer: streamed between {source} and the PE array "
                "(no reuse there: fetched into the register files as often as from "
                f"{'its source' if onchip else 'DRAM'})")
    if not scenario.search.bypass_mask[d]:
        return "kept in the global buffer (search.bypass does not let it bypass)"
    if fetch[0] < fetch[1]:
        return (f"kept in the global buffer: reused there ({fetch[1]} fetches into the "
                f"register files, {fetch[0]} from {'its source' if onchip else 'DRAM'})")
    return "kept in the global buffer: it lives on these nodes within its pipeline segment"


# -- energy ----------------------------------------------------------------------------------


def _energy_rows(outcome: LayerOutcome, scenario: Scenario) -> tuple[EnergyRow, ...]:
    r = outcome.result
    c = scenario.costs
    rows = [EnergyRow("mac", "operations", c.mac, None, r.ops, "ops", r.breakdown["mac"])]
    for level, cost in zip(LEVEL_NAMES, c.mem_hier, strict=True):
        counts = tuple(r.accesses[level][n] for n in DATA_NAMES)
        rows.append(EnergyRow(level, LEVEL_TITLES[level], cost, counts,
                              r.access_totals[level], "words", r.breakdown[level]))
    rows.append(EnergyRow("noc", "network on chip", c.noc_hop, tuple(r.noc_hops),
                          sum(r.noc_hops), "word-hops", r.breakdown["noc"]))
    rows.append(EnergyRow("static", "static (idle)", c.idle, None, r.time, "cycles",
                          r.breakdown["static"]))
    return tuple(rows)
