"""Pictures of results (matplotlib, Agg backend): the per-layer energy breakdown, the node
regions of pipelined segments, a comparison of methods, and the energy/delay Pareto front of a
sweep.

matplotlib is an optional extra (``pip install 'nnsolve[plot]'``); it is imported only when a
picture is drawn, so ``import nnsolve`` never needs it. Figures are built without pyplot, so
drawing touches no global matplotlib state and needs no screen.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NnsolveError
from ..formats.files import write_bytes
from ..hardware.regions import NodeRegion, processing_region
from ..model.goals import goal_value
from ..results import BREAKDOWN_KEYS, NetworkResult
from .tables import si

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

    from ..scenario import Scenario
    from ..search.compare import Comparison

#: Colour of each energy category, fixed so that every picture reads the same.
CATEGORY_COLOURS = {
    "mac": "#4c72b0", "dram": "#c44e52", "gbuf": "#dd8452", "itcn": "#8172b3",
    "regf": "#55a868", "noc": "#937860", "static": "#8c8c8c",
}
CATEGORY_NAMES = {
    "mac": "MAC", "dram": "DRAM", "gbuf": "global buffer", "itcn": "array interconnect",
    "regf": "register file", "noc": "NoC", "static": "static",
}
#: Colours of the methods in a comparison and of the spatial entries of a segment.
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
           "#8c8c8c", "#ccb974", "#64b5cd")

MAX_REGION_PANELS = 24      # segments drawn by default in a region map
_DPI = 110


# -- matplotlib plumbing ------------------------------------------------------------------

def require_matplotlib() -> None:
    """A clear error when the plot extra is not installed (the CLI asks before solving)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise NnsolveError("plots need matplotlib: pip install 'nnsolve[plot]'") from None


