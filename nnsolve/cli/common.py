"""What the subcommands share: exit codes, overrides, the progress bar, "wrote" lines.

Light to import (the parser needs the exit codes): rich, the scenario loader and the search
come in when a function here first needs them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..formats.files import check_outputs

if TYPE_CHECKING:
    from rich.console import Console

    from ..scenario import Scenario
    from ..search.network_search import Progress

EXIT_USER_ERROR = 2


EXIT_INTERRUPTED = 130


def outputs_ready(args: argparse.Namespace, inputs: Sequence[tuple[str, Path | str]]) -> None:
    """Fail before a long solve, not after it: --plot must be drawable, and --json and
    --plot writable, neither one of the run's ``inputs`` nor the same file."""
    if args.plot:
        from ..report.plots import check_output

        check_output(args.plot)
    check_outputs([(flag, path) for flag, path in (("--json", args.json), ("--plot", args.plot))
                   if path], inputs)


def scenario_ready(args: argparse.Namespace, items: list[str],
                   inputs: Sequence[tuple[str, Path | str]] = ()) -> Scenario:
    """The scenario ``args.scenario`` with the override ``items``, and the outputs checked
    against it and ``inputs``: a mistake in the command or in the files is reported from
    here, before the search (and numpy, and a solver engine) is imported."""
    from ..formats.scenario_yaml import load_scenario, scenario_files

    scenario = load_scenario(args.scenario, items)
    outputs_ready(args, [*scenario_files(scenario), *inputs])
    return scenario


def overrides(args: argparse.Namespace) -> list[str]:
    """--set items, plus the shortcuts --method and --time-limit; each is checked against
    its field's rule here, so a bad value is reported against its flag."""
    from ..formats.scenario_yaml import parse_override

    items = list(args.set or [])
    for item in items:
        parse_override(item)
    if getattr(args, "method", None):
        items.append(f"solver.method={args.method}")
    if getattr(args, "time_limit", None) is not None:
        item = f"solver.time_limit_s={args.time_limit}"
        parse_override(item, flag="--time-limit")
        items.append(item)
    return items


def wrote(out: Console, written: Sequence[str]) -> None:
    """One ``wrote PATH`` line per file written (paths shown as they are, never as markup)."""
    from rich.text import Text

    for path in written:
        out.print(Text(f"wrote {path}"))


class ProgressBar:
    """A transient rich progress bar on stderr, as a search.Progress."""

    def __init__(self) -> None:
        from rich import progress as rp
        from rich.console import Console

        # The description is a layer name, shown as it is: never read as rich markup.
        self._bar = rp.Progress(rp.TextColumn("{task.description}", markup=False), rp.BarColumn(),
                                rp.MofNCompleteColumn(), rp.TimeElapsedColumn(),
                                console=Console(stderr=True), transient=True)
        self._task = None

    def __enter__(self) -> Progress:
        from ..search.network_search import Progress

        self._bar.__enter__()

        def start(total: int) -> None:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task("layers", total=total)

        def advance(name: str) -> None:
            self._bar.update(self._task, advance=1, description=name)

        return Progress(start, advance)

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)
