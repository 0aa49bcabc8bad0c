"""Rendering ``nnsolve explain``: one layer's schedule as a loop nest, with what each level
costs (the command itself is cli/explain.py).

For a scenario YAML the network is solved first (with the scenario's method); for a result
JSON written by ``solve --json`` its schedules are re-scored by the one evaluator, on the
scenario stored in the JSON. Then, for each layer (or the one named by ``--layer``): the
layer and its status, the partition over nodes, the row-stationary array mapping, the loop
nest from DRAM down to the PE array with the data each loop re-fetches or reuses, the
fetch counts and global-buffer residency of each data category, and the accesses and energy
of every level, adding up to the layer's energy. The numbers are arranged by
``explanation``; this module renders them with rich.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..model.dims import DATA_NAMES, Data
from ..model.layer import Layer
from ..model.mapping import ModelRules
from ..model.schedule import PARTITION_KINDS
from ..results import LayerOutcome
from ..scenario import Scenario
from .explanation import (
    BLOCKING_LEVELS,
    NEW,
    REFETCH,
    REUSE,
    LayerExplanation,
    explain,
    width_to_height,
)
from .fit import Col, Fitted, Grid
from .tables import si

ENERGY_UNIT = "cost units"
EFFECT_STYLE = {NEW: "cyan", REFETCH: "bold red", REUSE: "green", "": ""}
PARTITION_TITLES = {"output": "output channels", "ofmap": "ofmap (rows x cols)",
                    "batch": "batch", "input": "input channels"}


def explain_layer(outcome: LayerOutcome, scenario: Scenario,
                  rules: ModelRules | None = None) -> Group:
    """Everything about one layer's schedule, as rich renderables (see the module doc)."""
    return render(explain(outcome, scenario, rules))


def render(ex: LayerExplanation) -> Group:
    """The renderables of one explanation, top to bottom."""
    parts: list[RenderableType] = [_header(ex)]
    if ex.num_nodes > 1 or ex.scenario.hardware.num_nodes > 1:
        parts.append(_nodes(ex))
    parts += [_array_mapping(ex), loop_nest_table(ex), data_table(ex), energy_table(ex)]
    return Group(*parts)


def _num(value: float) -> str:
    """A count or energy: exact below 10,000, four significant digits with a suffix above."""
    if value == int(value) and abs(value) < 1e4:
        return str(int(value))
    return si(value, 4)


def layer_shape(layer: Layer) -> str:
    """One line: kind, input and output fmaps (channels x rows x cols), kernel, stride."""
    fin = f"{layer.in_channels}x{layer.in_h}x{layer.in_w}"
    fout = f"{layer.out_channels}x{layer.out_h}x{layer.out_w}"
    if layer.kind == "fc":
        return f"fc {fin} -> {layer.out_channels}"
    if layer.kind == "eltwise":
        return f"eltwise of {layer.inputs} inputs {layer.out_channels}x{layer.out_h}x" \
               f"{layer.out_w} -> {fout}"
    window = "kernel" if layer.kind in ("conv", "dwconv") else "window"
    groups = f", {layer.groups} groups" if layer.groups > 1 else ""
    return (f"{layer.kind} {fin} -> {fout}, {window} {layer.kernel_h}x{layer.kernel_w}, "
            f"stride {layer.stride_h}x{layer.stride_w}{groups}")


def _header(ex: LayerExplanation) -> RenderableType:
    lo, r, sc = ex.outcome, ex.outcome.result, ex.scenario
    text = Text()
    text.append(f"{lo.name}", style="bold")
    text.append(f": {layer_shape(lo.layer)}; batch {sc.batch}; {_num(r.ops)} ops\n")
    bound = "none proven" if lo.bound is None else _num(lo.bound)
    engine = f" (engine {lo.engine})" if lo.engine else ""
    text.append(f"energy {_num(r.energy)} {ENERGY_UNIT}; status {lo.status}{engine}; bound on "
                f"{sc.search.goal}: {bound}\n")
    text.append(f"time {_num(r.time)} cycles, the longest of: processing "
                f"{_num(r.proc_time)}, array bus {_num(r.bus_time)}, DRAM {_num(r.dram_time)}")
    g = lo.layer.groups
    if g > 1:
        text.append(f"\n{g} groups of {layer_shape(lo.layer.one_group())} run one after "
                    f"another with this schedule: the loop nest, fetch counts and buffer "
                    f"use below are one group's; ops, accesses, energy and time are all "
                    f"{g} groups'")
    return text


