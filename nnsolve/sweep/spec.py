"""Sweep files: a base scenario and the overrides of each run, validated before anything runs.

A sweep YAML names a base scenario, a ``grid`` (every combination of the listed values of some
scenario fields) and/or explicit ``runs`` (one mapping of overrides each), and the ``out``
directory. ``load_sweep`` reads it, gives every run a stable id and checks every run's scenario,
so a bad value stops the sweep before any solve starts. ``cli_sweep`` is ``nnsolve sweep``;
the execution itself is in ``sweep_runner``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, NnsolveError, clip, join, quote
from ..formats.fields import Fields, load_yaml
from ..formats.scenario_yaml import FIELD_BY_KEY, SECTIONS, scenario_from_dict, set_values
from ..model.network import Network
from ..scenario import Scenario

SWEEP_KEYS = ("base", "grid", "runs", "out")
#: Most runs one sweep may define (the grid's combinations and the runs together); every
#: run's scenario is checked before any solves, and a grid of a few long lists multiplies
#: past what that check, let alone the solves, can finish.
MAX_RUNS = 10_000
#: Longest readable part of a run id (the hash after it keeps long ids unique).
ID_TEXT_LIMIT = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._,=+-]+")


@dataclass(frozen=True)
class Run:
    """One run of a sweep: its id, its overrides (dotted key -> YAML value), where the sweep
    file defines it ("grid" or "runs[i]"), and its validated scenario."""

    id: str
    overrides: dict[str, Any]
    origin: str
    scenario: Scenario = field(compare=False, repr=False)


@dataclass
class Sweep:
    """A validated sweep: the sweep file, the base scenario, the runs in order, the output
    directory, and every swept key in order of first appearance (the summary's columns)."""

    source: Path
    base: Path
    runs: list[Run]
    out: Path
    keys: list[str]

    def result_path(self, run: Run) -> Path:
        """Where the result JSON of ``run`` goes."""
        return self.out / f"{run.id}.json"

    @property
    def summary_path(self) -> Path:
        """The summary CSV (one row per finished run)."""
        return self.out / "summary.csv"


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file, and every run's scenario; mistakes are InputErrors that
    name the sweep file (and the run) and the field."""
    path = Path(path)
    source = str(path)
    f = Fields(source)
    doc = f.mapping(load_yaml(path, what="sweep file"), "", SWEEP_KEYS,
                    required=("base", "out"))
    base = _near(path, f.string(doc["base"], "base"))
    if not base.is_file():
        raise f.error("base", f"scenario file not found: {base}")
    out = _near(path, f.string(doc["out"], "out"))
    if out.exists() and not out.is_dir():
        raise f.error("out", f"{out} is a file; give a directory for the results")

    explicit = _explicit_runs(f, doc.get("runs"))
    listed = _grid_runs(f, doc.get("grid"), MAX_RUNS - len(explicit)) + explicit
    if not listed:
        raise f.error(None, "the sweep has no runs: give a non-empty 'grid' and/or 'runs'")
    base_doc = load_yaml(base, what="scenario file")
    runs: list[Run] = []
    seen: dict[str, str] = {}
    networks: dict[str, Network] = {}       # read each network file once
    for origin, overrides in listed:
        rid = run_id(overrides)
        if rid in seen:
            raise f.error(origin if origin != "grid" else None,
                          f"run {rid} is listed twice ({seen[rid]} and {origin})")
        seen[rid] = origin
        scenario = _run_scenario(source, base, base_doc, rid, origin, overrides, networks)
        runs.append(Run(rid, overrides, origin, scenario))
    keys = list(dict.fromkeys(k for run in runs for k in run.overrides))
    return Sweep(path, base, runs, out, keys)


def _near(path: Path, name: str) -> Path:
    """A path given in the sweep file: relative to its directory (or absolute)."""
    return Path(os.path.normpath(path.parent / Path(name).expanduser()))


def _grid_runs(f: Fields, grid: Any, most: int) -> list[tuple[str, dict[str, Any]]]:
    """Every combination of the grid's values, in file order (the last key varies fastest);
    more than ``most`` combinations is an error (counted before any is made)."""
    if grid is None:
        return []
    grid = _overrides(f, grid, "grid")
    if not grid:
        return []
    axes = []
    for key, values in grid.items():
        where = join("grid", key)
        if not isinstance(values, list):
            raise f.error(where, f"must be a list of the values to try, got {_kind(values)} "
                                 "(a single value belongs in the base scenario)")
        if not values:
            raise f.error(where, "must list at least one value")
        first: dict[str, int] = {}
        for i, v in enumerate(values):
            if first.setdefault(_canonical(v), i) != i:
                hint = " (to sweep one list value, nest it: [[2, 2]])" \
                    if all(not isinstance(v, (list, dict)) for v in values) else ""
                raise f.error(join(where, i), f"repeats the value {quote(v)}{hint}")
        axes.append([(key, v) for v in values])
    count = math.prod(len(axis) for axis in axes)
    if count > most:
        sizes = " x ".join(str(len(axis)) for axis in axes)
        total = f" = {count:,}" if count < 10**12 else ""
        raise f.error("grid", f"has {sizes}{total} combinations"
                              f"{' beside the runs' if most < MAX_RUNS else ''}; a sweep may "
                              f"have at most {MAX_RUNS:,} runs")
    return [("grid", dict(combo)) for combo in itertools.product(*axes)]


def _explicit_runs(f: Fields, runs: Any) -> list[tuple[str, dict[str, Any]]]:
    if runs is None:
        return []
    out = []
    entries = f.sequence(runs, "runs")
    if len(entries) > MAX_RUNS:
        raise f.error("runs", f"lists {len(entries):,} runs; a sweep may have at most "
                              f"{MAX_RUNS:,}")
    for i, entry in enumerate(entries):
        where = join("runs", i)
        if entry is None:
            entry = {}
        out.append((where, dict(_overrides(f, entry, where))))
    return out


def _overrides(f: Fields, value: Any, where: str) -> Mapping[str, Any]:
    """A mapping of dotted scenario keys (unknown keys get a did-you-mean)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key in SECTIONS and isinstance(inner, Mapping):
                example = next(iter(inner), "...")
                raise f.error(join(where, key), f"give overrides as dotted keys, e.g. "
                                                f"'{key}.{clip(example)}', not a nested "
                                                f"mapping")
    return f.mapping(value, where, FIELD_BY_KEY)


def _run_scenario(source: str, base: Path, base_doc: Any, rid: str, origin: str,
                  overrides: Mapping[str, Any], networks: dict[str, Network]) -> Scenario:
    """The run's scenario (base document + overrides), checked now; an InputError names the
    sweep file, the run and the field. ``networks`` caches the networks read so far."""
    # A run id keeps up to ID_TEXT_LIMIT characters of its values: clipped like any value.
    context = f"{source}: {origin} (run {clip(rid)})"
    doc = set_values(base_doc, overrides)
    ref = doc.get("network") if isinstance(doc, dict) else None
    try:
        scenario = scenario_from_dict(doc, str(base), base_dir=base.parent,
                                      default_name=base.stem,
                                      network=networks.get(ref) if isinstance(ref, str) else None)
        if isinstance(ref, str):
            networks[ref] = scenario.network
    except InputError as exc:
        if exc.source == str(base) and exc.field and _overridden(exc.field, overrides):
            raise InputError(context, exc.field, exc.message) from None
        raise InputError(context, None, str(exc)) from None
    except NnsolveError as exc:
        raise InputError(context, None, str(exc)) from None
    return scenario


def _overridden(fld: str, overrides: Mapping[str, Any]) -> bool:
    return any(fld == k or fld.startswith((k + ".", k + "[")) for k in overrides)


def run_id(overrides: Mapping[str, Any]) -> str:
    """A stable, readable file name for a run: ``key=value`` pairs in key order, made safe
    for file names and cut to ID_TEXT_LIMIT characters, then a hash of the exact overrides
    (so the same overrides get the same id on every rerun, and different ones never share)."""
    text = ",".join(f"{k}={_show(overrides[k])}" for k in sorted(overrides))
    text = _UNSAFE.sub("_", text)[:ID_TEXT_LIMIT].strip("._-") or "base"
    digest = hashlib.sha256(_canonical(dict(overrides)).encode()).hexdigest()[:10]
    return f"{text}-{digest}"


def run_label(run: Run) -> str:
    """A short label of a run for plots: the last part of each key and its value."""
    if not run.overrides:
        return "base"
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={_show(v)}" for k, v in run.overrides.items())


def _canonical(value: Any) -> str:
    return json.dumps(_string_keys(value), sort_keys=True, separators=(",", ":"), default=repr)


def _string_keys(value: Any) -> Any:
    """``value`` with every mapping key a string, so keys of mixed types sort (a key that is
    not a string is tagged with its type: such a value is refused later, but must not crash
    the run id before)."""
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else f"!{type(k).__name__}:{k!r}": _string_keys(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_string_keys(v) for v in value]
    return value


def _show(value: Any) -> str:
    """A value as it reads in a run id: [2, 2] -> 2x2, [ifmap, ofmap] -> ifmap+ofmap,
    [] -> none, true, inf, 65536."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, float):
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return "none"
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return "x".join(_show(v) for v in value)
        if all(isinstance(v, str) for v in value):
            return "+".join(value)
    if isinstance(value, (list, tuple, dict)):
        return _canonical(value)
    return str(value)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"the single value {quote(value)}"


# -- nnsolve sweep ---------------------------------------------------------------------------
