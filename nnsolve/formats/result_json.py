"""Self-contained result documents: a result JSON that also carries the scenario it solved.

``solve --json``, ``compare --json`` and every sweep run write the scenario document (overrides
applied) and the network itself under ``inputs``, so ``nnsolve explain RESULT.json`` and
``nnsolve evaluate`` can rebuild the exact problem without the original files.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from ..errors import InputError, join
from ..scenario import Scenario
from .fields import Fields, load_json
from .network_yaml import network_from_dict, network_to_dict
from .scenario_yaml import scenario_from_dict
from .schedule_json import schedule_from_json


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


def scenario_from_result(doc: Any, source: str) -> Scenario:
    """Rebuild the scenario stored in a result document's ``inputs``."""
    inputs = doc.get("inputs") if isinstance(doc, dict) else None
    if not isinstance(inputs, dict) or not isinstance(inputs.get("scenario"), dict) \
            or not isinstance(inputs.get("network"), dict):
        raise InputError(source, "inputs", "this result does not carry its scenario (results "
                         "written before nnsolve 0.1 do not); give the scenario file too")
    network = network_from_dict(inputs["network"], f"{source}: inputs.network")
    scenario = scenario_from_dict(inputs["scenario"], f"{source}: inputs.scenario",
                                  default_name=network.name, network=network)
    return replace(scenario, source=str(inputs.get("source", source)))


def read_schedules(path: str, with_input: bool = False):
    """The per-layer schedules of a result JSON, by layer name (and, ``with_input``, how the
    network input lies in DRAM on a node array, a Partition or None, and the pipeline
    segments, or None)."""
    doc = load_json(path, what="schedule file")
    fields = Fields(path)
    top = doc if isinstance(doc, dict) else {}
    layers = fields.sequence(top.get("layers"), "layers")
    schedules = {}
    for i, entry in enumerate(layers):
        where = join("layers", i)
        if not isinstance(entry, dict):
            raise fields.error(where, "must be a mapping with 'name' and 'schedule'")
        name = fields.string(entry.get("name"), join(where, "name"))
        if "schedule" not in entry:
            raise fields.error(join(where, "schedule"), "required key is missing")
        schedules[name] = schedule_from_json(entry["schedule"], path, join(where, "schedule"))
    if not with_input:
        return schedules
    input_partition = None
    if top.get("input_partition") is not None:
        input_partition = schedule_from_json(
            {"mapping": {"index": 0}, "partition": top["input_partition"],
             "blocking": {"factors": [{"i": 1, "o": 1, "b": 1}] * 3,
                          "orders": [["i", "o", "b"]] * 2}},
            path, "input_partition").partition
    segments = None
    if top.get("segments") is not None:
        segments = []
        for i, seg in enumerate(fields.sequence(top["segments"], "segments")):
            where = join("segments", i)
            if not isinstance(seg, dict) or "layers" not in seg:
                raise fields.error(where, "must be a mapping with 'layers' (a list of "
                                   "spatial entries, each a list of layer names)")
            entries = fields.sequence(seg["layers"], join(where, "layers"))
            segments.append(tuple(
                tuple(fields.string(n, join(join(join(where, "layers"), k), j))
                      for j, n in enumerate(fields.sequence(e, join(join(where, "layers"), k))))
                for k, e in enumerate(entries)))
    return schedules, input_partition, segments
