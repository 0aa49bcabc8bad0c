"""Running a sweep: skip finished runs, solve the rest on an executor, write as they finish.

Each run's result JSON is written atomically the moment the run finishes, and summary.csv is
rewritten (atomically) after it, so a killed driver loses at most the runs in flight and a
rerun resumes. Ctrl-C stops submitting, stops the workers, keeps every finished file and
re-raises KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..errors import NnsolveError
from ..executors import Executor, executor_factory
from ..formats.files import non_finite, write_json
from ..formats.result_json import result_document
from ..report.tables import si
from ..scenario import Scenario
from ..search.network_search import solve
from .results import failure_document, read_result, summary_row, with_run, write_summary
from .spec import Run, Sweep

__all__ = ["SweepOutcome", "executor_factory", "run_sweep", "solve_run"]

#: How often (seconds) the driver wakes up to refresh the progress bar while waiting.
POLL_SECONDS = 0.5


@dataclass
class SweepOutcome:
    """What a sweep invocation did: the rows of every finished run (sweep order), how many
    were finished before, the ids solved now, and the runs that failed unexpectedly (id ->
    error), which have no result file."""

    rows: list[dict[str, Any]]
    skipped: int
    solved: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def solve_run(run_id: str, overrides: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """A worker's job: solve one run's scenario and return its result document (a plain
    dict). A user-level failure (nothing fits the hardware, ...) is a document too."""
    start = time.perf_counter()
    # The sweep runs one solve per worker already: a run's search starts no workers of its
    # own unless the sweep file asks for them.
    own = scenario if scenario.solver.workers else \
        replace(scenario, solver=replace(scenario.solver, workers=1))
    try:
        result = solve(own, scenario.solver.method)
    except NnsolveError as exc:
        doc = failure_document(exc, scenario, time.perf_counter() - start)
    else:
        doc = result_document(result, scenario)
        where = non_finite(doc)
        if where is not None:          # JSON cannot hold it: record why instead
            doc = failure_document(NnsolveError(f"the result's {where} is not a finite number "
                                                f"(costs, sizes or rates this extreme?)"),
                                   scenario, time.perf_counter() - start)
    return with_run(doc, run_id, overrides)


def finished_rows(sweep: Sweep) -> dict[str, dict[str, Any]]:
    """The summary rows of the runs whose result file exists, by run id."""
    rows = {}
    for run in sweep.runs:
        doc = read_result(sweep.result_path(run), run)
        if doc is not None:
            rows[run.id] = summary_row(run, doc)
    return rows


def run_sweep(sweep: Sweep, start_executor: Callable[[int], Executor],
              out: Console) -> SweepOutcome:
    """Solve every run of ``sweep`` without a result file on the executor that
    ``start_executor(number of runs)`` starts, writing results as they finish."""
    rows = finished_rows(sweep)
    skipped = len(rows)
    todo = [run for run in sweep.runs if run.id not in rows]
    # Also after a driver that was killed between a result and the summary.
    try:
        write_summary(sweep, rows)
    except OSError as exc:
        raise NnsolveError(f"{sweep.source}: out: cannot write the results there: {exc}"
                           ) from None
    total = len(sweep.runs)
    stale = sum(1 for run in todo if sweep.result_path(run).exists())
    out.print(f"{escape(str(sweep.source))}: {total} run{_s(total)}, {skipped} finished "
              f"earlier (skipped), {len(todo)} to solve; results in {escape(str(sweep.out))}")
    if stale:
        out.print(f"{stale} earlier result{_s(stale)} solved another scenario (the base "
                  "scenario or a network changed since) and will be replaced")
    outcome = SweepOutcome([], skipped)
    if todo:
        with start_executor(len(todo)) as executor, _RunsBar(total, skipped) as bar:
            out.print(f"solving on {escape(executor.description)}")
            inflight: dict[Any, Run] = {}
            try:
                _drive(sweep, todo, executor, bar, rows, outcome, out, inflight)
            except NnsolveError:
                executor.abort()
                raise
            except KeyboardInterrupt:
                with _sigint_ignored():
                    _save_finished(sweep, inflight)
                    executor.abort()
                    rows = finished_rows(sweep)
                    write_summary(sweep, rows)
                    out.print(f"interrupted: kept the {len(rows)} finished run"
                              f"{_s(len(rows))} (of {total}) in {escape(str(sweep.out))}, "
                              f"listed in summary.csv; run the same command again to solve "
                              f"the other {total - len(rows)}")
                raise
    outcome.rows = [rows[run.id] for run in sweep.runs if run.id in rows]
    _report_end(sweep, outcome, out)
    return outcome


def _save_finished(sweep: Sweep, inflight: dict[Any, Run]) -> None:
    """After Ctrl-C: write the runs that finished but were not recorded yet."""
    for future, run in list(inflight.items()):
        if future.done():
            with contextlib.suppress(Exception):
                write_json(future.result(), sweep.result_path(run))


def _drive(sweep: Sweep, todo: list[Run], executor: Executor, bar: _RunsBar,
           rows: dict[str, dict[str, Any]], outcome: SweepOutcome, out: Console,
           inflight: dict[Any, Run]) -> None:
    """Keep the executor busy until every run is done; record each as it finishes
    (``inflight``: the submitted runs by future, shared with the caller for Ctrl-C)."""
    queue = deque(todo)
    broken = False
    while inflight or (queue and not broken):
        while queue and not broken and len(inflight) < executor.capacity():
            run = queue.popleft()
            try:
                inflight[executor.submit(solve_run, run.id, run.overrides, run.scenario)] = run
            except BrokenProcessPool:
                queue.appendleft(run)
                broken = True
        bar.update(len(inflight))
        for future in executor.wait(inflight, POLL_SECONDS):
            run = inflight[future]
            try:
                doc = future.result()
            except Exception as exc:
                broken = broken or isinstance(exc, BrokenProcessPool)
                _report_failure(run, exc, outcome, out)
            else:
                rows[run.id] = summary_row(run, doc)
                try:
                    write_json(doc, sweep.result_path(run))
                    write_summary(sweep, rows)
                except OSError as exc:       # disk full, directory removed, ...
                    raise NnsolveError(f"cannot write the results in {sweep.out}: {exc}; "
                                       "the runs finished before are kept") from None
                outcome.solved.append(run.id)
                out.print(_finished_line(len(rows), len(sweep.runs), run, doc))
            del inflight[future]
            bar.finished()
    if queue:
        out.print(f"[red]a worker process died; {len(queue)} run{_s(len(queue))} not "
                  "started[/]")
        for run in queue:
            outcome.failed[run.id] = "not started: a worker process died"


def _finished_line(done: int, total: int, run: Run, doc: dict[str, Any]) -> str:
    status = doc.get("status")
    secs = doc.get("solve_seconds") or 0.0
    head = f"[{done}/{total}] {run.id}: {status}"
    if doc.get("total"):
        t = doc["total"]
        return escape(f"{head}, energy {si(t['energy'])}, time {si(t['time'])} cycles "
                      f"({secs:.1f} s)")
    return escape(f"{head}: {doc.get('error', '')}")


def _report_failure(run: Run, exc: BaseException, outcome: SweepOutcome, out: Console) -> None:
    """An unexpected exception in a worker: name the run; the traceback goes to stderr."""
    if isinstance(exc, BrokenProcessPool):
        outcome.failed[run.id] = "its worker process died (killed, or out of memory?)"
    else:
        outcome.failed[run.id] = f"{type(exc).__name__}: {exc}"
        err = Console(stderr=True)
        err.print(escape("".join(traceback.format_exception(exc))), highlight=False)
    out.print(f"[red]run {escape(run.id)} failed unexpectedly:[/] "
              f"{escape(outcome.failed[run.id])}", soft_wrap=True)


def _report_end(sweep: Sweep, outcome: SweepOutcome, out: Console) -> None:
    bad = [r for r in outcome.rows if r["status"] in ("infeasible", "error")]
    out.print(f"{len(outcome.rows)} of {len(sweep.runs)} runs finished "
              f"({len(outcome.solved)} now, {outcome.skipped} earlier"
              + (f"; {len(bad)} infeasible or in error" if bad else "")
              + f"); summary in {escape(str(sweep.summary_path))}")
    if outcome.failed:
        out.print(f"[red]{len(outcome.failed)} run{_s(len(outcome.failed))} failed "
                  f"unexpectedly and {'have' if len(outcome.failed) > 1 else 'has'} no result "
                  f"file:[/] {escape(', '.join(outcome.failed))}; run the same command again "
                  "to retry", soft_wrap=True)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """A second Ctrl-C does not interrupt the clean-up after the first."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _RunsBar:
    """A transient progress bar on stderr: runs done of all, and how many are running."""

    def __init__(self, total: int, done: int):
        from rich import progress as rp

        console = Console(stderr=True)
        self._bar = rp.Progress(rp.TextColumn("runs"), rp.BarColumn(), rp.MofNCompleteColumn(),
                                rp.TextColumn("{task.fields[running]} running"),
                                rp.TimeElapsedColumn(), console=console, transient=True,
                                disable=not console.is_terminal)
        self._task = self._bar.add_task("runs", total=total, completed=done, running=0)

    def update(self, running: int) -> None:
        self._bar.update(self._task, running=running)

    def finished(self) -> None:
        self._bar.update(self._task, advance=1)

    def __enter__(self) -> _RunsBar:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)
