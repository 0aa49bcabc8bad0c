"""Self-contained result documents: a result JSON that also carries the scenario it solved.

``solve --json``, ``compare --json`` and every sweep run write the scenario document (overrides
applied) and the network itself under ``inputs``, so ``nnsolve explain RESULT.json`` and
``nnsolve evaluate`` can rebuild the exact problem without the original files.

``read_result`` reads the schedules back with the JSON path of every entry (``SavedResult``),
and ``scenario_differences`` says how a scenario differs from the one a result was solved
for; ``search.rescore`` decides what may differ and validates the schedules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InputError, did_you_mean, join
from ..hardware.spec import word_bytes
from ..model.network import Network
from ..model.schedule import LayerSchedule, Partition, Region
from ..results import Status
from ..scenario import Scenario
from .fields import Fields, load_json
from .network_yaml import network_from_dict, network_to_dict
from .scenario_yaml import FIELDS, apply_overrides, scenario_from_dict
from .schedule_json import MAX_NODES, SavedSchedule, read_partition, read_schedule


def scenario_inputs(scenario: Scenario) -> dict[str, Any]:
    """The ``inputs`` entry of a result JSON: the scenario document and the network. An
    infinite value (YAML's .inf) is written as the text "inf", which the loader reads
    back as infinity (JSON has no infinity)."""
    doc = {k: _finite(v) for k, v in scenario.document.items() if k != "network"}
    doc["name"] = scenario.name
    doc["network"] = scenario.network.name
    return {"scenario": doc, "network": network_to_dict(scenario.network),
            "source": scenario.source}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def result_document(result: Any, scenario: Scenario) -> dict[str, Any]:
    """A result's JSON (``result.to_json()``) with the ``inputs`` that produced it."""
    doc = result.to_json()
    doc["inputs"] = scenario_inputs(scenario)
    return doc


def scenario_from_result(doc: Any, source: str, overrides: list[str] | tuple[str, ...] = ()
                         ) -> Scenario:
    """Rebuild the scenario stored in a result document's ``inputs`` (``--set`` overrides
    applied to it)."""
    inputs = doc.get("inputs") if isinstance(doc, dict) else None
    if not isinstance(inputs, dict) or not isinstance(inputs.get("scenario"), dict) \
            or not isinstance(inputs.get("network"), dict):
        raise InputError(source, "inputs", "this result does not carry its scenario (results "
                         "written before nnsolve 0.1 do not); give the scenario file too")
    network = network_from_dict(inputs["network"], f"{source}: inputs.network")
    scenario = scenario_from_dict(apply_overrides(inputs["scenario"], list(overrides)),
                                  f"{source}: inputs.scenario", default_name=network.name,
                                  network=network)
    return replace(scenario, source=str(inputs.get("source", source)))


# -- reading schedules back -------------------------------------------------------------------


@dataclass
class SavedResult:
    """The schedules of a result JSON (or of one method's result in a compare JSON), each
    with its JSON path in the file, and what the file says about how they were made."""

    source: str                               # the file
    doc: dict[str, Any]                       # the result document (a compare: results[M])
    prefix: str                               # JSON path of ``doc`` in the file
    inputs: dict[str, Any] | None             # the file's ``inputs`` (None: not written)
    method: str | None
    status: str | None
    layers: dict[str, SavedSchedule]          # by layer name, in the file's order
    input_partition: Partition | None = None
    segments: list[tuple[tuple[str, ...], ...]] | None = None
    #: per segment, its ``regions`` as the file gives them (None: left out)
    segment_regions: list[tuple[Region, ...] | None] | None = None

    @property
    def schedules(self) -> dict[str, LayerSchedule]:
        """The schedules by layer name."""
        return {name: saved.schedule for name, saved in self.layers.items()}

    @property
    def interrupted(self) -> bool:
        """The solve that wrote it was interrupted (Ctrl-C): it may lack layers."""
        return self.status == Status.INTERRUPTED

    def path(self, *keys: str | int) -> str:
        """The JSON path of a field of the result document."""
        where = self.prefix
        for key in keys:
            where = join(where, key)
        return where

    def error(self, field: str | None, message: str) -> InputError:
        """An InputError naming this file and ``field``."""
        return InputError(self.source, field, message)

    def scenario(self, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
        """The scenario the result carries (``overrides`` applied)."""
        return scenario_from_result({"inputs": self.inputs}, self.source, overrides)

    def stored_scenario(self) -> Scenario | None:
        """The scenario the result was solved for, or None when the file does not say."""
        if self.inputs is None:
            return None
        return self.scenario()


def load_result_json(path: str) -> Any:
    """Parse a result JSON file; a missing, unreadable, invalid or too deeply nested file is
    an InputError."""
    return load_json(path, what="result file")


def is_comparison(doc: Any) -> bool:
    """Whether ``doc`` is a ``compare --json`` document (one result per method)."""
    return isinstance(doc, dict) and "results" in doc and "methods" in doc


def read_result(path: str, method: str | None = None, doc: Any = None) -> SavedResult:
    """The schedules of the result JSON at ``path`` (already parsed: ``doc``). A compare
    JSON holds one result per method: ``method`` picks one (it is required there)."""
    if doc is None:
        doc = load_result_json(path)
    fields = Fields(path)
    if not isinstance(doc, dict):
        raise fields.error(None, "expected a result JSON object (written by solve --json)")
    inputs = doc.get("inputs") if isinstance(doc.get("inputs"), dict) else None
    prefix = ""
    if is_comparison(doc):
        results = doc["results"] if isinstance(doc["results"], dict) else {}
        solved = [m for m in results if isinstance(m, str)]
        if method is None:
            raise fields.error(None, f"a compare result holds the schedules of several "
                                     f"methods ({', '.join(solved) or 'none solved'}); "
                                     f"choose one with --method M")
        if method not in results:
            skipped = doc.get("not_applicable")
            if isinstance(skipped, dict) and method in skipped:
                raise InputError("--method", None, f"{method} did not solve {path}'s "
                                 f"scenario ({skipped[method]}); it holds "
                                 f"{', '.join(solved) or 'no method'}")
            raise InputError("--method", None, f"{path} holds no result of {method!r}"
                             f"{did_you_mean(method, solved)}; it holds "
                             f"{', '.join(solved) or 'no method'}")
        prefix = join("results", method)
        doc = results[method]
        fields.mapping(doc, prefix, list(doc) if isinstance(doc, dict) else ())
    else:
        saved_method = doc.get("method")
        if method is not None and saved_method != method:
            raise InputError("--method", None, f"picks one method of a compare result; "
                             f"{path} holds the schedules of {saved_method or 'one method'} "
                             "only")
    status = doc.get("status") if isinstance(doc.get("status"), str) else None
    saved = SavedResult(path, doc, prefix, inputs, doc.get("method")
                        if isinstance(doc.get("method"), str) else None, status, {})
    _read_layers(saved, fields)
    _read_placement(saved, fields)
    return saved


def _read_layers(saved: SavedResult, fields: Fields) -> None:
    doc = saved.doc
    if "layers" not in doc:
        raise fields.error(saved.path("layers"), "required key is missing (the per-layer "
                                                 "schedules)")
    entries = fields.sequence(doc["layers"], saved.path("layers"))
    first: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = saved.path("layers", i)
        if not isinstance(entry, dict):
            raise fields.error(where, "must be a mapping with 'name' and 'schedule'")
        name = fields.string(entry.get("name"), join(where, "name"))
        if name in first:
            raise fields.error(join(where, "name"), f"layer {name!r} is given twice (first "
                               f"as {saved.path('layers', first[name])}); each layer has "
                               "one schedule")
        first[name] = i
        if "schedule" not in entry:
            raise fields.error(join(where, "schedule"), "required key is missing")
        saved.layers[name] = read_schedule(entry["schedule"], saved.source,
                                           join(where, "schedule"))


def _read_placement(saved: SavedResult, fields: Fields) -> None:
    doc = saved.doc
    if doc.get("input_partition") is not None:
        saved.input_partition = read_partition(doc["input_partition"], saved.source,
                                               saved.path("input_partition"))
    if doc.get("segments") is None:
        return
    segments, regions = [], []
    for i, seg in enumerate(fields.sequence(doc["segments"], saved.path("segments"))):
        where = saved.path("segments", i)
        if not isinstance(seg, dict) or "layers" not in seg:
            raise fields.error(where, "must be a mapping with 'layers' (a list of spatial "
                                      "entries, each a list of layer names)")
        lw = join(where, "layers")
        entries = fields.sequence(seg["layers"], lw)
        if not entries:
            raise fields.error(lw, "must list at least one spatial entry")
        segment = []
        for k, e in enumerate(entries):
            names = fields.sequence(e, join(lw, k))
            if not names:
                raise fields.error(join(lw, k), "must list at least one layer")
            segment.append(tuple(fields.string(n, join(join(lw, k), j))
                                 for j, n in enumerate(names)))
        segments.append(tuple(segment))
        regions.append(_read_regions(seg.get("regions"), len(segment), fields,
                                     join(where, "regions")))
    saved.segments = segments
    saved.segment_regions = regions


def _read_regions(value: Any, count: int, fields: Fields, where: str
                  ) -> tuple[Region, ...] | None:
    if value is None:
        return None
    items = fields.sequence(value, where)
    if len(items) != count:
        raise fields.error(where, f"must give one region per spatial entry ({count}), got "
                                  f"{len(items)}")
    out = []
    for k, item in enumerate(items):
        rw = join(where, k)
        reg = fields.mapping(item, rw, ("origin", "dims"), required=("origin", "dims"))
        origin = fields.sequence(reg["origin"], join(rw, "origin"))
        if len(origin) != 2:
            raise fields.error(join(rw, "origin"), f"must be [row, col], got a list of "
                                                   f"{len(origin)}")
        out.append(Region(tuple(fields.integer(v, join(join(rw, "origin"), i), minimum=0,
                                               maximum=MAX_NODES)
                                for i, v in enumerate(origin)),
                          fields.pair(reg["dims"], join(rw, "dims"), maximum=MAX_NODES)))
    return tuple(out)


def read_schedules(path: str, with_input: bool = False):
    """The per-layer schedules of a result JSON, by layer name (and, ``with_input``, how the
    network input lies in DRAM on a node array, a Partition or None, and the pipeline
    segments, or None). Parsing only: ``search.rescore`` also validates them."""
    saved = read_result(path)
    if not with_input:
        return saved.schedules
    return saved.schedules, saved.input_partition, saved.segments


# -- comparing scenarios ----------------------------------------------------------------------


def scenario_differences(given: Scenario, stored: Scenario) -> list[tuple[str, str, str]]:
    """The scenario fields (keys of the scenario YAML) in which ``given`` differs from
    ``stored``, each with both values as text, as the model sees them (sizes in the units
    the YAML gives them). The network is compared by its layers, not its name."""
    out = []
    if not same_network(given.network, stored.network):
        out.append(("network", given.network.name, stored.network.name))
    for fld in FIELDS:
        if fld.key in ("network", "name"):
            continue
        a, b = _field_value(given, fld.key), _field_value(stored, fld.key)
        if a != b:
            out.append((fld.key, _show(a), _show(b)))
    return out


def same_network(a: Network, b: Network) -> bool:
    """The same layers, connections and inputs (whatever the networks are called)."""
    da, db = network_to_dict(a), network_to_dict(b)
    da.pop("name", None)
    db.pop("name", None)
    return da == db


def _field_value(sc: Scenario, key: str) -> Any:
    """A scenario field's value as the model uses it (byte sizes as the words they hold
    times the word size, so that sizes the words round to the same compare equal)."""
    hw = sc.hardware
    if key == "batch":
        return sc.batch
    if key == "word_bits":
        return hw.word_bits
    section, _, name = key.partition(".")
    if section == "hardware":
        wb = word_bytes(hw.word_bits)
        if name == "regf_bytes":
            return hw.regf_words * wb
        if name == "gbuf_bytes":
            return hw.gbuf_words * wb
        if name == "array_bus_width":
            return hw.array_bus_width * hw.word_bits
        if name == "dram_bandwidth":
            return hw.dram_bandwidth * wb
        return getattr(hw, name)
    value = getattr({"costs": sc.costs, "search": sc.search, "solver": sc.solver,
                     "model": sc.rules}[section],
                    name)
    if key == "search.bypass":
        return frozenset(value)
    return value


def _show(value: Any) -> str:
    if isinstance(value, (frozenset, tuple, list)):
        items = sorted(value) if isinstance(value, frozenset) else value
        return "[" + ", ".join(_show(v) for v in items) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:g}"
    if isinstance(value, dict):
        return "{" + ", ".join(sorted(map(str, value))) + "}" if value else "{}"
    return str(value)