def _new_figure(width: float, height: float) -> Figure:
    """An empty figure on an Agg canvas (no pyplot, no screen), laid out automatically; a
    clear error when the plot extra is not installed."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def check_output(path: str | Path) -> str:
    """The picture format a path asks for (its suffix; PNG when it has none), or a clear
    error when matplotlib is missing or cannot write that format. Call it before solving."""
    require_matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase

    fmt = Path(path).suffix.lower().lstrip(".") or "png"
    supported = FigureCanvasBase.get_supported_filetypes()
    if fmt not in supported:
        raise NnsolveError(f"{path}: cannot draw a .{fmt} file; use one of "
                           f"{', '.join('.' + s for s in sorted(supported))}")
    return fmt


def _save(fig: Figure, path: str | Path) -> None:
    """Write the figure atomically in the format its suffix names."""
    fmt = check_output(path)
    data = io.BytesIO()
    fig.savefig(data, format=fmt, dpi=_DPI)
    try:
        write_bytes(data.getvalue(), path)
    except OSError as exc:
        raise NnsolveError(f"cannot write {path}: {exc.strerror or exc}") from None


def _plain(text: str) -> str:
    """User text (a name) for a figure, drawn as it is: each ``$`` escaped, so that no name
    is read as mathtext (which could fail on it)."""
    return text.replace("$", r"\$")


def _eng_axis(axis) -> None:
    """Tick labels with SI prefixes (k, M, G), as in the tables."""
    from matplotlib.ticker import EngFormatter

    axis.set_major_formatter(EngFormatter(sep=""))


def _layer_ticks(ax: Axes, names: Sequence[str], max_labels: int = 70) -> None:
    """Layer names under the bars: rotated when there are many, and thinned to every k-th one
    when there are too many to read."""
    n = len(names)
    step = max(1, math.ceil(n / max_labels))
    ticks = list(range(0, n, step))
    ax.set_xticks(ticks)
    size = 9 if n <= 30 else 7 if n <= 100 else 6
    ax.set_xticklabels([_plain(names[i]) for i in ticks], rotation=90 if n > 8 else 0,
                       fontsize=size)
    ax.set_xlim(-0.6, n - 0.4)
    if step > 1:
        nth = {2: "2nd", 3: "3rd"}.get(step, f"{step}th")
        ax.set_xlabel(f"layer (network order; every {nth} name shown)", fontsize=8)
    else:
        ax.set_xlabel("layer (network order)", fontsize=8)


def _width_for(layers: int) -> float:
    """Figure width (inches) that gives each of ``layers`` bars some room."""
    return min(24.0, max(8.0, 3.0 + 0.12 * layers))


# -- energy breakdown ---------------------------------------------------------------------

def energy_breakdown(result: NetworkResult, ax: Axes | None = None,
                     unit: str = "cost units") -> Axes:
    """One stacked bar per layer (network order) of its energy by category (MAC, DRAM, global
    buffer, array interconnect, register file, NoC, static), for seeing where a schedule
    spends its energy. Categories that are zero in every layer are left out. Draws on ``ax``
    (a new figure when None) and returns the axes; ``unit`` names the energy unit on the y axis.
    """
    if ax is None:
        ax = _new_figure(_width_for(len(result.layers)), 4.8).add_subplot()
    names = [lo.name for lo in result.layers]
    x = list(range(len(names)))
    bottom = [0.0] * len(names)
    for key in BREAKDOWN_KEYS:
        values = [lo.result.breakdown[key] for lo in result.layers]
        if not any(values):
            continue
        ax.bar(x, values, 0.8, bottom=bottom, color=CATEGORY_COLOURS[key],
               label=CATEGORY_NAMES[key], linewidth=0)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _layer_ticks(ax, names)
    ax.set_ylabel(f"energy ({unit})")
    _eng_axis(ax.yaxis)
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(f"{_plain(result.scenario)}: energy per layer, {result.method} "
                 f"(total {si(result.energy)}, {result.status})", loc="left", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    if handles:       # top category first, as stacked
        ax.legend(handles[::-1], labels[::-1], fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.005, 1.0), frameon=False)
    return ax


# -- node regions of pipelined segments ---------------------------------------------------

def segment_regions(segment, nodes: tuple[int, int]) -> list[NodeRegion]:
    """The node regions of a segment's spatial entries, with their zig-zag folds.

    Results keep only each region's origin and dims; the fold follows from the allocation
    along the chip's zig-zag path (``NodeRegion.allocate``), which is redone here and checked
    against the stored origins. Regions that do not match are drawn as plain rectangles.
    """
    stored = list(segment.regions)
    chip = processing_region(tuple(nodes))
    if len(stored) > 1:
        counts = [r.dims[0] * r.dims[1] for r in stored]
        redone = chip.allocate(counts)
        if len(redone) == len(stored) and all(
                a.origin == tuple(b.origin) and a.dims == tuple(b.dims)
                for a, b in zip(redone, stored, strict=True)):
            return redone
    return [NodeRegion(tuple(r.dims), tuple(r.origin)) for r in stored]


def _entry_label(entry: Sequence[str], limit: int = 30) -> str:
    """A spatial entry as 'a > b > c', shortened to 'a > ... > z (n)' when long."""
    text = " > ".join(entry)
    if len(text) > limit and len(entry) > 2:
        text = f"{entry[0]} > ... > {entry[-1]} ({len(entry)})"
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return text


def _draw_segment(ax: Axes, index: int, segment, nodes: tuple[int, int],
                  numbers: bool) -> list[str]:
    """One segment on the node grid: each node coloured by its spatial entry, a line through
    each region in allocation (zig-zag) order from a dot at its first node column, and with
    ``numbers`` each node's index inside its region (relative row-major: the order partitions
    are laid onto nodes). Returns the entries' colours."""
    import numpy as np
    from matplotlib.colors import ListedColormap

    rows, cols = nodes
    grid = np.full((rows, cols), -1, dtype=int)
    regions = segment_regions(segment, nodes)
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(regions))]
    for e, region in enumerate(regions):
        for r, c in region.nodes:
            if 0 <= r < rows and 0 <= c < cols:
                grid[r, c] = e
    cmap = ListedColormap(["#f4f4f4", *colours])
    ax.imshow(grid + 1, cmap=cmap, vmin=0, vmax=len(colours), interpolation="nearest",
              extent=(-0.5, cols - 0.5, rows - 0.5, -0.5), alpha=0.85)
    ax.set_xticks([x - 0.5 for x in range(1, cols)], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, rows)], minor=True)
    ax.grid(which="minor", color="white", linewidth=0.8 if rows * cols <= 256 else 0.4)
    ax.tick_params(which="both", length=0, labelsize=6, pad=1)
    ax.set_xticks([0, cols - 1] if cols > 1 else [0])
    ax.set_yticks([0, rows - 1] if rows > 1 else [0])
    small = rows * cols <= 16
    for region in regions:
        h, w = region.dims
        centres = []
        for rw in range(w):
            cells = [region.rel2abs((rh, rw)) for rh in range(h)]
            centres.append((sum(c for _, c in cells) / h, sum(r for r, _ in cells) / h))
        xs, ys = zip(*centres, strict=True)
        ax.plot(xs, ys, color="black", linewidth=1.0, alpha=0.8, solid_capstyle="round")
        ax.plot(xs[:1], ys[:1], "o", color="black", markersize=3.5 if small else 2.5)
        if len(centres) > 1:
            ax.annotate("", xy=centres[-1], xytext=centres[-2],
                        arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.0,
                                    "shrinkA": 0, "shrinkB": 0, "mutation_scale": 8})
        if numbers:
            for k, (r, c) in enumerate(region.nodes):
                ax.text(c + 0.28, r - 0.22, str(k), fontsize=6 if small else 5,
                        ha="center", va="center", color="0.15")
    ax.set_title(f"segment {index}", fontsize=8, pad=3)
    return colours