def _nodes(ex: LayerExplanation) -> RenderableType:
    sched = ex.outcome.schedule
    part, region = sched.partition, sched.region
    hw = ex.scenario.hardware
    lines = [f"region: {region.dims[0]}x{region.dims[1]} nodes at row {region.origin[0]}, "
             f"col {region.origin[1]} of the {hw.nodes[0]}x{hw.nodes[1]} array"]
    search = ex.scenario.search
    if search.interlayer or search.save_writeback:
        lines[0] += f"; pipeline segment {sched.segment}"
    splits = [f"{PARTITION_TITLES[k]} {h}x{w}" for k, (h, w)
              in zip(PARTITION_KINDS, part.factors, strict=True) if h * w > 1]
    lines.append(f"partition over {part.size} nodes: {', '.join(splits) or 'none'}")
    lines.append(f"  nested coarse to fine: {', '.join(part.order)}")
    lines.append(f"each node: {layer_shape(ex.node_layer)}, batch {ex.node_batch}")
    if ex.occupancy < 1:
        lines.append(f"  {ex.occupancy:.1%} of its work is real (uneven splits pad the rest)")
    r = ex.outcome.result
    for d in (Data.IFM, Data.OFM):
        if r.remote_gbuf[d]:
            verb = "read from" if d == Data.IFM else "written to"
            lines.append(f"{DATA_NAMES[d]}s {verb} on-chip buffers of the segment")
    if r.fetch[0][Data.FIL] == 0 and ex.outcome.layer.has_weights:
        lines.append("weights stay on chip for the whole run (no DRAM fetch)")
    if r.sharing is not None:
        groups = ", ".join(f"{n} {g}" for n, g in zip(DATA_NAMES, r.sharing.subgroup,
                                                      strict=True))
        if max(r.sharing.subgroup) > 1:
            lines.append(f"global buffers shared: each category's data spread over "
                         f"subgroups of nodes ({groups})")
            lines.append("  (rotation and wide fetches between them are NoC word-hops)")
        else:
            lines.append("global-buffer sharing is on, but every node keeps its own data "
                         "here")
    return _section("Nodes", lines)


def _section(title: str, lines: list[str]) -> Text:
    text = Text()
    text.append(title, style="bold")
    for line in lines:
        text.append("\n  " + line)
    return text


def _array_mapping(ex: LayerExplanation) -> RenderableType:
    m, nld, layer = ex.mapping, ex.nld, ex.node_layer
    row = "filter row" if layer.has_weights else "window row"
    strips = width_to_height(m)
    folded = (f"folded {m.fold[0]}x{m.fold[1]} (rows x cols) to {m.folded_set[0]}x"
              f"{m.folded_set[1]}, replicated {m.repl[0]}x{m.repl[1]}")
    if strips > 1:
        folded += f", ofmap rows in {strips} strips down the array"
    ifms = nld.repl_counts[Data.IFM]
    per_pass = (f"{ifms} input x {nld.repl_counts[Data.OFM]} output channels"
                if layer.is_conv else f"{nld.repl_counts[Data.OFM]} channels")
    regf = ", ".join(f"{n} {_num(v)}" for n, v in zip(DATA_NAMES, nld.usize_regf, strict=True)
                     if n in ex.data_names)
    return _section(f"Row-stationary mapping on the {m.pe_array[0]}x{m.pe_array[1]} PE array", [
        f"logical PE set {m.logical_set[0]}x{m.logical_set[1]}: one PE per {row} and ofmap "
        "row, for one input and one output channel",
        folded,
        f"busy: {m.physical_set[0]}x{m.physical_set[1]} PEs, utilisation {m.utilization:.1%}",
        f"candidate #{ex.outcome.schedule.mapping_index} of {len(m.candidates)}: a processing "
        f"pass covers {per_pass} in {_num(nld.unit_time)} cycles",
        f"loop counts i {nld.loopcnt[0]}, o {nld.loopcnt[1]}, b {nld.loopcnt[2]}; a pass "
        f"holds per PE (words): {regf}",
    ])


def loop_nest_table(ex: LayerExplanation) -> Fitted:
    """The loops from DRAM (outermost) to the PE array, and what each does to the data (the
    meanings wrap, then the rules go, when narrow)."""
    rows = []
    depth = 0
    level = None
    for row in ex.loops:
        if row.level != level:
            depth = 0
        first = row.level != level
        level = row.level
        keyword = "par" if row.spatial else "for"
        loop = Text("  " * depth + f"{keyword} {row.loop}")
        if row.factor == 1:
            loop.stylize("dim")
        elif row.level in ("DRAM", "GBUF"):
            depth += 1
        if row.innermost:
            loop.append(" *", style="bold")
        effects = [Text(row.effects.get(n, ""), style=EFFECT_STYLE[row.effects.get(n, "")])
                   for n in ex.data_names]
        rows.append((first, (row.level if first else "", loop, str(row.factor),
                             Text(row.meaning, style="dim" if row.factor == 1 else ""),
                             *effects)))

    def layout(wrap: bool, compact: bool) -> list:
        grid = Grid([Col("level"), Col("loop"), Col("factor", "right"),
                     Col("iterates over", wrap=wrap), *(Col(n) for n in ex.data_names)],
                    title="Loop nest (outermost first)", caption=_nest_caption(ex),
                    compact=compact)
        for i, (first, cells) in enumerate(rows):
            if first and i:
                grid.add_section()
            grid.add_row(*cells)
        return [grid]

    return Fitted(lambda: layout(False, False), lambda: layout(True, False),
                  lambda: layout(True, True))


