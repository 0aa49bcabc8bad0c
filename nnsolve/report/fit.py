"""Tables that fit the terminal they are printed on.

A table is described as a ``Grid`` (columns, rows, title and caption) and drawn with rich.
``Fitted`` holds a few layouts of the same content, from the widest to the most compact
(two-line headers, short row names with a legend, columns that hold no information left out
and named, a second table for what does not fit, no vertical rules), and draws, at the width
of the console it is printed on, the first layout whose tables fit at their natural width;
failing that, the first in which only the columns marked ``wrap`` (prose, lists of names)
need narrowing, each keeping at least ``MIN_WRAP`` cells; failing that, the last one.

Numbers and names are never cut short with an ellipsis: only ``wrap`` columns are narrowed,
wrapping at spaces. A table that cannot fit even so is drawn in blocks of columns one under
the other, each block repeating the first column (as R prints a wide data frame), and a
block that still does not fit folds its cells onto more lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.constrain import Constrain
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

#: The fewest cells a wrapping column is narrowed to (unless its text is narrower).
MIN_WRAP = 20
#: Captions wrap at the table's width, or at this many cells when the table is narrower (and
#: the console wide enough), so that a narrow table does not squeeze its caption.
CAPTION_WIDTH = 100
#: The compact style: no vertical rules or border, a rule under the header and between
#: sections (the columns are set apart by spaces).
COMPACT_BOX = box.Box("    \n"
                      "    \n"
                      " ── \n"
                      "    \n"
                      " ── \n"
                      " ── \n"
                      "    \n"
                      "    \n")
_UNBOUNDED = 10_000

Row = tuple[tuple[Any, ...], "str | None", bool]      # cells, style, ends a section


@dataclass
class Col:
    """One column: its header (may hold a line break), justification, and whether its text
    may wrap at spaces when the table is too wide (``wrap``; other columns keep every cell on
    one line)."""

    header: Any
    justify: str = "left"
    wrap: bool = False
    style: str | None = None


@dataclass
class Grid:
    """A table's content, drawn as a rich Table that fits a given width by ``render``."""

    columns: list[Col]
    title: str | None = None
    caption: str | None = None
    compact: bool = False           # no vertical rules or outer border
    rows: list[Row] = field(default_factory=list)
    _sizes: list[tuple[int, int]] | None = field(default=None, init=False, repr=False)

    def add_row(self, *cells: Any, style: str | None = None) -> None:
        """A row of cells (str or Text), one per column. A str is shown as it is, never
        read as rich markup or emoji codes (cells hold names users chose)."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        cells = tuple(Text(c) if isinstance(c, str) else c for c in cells)
        self.rows.append((cells, style, False))
        self._sizes = None

    def add_section(self) -> None:
        """A rule under the last row."""
        if self.rows:
            cells, style, _ = self.rows[-1]
            self.rows[-1] = (cells, style, True)

    def select(self, indices: Sequence[int]) -> Grid:
        """The same table with only the columns at ``indices``, and no title or caption."""
        return replace(self, columns=[self.columns[i] for i in indices], title=None,
                       caption=None, rows=[(tuple(cells[i] for i in indices), style, end)
                                           for cells, style, end in self.rows])

    def _style(self) -> dict[str, Any]:
        if self.compact:
            return {"box": COMPACT_BOX, "show_edge": False, "pad_edge": False,
                    "collapse_padding": True}
        return {}

    def _table(self, widths: Sequence[int | None] | None = None, fold: bool = False) -> Table:
        table = Table(**self._style())
        for i, col in enumerate(self.columns):
            table.add_column(col.header, justify=col.justify, style=col.style,
                             no_wrap=not (col.wrap or fold), overflow="fold",
                             width=widths[i] if widths is not None else None)
        for cells, row_style, end_section in self.rows:
            table.add_row(*cells, style=row_style, end_section=end_section)
        return table

    def _column_widths(self, console: Console, options: ConsoleOptions
                       ) -> list[tuple[int, int]]:
        """(natural, least) content width of each column; least is below natural only for
        wrapping columns (their longest word, at least MIN_WRAP)."""
        if self._sizes is not None:
            return self._sizes
        wide = options.update_width(_UNBOUNDED)
        out = []
        for i, col in enumerate(self.columns):
            cells = [col.header, *(cells[i] for cells, _, _ in self.rows)]
            sizes = [Measurement.get(console, wide, cell) for cell in cells]
            natural = max(s.maximum for s in sizes)
            least = natural
            if col.wrap:
                least = min(natural, max(MIN_WRAP, max(s.minimum for s in sizes)))
            out.append((natural, least))
        self._sizes = out
        return out

    def measure(self, console: Console, options: ConsoleOptions) -> tuple[int, int]:
        """(natural, least) width of the whole table, borders and padding included."""
        sizes = self._column_widths(console, options)
        # Borders and padding: what a table of the same columns adds to one-cell contents.
        probe = Table(show_header=False, **self._style())
        for col in self.columns:
            probe.add_column(justify=col.justify)
        probe.add_row(*["x"] * len(self.columns))
        extra = Measurement.get(console, options.update_width(_UNBOUNDED), probe).maximum \
            - len(self.columns)
        return (sum(n for n, _ in sizes) + extra, sum(least for _, least in sizes) + extra)

    def render(self, console: Console, options: ConsoleOptions) -> RenderableType:
        """The table at the console's width (in blocks of columns if it must), and its
        caption under it."""
        width = options.max_width
        natural, least = self.measure(console, options)
        text_width = min(width, max(natural, CAPTION_WIDTH))
        parts: list[RenderableType] = []
        if self.title:
            parts.append(Constrain(Text(self.title, style="table.title"), text_width))
        if least <= width or len(self.columns) <= 2:
            parts.append(self.table(console, options))
        else:
            parts += [block.table(console, options) for block in self._blocks(console, options)]
        if self.caption:
            parts.append(Constrain(Text(self.caption, style="table.caption"), text_width))
        return Group(*parts)

    def _blocks(self, console: Console, options: ConsoleOptions) -> list[Grid]:
        """The columns in consecutive blocks that fit, each led by the first column."""
        blocks: list[list[int]] = []
        for i in range(1, len(self.columns)):
            if blocks and self.select([0, *blocks[-1], i]).measure(console, options)[1] \
                    <= options.max_width:
                blocks[-1].append(i)
            else:
                blocks.append([i])
        return [self.select([0, *block]) for block in blocks]

    def table(self, console: Console, options: ConsoleOptions) -> Table:
        """The rich Table (without its caption) at the console's width: wrapping columns
        narrowed (widest first) just enough to fit; when that is not enough, every cell may
        fold."""
        width = options.max_width
        natural, least = self.measure(console, options)
        if natural <= width:
            return self._table()
        if least > width:
            return self._table(fold=True)
        sizes = self._column_widths(console, options)
        widths = [n for n, _ in sizes]
        for _ in range(natural - width):
            i = max((i for i, (_, least) in enumerate(sizes) if widths[i] > least),
                    key=lambda i: widths[i])
            widths[i] -= 1
        return self._table([w if self.columns[i].wrap else None
                            for i, w in enumerate(widths)])


Layout = Callable[[], Sequence["RenderableType | Grid"]]


class Fitted:
    """Renderable: the first of several layouts of the same tables that fits the console
    (see the module doc). Each layout is a function returning renderables, among them Grids,
    which are the parts that must fit."""

    def __init__(self, *layouts: Layout):
        if not layouts:
            raise ValueError("Fitted needs at least one layout")
        self.layouts = layouts

    def choose(self, console: Console, options: ConsoleOptions
               ) -> list[RenderableType | Grid]:
        """The parts of the layout drawn at ``options.max_width``."""
        width = options.max_width
        fallback = None
        parts: list[RenderableType | Grid] = []
        for layout in self.layouts:
            parts = list(layout())
            sizes = [g.measure(console, options) for g in parts if isinstance(g, Grid)]
            if all(natural <= width for natural, _ in sizes):
                return parts
            if fallback is None and all(least <= width for _, least in sizes):
                fallback = parts
        return fallback if fallback is not None else parts

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for part in self.choose(console, options):
            yield part.render(console, options) if isinstance(part, Grid) else part

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, options.max_width)
