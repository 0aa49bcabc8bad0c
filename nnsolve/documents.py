"""Self-contained result documents: a result JSON that also carries the scenario it solved.

``solve --json``, ``compare --json`` and every sweep run write the scenario document (overrides
applied) and the network itself under ``inputs``, so ``nnsolve explain RESULT.json`` and
``nnsolve evaluate`` can rebuild the exact problem without the original files.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .errors import InputError
from .model.network import network_from_dict, network_to_dict
from .scenario import Scenario, scenario_from_dict


def scenario_inputs(scenario: Scenario) -> dict[str, Any]:
    """The ``inputs`` entry of a result JSON: the scenario document and the network."""
    doc = {k: v for k, v in scenario.document.items() if k != "network"}
    doc["name"] = scenario.name
    doc["network"] = scenario.network.name
    return {"scenario": doc, "network": network_to_dict(scenario.network),
            "source": scenario.source}


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