def _nest_caption(ex: LayerExplanation) -> str:
    levels = "; ".join(f"{name}: {what}" for name, what in BLOCKING_LEVELS)
    return (f"{levels}; REGF loops have no order. * innermost non-trivial loop of its "
            f"level (only it decides reuse). new: the loop walks through the data; "
            f"re-fetch: the same data comes again from the level above each iteration; "
            f"reuse: it stays on chip, below this level. For ofmaps a re-fetch is a partial-sum "
            f"round trip. par: PEs side by side; one processing pass takes "
            f"{_num(ex.nld.unit_time)} cycles.")


def data_table(ex: LayerExplanation) -> Fitted:
    """Fetch counts, their causes, residency and buffer use per data category (two-line
    headers, then no rules, when narrow), and why each category is kept or bypasses."""
    r = ex.outcome.result
    hw = ex.scenario.hardware
    caption = (f"fetches: how often the whole data set crosses over (ofmaps: 2f - 1 for f "
               f"passes); because of: the loops (factor, level) whose iterations fetch it "
               f"again; words used per node of {hw.gbuf_words} in the global buffer and per "
               f"PE of {hw.regf_words} in the register file.")
    rows = []
    for flow in ex.flows:
        causes0 = _causes(flow.causes[0])
        causes1 = "as DRAM→GBUF" if flow.same_as_above else _causes(flow.causes[1])
        if flow.pinned:
            causes0 = "none: pinned on chip"
        rows.append((flow.data, "kept" if flow.resident else "bypass", str(flow.fetch[0]),
                     causes0, str(flow.fetch[1]), causes1, _num(flow.gbuf_words),
                     _num(flow.regf_words)))
    notes = Table.grid(padding=(0, 1))
    for flow in ex.flows:
        notes.add_row(Text(flow.data, style="bold"), flow.why)

    def layout(narrow: bool, compact: bool) -> list:
        sep = "\n" if narrow else ""
        heads = (("data", "left"), ("GBUF", "left"), (f"DRAM→{sep}GBUF", "right"),
                 ("because of", "left"), (f"GBUF→{sep}REGF", "right"), ("because of", "left"),
                 (f"GBUF{sep or ' '}words", "right"), (f"REGF{sep or ' '}words", "right"))
        grid = Grid([Col(h, just, wrap=h == "because of") for h, just in heads], title="Data",
                    caption=caption, compact=compact)
        for row in rows:
            grid.add_row(*row)
        grid.add_section()
        grid.add_row("total", "", "", "", "", "", _num(sum(r.size_gbuf)), _num(sum(r.size_regf)))
        return [grid, notes]

    return Fitted(lambda: layout(False, False), lambda: layout(True, False),
                  lambda: layout(True, True))


def _causes(causes) -> str:
    if not causes:
        return "-"
    return " x ".join(f"{loop}{factor} ({level})" for level, loop, factor in causes)


def energy_table(ex: LayerExplanation) -> Fitted:
    """Accesses per level and data category, and each level's energy; rows add up to the
    layer's energy. When narrow, the levels go by their short names (those of the solve
    table's columns), then the unit column goes."""
    r = ex.outcome.result
    caption = ("counts are words (word-hops on the NoC) over all nodes; the global buffer row "
               "includes reads of other nodes' buffers; energy = cost x count.")
    offset = len(DATA_NAMES) - len(ex.data_names)

    def layout(short: bool, with_unit: bool) -> list:
        cols = [Col("level"), Col("cost", "right"), *(Col(n, "right") for n in ex.data_names),
                Col("count", "right"), *([Col("unit")] if with_unit else []),
                Col("energy", "right"), Col("share", "right")]
        text = caption
        if short:
            text += " Levels: " + ", ".join(f"{row.key} = {row.title}"
                                            for row in ex.energy_rows) + "."
        if not with_unit:
            text += (" count: " + ", ".join(f"{row.unit} for {row.key}"
                                            for row in ex.energy_rows if row.unit != "words")
                     + ", words for the others.")
        grid = Grid(cols, title=f"Accesses and energy ({ENERGY_UNIT})", caption=text,
                    compact=short)
        for row in ex.energy_rows:
            counts = [_num(c) for c in row.counts[offset:]] if row.counts else \
                [""] * len(ex.data_names)
            share = row.energy / r.energy if r.energy else 0.0
            grid.add_row(row.key if short else row.title, f"{row.unit_cost:g}", *counts,
                         _num(row.total), *([row.unit] if with_unit else []),
                         _num(row.energy), f"{share:.1%}")
        grid.add_section()
        grid.add_row("total", "", *[""] * len(ex.data_names), "", *([""] if with_unit else []),
                     _num(r.energy), "100.0%", style="bold")
        return [grid]

    return Fitted(lambda: layout(False, True), lambda: layout(True, True),
                  lambda: layout(True, False))


# -- the command -----------------------------------------------------------------------------










