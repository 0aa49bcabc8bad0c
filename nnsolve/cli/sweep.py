"""nnsolve sweep: load, solve and report a sweep file."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from ..errors import NnsolveError
from ..formats.files import check_outputs, same_file
from ..formats.scenario_yaml import scenario_files
from ..sweep.spec import Sweep, load_sweep, run_label


def cli_sweep(args: argparse.Namespace, out: Console) -> int:
    """``nnsolve sweep SWEEP.yaml [--jobs N] [--dask ADDRESS|local] [--plot OUT.png]``: solve
    every run not finished earlier; 0 when every run has a result file, 1 when some failed."""
    sweep = load_sweep(args.sweep)
    if args.plot:
        from ..report.plots import check_output

        check_output(args.plot)
    outputs_ready(sweep, args.plot)
    from ..sweep import runner as sweep_runner  # the search: only once the inputs are good

    executor = sweep_runner.executor_factory(args.jobs, args.dask)
    outcome = sweep_runner.run_sweep(sweep, executor, out)
    if args.plot:
        rows = [row for row in outcome.rows if finite_values(row.get("time"), row.get("energy"))]
        if not rows:
            out.print("no finished run has an energy and a time; nothing to plot")
        else:
            from ..report.plots import pareto_plot

            labels = {run.id: run_label(run) for run in sweep.runs}
            pareto_plot([(labels[row["id"]], row["time"], row["energy"]) for row in rows],
                        args.plot, title=sweep.source.stem)
            out.print(Text(f"wrote {args.plot}"))
    return 1 if outcome.failed else 0


def outputs_ready(sweep: Sweep, plot: str | None) -> None:
    """Before solving: the result files, the summary and --plot writable, none of them a file
    the sweep reads, and --plot not one of the sweep's outputs."""
    inputs: list[tuple[str, Path]] = [("the sweep file", sweep.source),
                                      ("the base scenario", sweep.base)]
    for run in sweep.runs:
        for what, path in scenario_files(run.scenario):
            if what != "the scenario file" and (what, path) not in inputs:
                inputs.append((what, path))
    where = f"{sweep.source}: out"
    results = [(where, sweep.result_path(run)) for run in sweep.runs]
    for output in (*results, (where, sweep.summary_path)):      # distinct: run ids are unique
        check_outputs([output], inputs)
    if plot:
        check_outputs([("--plot", plot)], inputs)
        for _, path in (*results, (where, sweep.summary_path)):
            if same_file(plot, path):
                raise NnsolveError(f"--plot: {plot} is also an output of the sweep ({path} of "
                                   "its out directory); give another file")


def finite_values(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