@dataclass(frozen=True)
class _RegionGrid:
    """How a region map is laid out: which segments, in how many panel columns and rows,
    each panel ``side`` inches square with room for its entries' names under it."""

    shown: int
    total: int
    columns: int
    side: float
    lines: tuple[int, ...]          # legend lines under each row of panels
    width: float

    @classmethod
    def plan(cls, result: NetworkResult, nodes: tuple[int, int], max_panels: int,
             width: float | None = None) -> _RegionGrid:
        """The layout for a figure ``width`` inches wide (None: as wide as needed for at most
        six panels a row); panels keep their size, so a wide figure has spare columns."""
        segments = result.segments or []
        shown = min(len(segments), max_panels)
        side = 1.6 if max(nodes) <= 8 else 2.4
        slot = side + 0.55
        if width is None:
            width = max(6.0, min(shown, 6) * slot + 0.3)
        columns = max(1, int((width - 0.3) // slot))
        counts = [len(seg.layers) for seg in segments[:shown]]
        lines = tuple(max(counts[i:i + columns]) for i in range(0, len(counts), columns))
        return cls(shown, len(segments), columns, side, lines, width)

    def heights(self) -> list[float]:
        """Heights (inches) of the gridspec rows: panel row, its legend row, and so on."""
        out = []
        for n in self.lines:
            out += [self.side + 0.35, 0.14 * n + 0.08]
        return out

    @property
    def height(self) -> float:
        return 0.55 + sum(self.heights())


def _draw_regions(fig: Figure | SubFigure, result: NetworkResult, nodes: tuple[int, int],
                  layout: _RegionGrid) -> None:
    """The region map's panels, into a figure or subfigure."""
    from matplotlib.patches import Patch

    segments = result.segments or []
    grid = fig.add_gridspec(2 * len(layout.lines), layout.columns,
                            height_ratios=layout.heights())
    numbers = nodes[0] * nodes[1] <= 64
    for i in range(layout.shown):
        row, col = divmod(i, layout.columns)
        ax = fig.add_subplot(grid[2 * row, col])
        ax.set_anchor("SW")         # next to its names below
        colours = _draw_segment(ax, i, segments[i], nodes, numbers)
        names = fig.add_subplot(grid[2 * row + 1, col])
        names.axis("off")
        names.legend(handles=[Patch(facecolor=colours[e], label=_plain(_entry_label(entry)))
                              for e, entry in enumerate(segments[i].layers)],
                     loc="upper left", fontsize=6.5, frameon=False, handlelength=1.0,
                     handleheight=0.8, borderaxespad=0.0, borderpad=0.0, labelspacing=0.25)
    more = (f"; the first {layout.shown} of {layout.total} segments"
            if layout.shown < layout.total else "")
    title = (f"{_plain(result.scenario)}: node regions of the pipeline segments ({nodes[0]}x"
             f"{nodes[1]} nodes, row 0 at the top{more}). Colour: spatial entry (layers "
             "joined by '>' run one after another); line: allocation (zig-zag) order of each "
             "region from its dot" + ("; numbers: node order inside the region" if numbers
                                      else "") + ".")
    fig.suptitle(textwrap.fill(title, int(layout.width * 15)), fontsize=8.5, x=0.01,
                 ha="left")


def region_map(result: NetworkResult, nodes: tuple[int, int],
               max_panels: int = MAX_REGION_PANELS) -> Figure:
    """The node grid of a pipelined result, one small panel per segment in order: each node
    coloured by the spatial entry (layer, or chain of temporal layers) it runs, with the
    zig-zag order of nodes in each region drawn on top, for checking how the chip was split.

    ``nodes`` is the chip's node array (rows, cols). At most ``max_panels`` segments are drawn
    (the first ones, said in the title), in a grid of panels. Returns the figure.
    """
    if not result.segments:
        raise NnsolveError("a region map needs a pipelined result (search.interlayer or "
                           "search.save_writeback)")
    if max_panels < 1:
        raise NnsolveError("max_panels must be at least 1")
    nodes = (int(nodes[0]), int(nodes[1]))
    layout = _RegionGrid.plan(result, nodes, max_panels)
    fig = _new_figure(layout.width, layout.height)
    _draw_regions(fig, result, nodes, layout)
    return fig


# -- a whole result -----------------------------------------------------------------------

def result_figure(result: NetworkResult, scenario: Scenario,
                  max_panels: int = MAX_REGION_PANELS) -> Figure:
    """The picture ``plot_result`` writes: the energy breakdown, and under it the region
    map when the result is pipelined."""
    costs = scenario.costs
    unit = f"cost units: MAC {costs.mac:g}, DRAM word {costs.dram:g}"
    width = _width_for(len(result.layers))
    if not result.segments:
        fig = _new_figure(width, 4.8)
        energy_breakdown(result, fig.add_subplot(), unit)
        return fig
    nodes = tuple(scenario.hardware.nodes)
    layout = _RegionGrid.plan(result, nodes, max_panels,
                              max(width, _RegionGrid.plan(result, nodes, max_panels).width))
    fig = _new_figure(layout.width, 4.8 + layout.height)
    top, bottom = fig.subfigures(2, 1, height_ratios=[4.8, layout.height])
    energy_breakdown(result, top.add_subplot(), unit)
    _draw_regions(bottom, result, nodes, layout)
    return fig


def plot_result(result: NetworkResult, scenario: Scenario, path: str | Path) -> None:
    """Write one picture of a solve or evaluate result to ``path`` (PNG, or the format of its
    suffix): the per-layer energy breakdown and, for a pipelined result, the node regions of
    its segments under it, in the same file (at most ``MAX_REGION_PANELS`` segments)."""
    fig = result_figure(result, scenario)
    _save(fig, path)


# -- comparison of methods ----------------------------------------------------------------

def _goal_unit(goal: str) -> str:
    return {"energy": "energy (cost units)", "delay": "time (cycles)",
            "edp": "energy x time (cost units x cycles)"}.get(goal, goal)


def comparison_figure(cmp: Comparison) -> Figure:
    """The picture ``plot_comparison`` writes (see there)."""
    methods = list(cmp.results)
    if not methods:
        raise NnsolveError("nothing to plot: no method solved the scenario")
    first = cmp.results[methods[0]]
    names = [lo.name for lo in first.layers]
    n = len(names)
    values = {m: [goal_value(lo.result.energy, lo.result.time, cmp.goal)
                  for lo in cmp.results[m].layers] for m in methods}
    optima = [cmp.layer_optimum(i) for i in range(n)]
    # Methods without a proof for the whole network (a pipelined result's layers may each be
    # optimal for their segment while its chain of segments is not).
    heuristics = [m for m in methods if cmp.results[m].status != "optimal"
                  or any(lo.status != "optimal" for lo in cmp.results[m].layers)]
    losses = {m: [cmp.loss(values[m][i], optima[i]) for i in range(n)] for m in heuristics}
    colour = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}

    fig = _new_figure(_width_for(n * max(1, len(methods)) / 2 + n / 2), 7.2)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    width = 0.8 / len(methods)
    for k, m in enumerate(methods):
        xs = [i - 0.4 + width * (k + 0.5) for i in range(n)]
        top.bar(xs, values[m], width, color=colour[m], label=m, linewidth=0)
    proven = [i for i, opt in enumerate(optima) if opt is not None]
    if proven:
        top.hlines([optima[i] for i in proven], [i - 0.45 for i in proven],
                   [i + 0.45 for i in proven], color="black", linewidth=1.2,
                   label="proven optimum")
    _scale(top, "y", [v for m in methods for v in values[m]])
    top.set_ylabel(_goal_unit(cmp.goal), fontsize=9)
    top.grid(axis="y", color="0.9", linewidth=0.6)
    top.set_axisbelow(True)
    top.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
    optimum = cmp.optimum()
    totals = []
    for m in methods:
        r = cmp.results[m]
        loss = cmp.loss(r.value, optimum)
        totals.append(f"{m} {si(r.value)} {r.status}"
                      + (f" (+{loss:.2%})" if loss else ""))
    summary = textwrap.fill("whole network: " + ", ".join(totals),
                            int(fig.get_figwidth() * 13))
    top.set_title(f"{_plain(cmp.scenario)}: {cmp.goal} per layer by method\n{summary}", loc="left",
                  fontsize=9)

    missing = [i for i, opt in enumerate(optima) if opt is None]
    for j, i in enumerate(missing):
        bottom.axvspan(i - 0.5, i + 0.5, color="0.92", linewidth=0,
                       label="no proven optimum" if j == 0 else None)
    if any(loss is not None for m in heuristics for loss in losses[m]):
        width = 0.8 / len(heuristics)
        annotate = n <= 25 and len(heuristics) <= 3
        for k, m in enumerate(heuristics):
            xs, ys = [], []
            for i in range(n):
                loss = losses[m][i]
                if loss is not None:
                    xs.append(i - 0.4 + width * (k + 0.5))
                    ys.append(100 * loss)
            bars = bottom.bar(xs, ys, width, color=colour[m], label=m, linewidth=0)
            if annotate:
                bottom.bar_label(bars, labels=[f"{y:.2f}%" if y else "0" for y in ys],
                                 fontsize=6, padding=1)
        bottom.set_ylabel("loss vs proven optimum (%)", fontsize=9)
        bottom.set_title("loss of each method without proofs, per layer", loc="left",
                         fontsize=9)
        bottom.margins(y=0.15)
        high = bottom.get_ylim()[1]
        bottom.set_ylim(0, high if high > 0 else 1)     # losses are never negative
    else:
        bottom.text(0.5, 0.5, _no_losses(cmp, heuristics, int(fig.get_figwidth() * 11)),
                    transform=bottom.transAxes, ha="center", va="center", fontsize=9)
        bottom.set_yticks([])
    bottom.axhline(0, color="0.4", linewidth=0.6)
    bottom.grid(axis="y", color="0.9", linewidth=0.6)
    bottom.set_axisbelow(True)
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
    _layer_ticks(bottom, names)
    if cmp.failures:
        why = "; ".join(f"{m}: {reason}" for m, reason in cmp.failures.items())
        why = textwrap.shorten(why, 3 * int(fig.get_figwidth() * 16), placeholder=" ...")
        fig.supxlabel(textwrap.fill("not applicable: " + why, int(fig.get_figwidth() * 16)),
                      x=0.01, ha="left", fontsize=7, color="0.3")
    return fig


def _no_losses(cmp: Comparison, heuristics: list[str], width: int) -> str:
    """What the loss panel says when it has no bar to draw: that there is no loss, or why
    none can be computed, and what the best bound says about the whole network."""
    if not heuristics:
        return "every method proved the whole network optimal: no losses"
    lines = [cmp.layer_losses_note() or "no method proved a layer optimal: no per-layer loss"]
    bound = cmp.best_bound()
    if cmp.optimum() is None and bound is not None:
        at_most = ", ".join(f"{m} ≤{cmp.loss_at_most(cmp.results[m].value):.2%}"
                            for m in heuristics)
        lines.append(f"whole network: no method proved an optimum; against the best bound "
                     f"({si(bound)}), each method's excess over the optimum is at most: "
                     f"{at_most}")
    return "\n\n".join(textwrap.fill(line, width) for line in lines)


def plot_comparison(cmp: Comparison, path: str | Path) -> None:
    """Write a picture of a comparison of methods to ``path``: top, each method's goal value
    per layer as grouped bars with the proven optimum marked; bottom, the loss (percent over
    the proven optimum) of each method that did not prove every layer optimal. The title
    gives each method's whole-network value and loss, as the comparison tables do."""
    _save(comparison_figure(cmp), path)


# -- Pareto front of a sweep ---------------------------------------------------------------

Point = tuple[str, float, float]


def pareto_front(points: Sequence[Point]) -> list[int]:
    """The indices of the points (label, time in cycles, energy) that no other point
    dominates, minimising both time and energy, sorted by time (then energy, then index).

    A point is dominated when another is no worse in both and better in one; equal points do
    not dominate each other, so all copies of a front point are kept. Points with a NaN
    coordinate are never on the front.
    """
    order = sorted((i for i, (_, t, e) in enumerate(points)
                    if not (math.isnan(t) or math.isnan(e))),
                   key=lambda i: (points[i][1], points[i][2], i))
    front: list[int] = []
    best: float | None = None     # least energy among points of strictly smaller time
    k = 0
    while k < len(order):
        t = points[order[k]][1]
        group = []
        while k < len(order) and points[order[k]][1] == t:
            group.append(order[k])
            k += 1
        least = points[group[0]][2]           # the group is sorted by energy
        if best is None or least < best:
            front.extend(i for i in group if points[i][2] == least)
            best = least
    return front


def _labels_at(points: Sequence[Point], indices: list[int]) -> list[tuple[tuple, str]]:
    """One label per distinct (time, energy) among ``indices``, equal points' labels joined,
    in the order first met."""
    at: dict[tuple[float, float], list[str]] = {}
    for i in indices:
        at.setdefault((points[i][1], points[i][2]), []).append(str(points[i][0]))
    return [(xy, ", ".join(labels)) for xy, labels in at.items()]


def pareto_figure(points: Sequence[Point], title: str = "") -> Figure:
    """The picture ``pareto_plot`` writes (see there)."""
    fig = _new_figure(8.0, 5.6)
    ax = fig.add_subplot()
    finite = [i for i, (_, t, e) in enumerate(points) if math.isfinite(t) and math.isfinite(e)]
    shown = set(finite)
    front = [i for i in pareto_front(points) if i in shown]
    on_front = set(front)
    others = [i for i in finite if i not in on_front]
    ax.scatter([points[i][1] for i in others], [points[i][2] for i in others], s=22,
               color="0.65", label="dominated", zorder=2)
    ax.plot([points[i][1] for i in front], [points[i][2] for i in front], color="#c44e52",
            drawstyle="steps-post", linewidth=1.2, zorder=3)
    ax.scatter([points[i][1] for i in front], [points[i][2] for i in front], s=40,
               color="#c44e52", edgecolor="black", linewidth=0.6, label="Pareto front",
               zorder=4)
    _scale(ax, "x", [points[i][1] for i in finite])
    _scale(ax, "y", [points[i][2] for i in finite])
    ax.set_xlabel("delay (cycles)")
    ax.set_ylabel("energy (cost units)")
    ax.grid(color="0.92", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.margins(0.08)
    dropped = len(points) - len(finite)
    head = _plain(title) or "energy against delay"
    ax.set_title(f"{head}: {len(front)} of {len(points)} runs on the Pareto front"
                 + (f" ({dropped} without a finite result not drawn)" if dropped else ""),
                 loc="left", fontsize=10)
    if not finite:
        ax.text(0.5, 0.5, "no run has a finite time and energy", transform=ax.transAxes,
                ha="center", va="center")
        return fig
    ax.legend(fontsize=8, loc="best")
    front_style = {"fontsize": 8, "color": "#7a1f22"}
    other_style = {"fontsize": 7, "color": "0.4"}
    left_out = _place_labels(
        fig, ax, [(xy, label, front_style, True) for xy, label in _labels_at(points, front)]
        + [(xy, label, other_style, False) for xy, label in _labels_at(points, others)])
    if left_out:
        runs = "run" if left_out == 1 else "runs"
        ax.text(0.99, 0.01, f"labels of {left_out} crowded dominated {runs} left out",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.4")
    return fig


def _scale(ax: Axes, which: str, values: list[float]) -> None:
    """A log scale when the values span more than a decade and a half, with SI tick labels
    (and labelled 2x and 5x minor ticks while the span is short)."""
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    if values and min(values) > 0 and max(values) / min(values) > 30:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        axis.set_major_formatter(EngFormatter(sep=""))
        if max(values) / min(values) < 1000:
            axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
            axis.set_minor_formatter(EngFormatter(sep=""))
        else:
            axis.set_minor_formatter(NullFormatter())
    else:
        _eng_axis(axis)


def _place_labels(fig: Figure, ax: Axes, items: list[tuple[tuple, str, dict, bool]]) -> int:
    """Label points without overlaps: each label takes the first of a few positions around
    its point that stays inside the axes and clear of the legend, the points and the labels
    already placed. A required label that finds no free spot takes the first position; any
    other is left out. Freezes the figure's layout (labels are placed in screen space).
    Returns how many labels were left out."""
    from matplotlib.transforms import Bbox

    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    taken = [ax.get_legend().get_window_extent(renderer)]
    for xy, *_ in items:
        x, y = ax.transData.transform(xy)
        taken.append(Bbox.from_extents(x - 4, y - 4, x + 4, y + 4))
    spots = [(6, 4, "left", "bottom"), (6, -4, "left", "top"), (-6, 4, "right", "bottom"),
             (-6, -4, "right", "top"), (0, 8, "center", "bottom"), (0, -8, "center", "top")]
    left_out = 0
    for xy, label, style, required in items:
        for dx, dy, ha, va in spots:
            text = ax.annotate(_plain(label), xy, xytext=(dx, dy), textcoords="offset points",
                               ha=ha, va=va, **style)
            box = text.get_window_extent(renderer)
            inside = (frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
                      and box.y1 <= frame.y1)
            if inside and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                break
            text.remove()
        else:
            if required:
                dx, dy, ha, va = spots[0]
                ax.annotate(_plain(label), xy, xytext=(dx, dy), textcoords="offset points",
                            ha=ha, va=va, **style)
            else:
                left_out += 1
    return left_out


def pareto_plot(points: Sequence[Point], path: str | Path, title: str = "") -> None:
    """Write the energy-against-delay picture of a sweep to ``path``: every run (label,
    time in cycles, energy) as a point, the non-dominated ones highlighted, labelled and
    joined by a step line (the edge of what they dominate)."""
    _save(pareto_figure(points, title), path)
