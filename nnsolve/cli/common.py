"""What the subcommands share: exit codes, overrides, the progress bar."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from ..formats.files import check_outputs
from ..search.network_search import Progress

EXIT_USER_ERROR = 2


EXIT_INTERRUPTED = 130


def outputs_ready(args: argparse.Namespace, inputs: Sequence[tuple[str, Path]]) -> None:
    """Fail before a long solve, not after it: --plot must be drawable, and --json and
    --plot writable, neither one of the run's ``inputs`` nor the same file."""
    if args.plot:
        from ..report.plots import check_output

        check_output(args.plot)
    check_outputs([(flag, path) for flag, path in (("--json", args.json), ("--plot", args.plot))
                   if path], inputs)


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


class ProgressBar:
    """A transient rich progress bar on stderr, as a search.Progress."""

    def __init__(self) -> None:
        from rich import progress as rp

        # The description is a layer name, shown as it is: never read as rich markup.
        self._bar = rp.Progress(rp.TextColumn("{task.description}", markup=False), rp.BarColumn(),
                                rp.MofNCompleteColumn(), rp.TimeElapsedColumn(),
                                console=Console(stderr=True), transient=True)
        self._task = None

    def __enter__(self) -> Progress:
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
