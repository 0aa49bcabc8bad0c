"""The files of a sweep: one result JSON per run and summary.csv, both written atomically.

A run's JSON is the result document of ``nnsolve solve --json`` plus the run's ``run_id`` and
``overrides``; a run that failed with a user-level error (say, hardware too small for a layer)
gets a document with its status and the error instead of totals. The summary has one row per
run whose JSON exists, in sweep order, so it always agrees with the JSON files.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ..errors import InfeasibleError, NnsolveError
from ..formats.fields import load_json
from ..formats.files import write_text
from ..formats.result_json import scenario_inputs
from ..scenario import Scenario
from ..version import __version__
from .spec import Run, Sweep

RESULT_COLUMNS = ("status", "energy", "time", "edp", "bound", "gap", "solve_seconds", "error")


def with_run(doc: dict[str, Any], run_id: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """A result document marked as the result of one sweep run."""
    doc["run_id"] = run_id
    doc["overrides"] = overrides
    return doc


def failure_document(exc: NnsolveError, scenario: Scenario, seconds: float) -> dict[str, Any]:
    """The result document of a run that could not be solved: status infeasible (nothing fits
    the hardware) or error (any other user-level reason), and the message."""
    return {
        "nnsolve_version": __version__,
        "scenario": scenario.name,
        "method": scenario.solver.method,
        "goal": scenario.search.goal,
        "status": "infeasible" if isinstance(exc, InfeasibleError) else "error",
        "error": str(exc),
        "total": None, "bound": None, "gap": None,
        "solve_seconds": seconds,
        "inputs": scenario_inputs(scenario),
    }


def read_result(path: Path, run: Run) -> dict[str, Any] | None:
    """The finished result of ``run`` at ``path``, or None when there is none: no file, or a
    file that is not a complete result of this run (it is then solved again and replaced)."""
    try:
        doc = load_json(path)
    except NnsolveError:        # missing, half-written, or not JSON that nnsolve wrote
        return None
    if not isinstance(doc, dict) or doc.get("run_id") != run.id or "status" not in doc:
        return None
    if is_stale(doc, run):
        return None
    return doc


def is_stale(doc: dict[str, Any], run: Run) -> bool:
    """Whether a run's stored result solved another problem than the run now describes (the
    base scenario or a network file changed since): it is then solved again."""
    stored = doc.get("inputs")
    fresh = json.loads(json.dumps(scenario_inputs(run.scenario)))
    return not isinstance(stored, dict) or stored.get("scenario") != fresh["scenario"] or \
        stored.get("network") != fresh["network"]


def summary_row(run: Run, doc: dict[str, Any]) -> dict[str, Any]:
    """The summary's row of a finished run: id, swept values, and the result's figures."""
    total = doc.get("total") or {}
    return {"id": run.id, **run.overrides, "status": doc.get("status"),
            "energy": total.get("energy"), "time": total.get("time"), "edp": total.get("edp"),
            "bound": doc.get("bound"), "gap": doc.get("gap"),
            "solve_seconds": doc.get("solve_seconds"), "error": doc.get("error")}


def write_summary(sweep: Sweep, rows: dict[str, dict[str, Any]]) -> None:
    """Rewrite summary.csv atomically: one row per finished run (``rows`` by run id), in
    sweep order."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    columns = ["id", *sweep.keys, *RESULT_COLUMNS]
    writer.writerow(columns)
    for run in sweep.runs:
        row = rows.get(run.id)
        if row is not None:
            writer.writerow([_cell(row.get(c)) for c in columns])
    write_text(text.getvalue(), sweep.summary_path)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


