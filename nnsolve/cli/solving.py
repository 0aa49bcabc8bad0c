"""The solve, compare and evaluate subcommands, once their scenario has loaded and their
outputs are known to be writable (``main.py``, through ``common.scenario_ready``): the
scenario solved (or a result re-scored), its result JSON written, its tables shown.

Imported only then: the search it brings in is paid by neither ``nets``, ``net``, ``schema``
and ``--help`` nor a run stopped by a mistake in its files."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from rich.console import Console
from rich.text import Text

from ..formats.files import write_json
from ..formats.result_json import result_document
from ..report.tables import comparison_tables, result_table, segment_table
from ..results import NetworkResult, SolveInterrupted
from ..scenario import Scenario
from ..search.network_search import solve
from .common import ProgressBar, wrote


def _save(args: argparse.Namespace, out: Console, doc: dict,
          draw: Callable[[str], None]) -> list[str]:
    """Write --json, then draw --plot: before any table is rendered, so that nothing in
    the rendering can lose a finished solve. Returns the paths written."""
    written = []
    if args.json:
        write_json(doc, args.json)
        written.append(args.json)
    if args.plot:
        try:
            draw(args.plot)
        except BaseException:
            wrote(out, written)         # the JSON is kept: say so before the error
            raise
        written.append(args.plot)
    return written


def _finish(result: NetworkResult, args: argparse.Namespace, out: Console,
            scenario: Scenario) -> int:
    def draw(path: str) -> None:
        from ..report.plots import plot_result

        plot_result(result, scenario, path)

    written = _save(args, out, result_document(result, scenario), draw)
    out.print(result_table(result))
    if result.segments is not None:
        out.print(segment_table(result))
    wrote(out, written)
    return 0


def cli_solve(args: argparse.Namespace, out: Console, scenario: Scenario) -> int:
    """``nnsolve solve``: ``scenario`` solved with its method."""
    try:
        with ProgressBar() as progress:
            result = solve(scenario, scenario.solver.method, progress,
                           dask=args.dask)
    except SolveInterrupted as stop:
        if stop.result is None or not stop.result.layers:
            raise
        # Ctrl-C: show and save what was finished (status interrupted), then exit 130.
        _finish(stop.result, args, out, scenario)
        raise
    return _finish(result, args, out, scenario)


def cli_compare(args: argparse.Namespace, out: Console, scenario: Scenario,
                methods: tuple[str, ...]) -> int:
    """``nnsolve compare``: ``scenario`` solved with each of ``methods``."""
    from ..search.compare import compare

    with ProgressBar() as progress:
        result = compare(scenario, methods, progress)

    def draw(path: str) -> None:
        from ..report.plots import plot_comparison

        plot_comparison(result, path)

    written = _save(args, out, result_document(result, scenario), draw)
    for table in comparison_tables(result):
        out.print(table)
    wrote(out, written)
    return 0


def cli_evaluate(args: argparse.Namespace, out: Console) -> int:
    """``nnsolve evaluate``: the result JSON ``args.schedule`` re-scored (checked against
    ``args.scenario`` first)."""
    from ..search.rescore import rescore

    done = rescore(args.schedule, args.scenario, args.set or [], args.method)
    for note in done.notes:
        out.print(Text(f"note: {note}"), highlight=False)
    return _finish(done.result, args, out, done.scenario)
