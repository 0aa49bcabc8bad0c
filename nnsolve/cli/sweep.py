"""nnsolve sweep: load, solve and report a sweep file."""

from __future__ import annotations

import argparse
import math
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..sweep.spec import load_sweep, run_label


def cli_sweep(args: argparse.Namespace, out: Console) -> int:
    """``nnsolve sweep SWEEP.yaml [--jobs N] [--dask ADDRESS|local] [--plot OUT.png]``: solve
    every run not finished earlier; 0 when every run has a result file, 1 when some failed."""
    from ..sweep import runner as sweep_runner

    sweep = load_sweep(args.sweep)
    if args.plot:
        from ..report.plots import check_output

        check_output(args.plot)
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
            out.print(f"wrote {escape(str(args.plot))}")
    return 1 if outcome.failed else 0


def finite_values(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
