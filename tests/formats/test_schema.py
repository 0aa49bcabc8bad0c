"""The scenario JSON Schema: a valid draft 2020-12 schema that accepts every shipped scenario,
rejects the usual mistakes, and agrees with the loader on what it accepts."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from nnsolve.cli.main import main
from nnsolve.errors import InputError
from nnsolve.formats.network_yaml import load_zoo
from nnsolve.formats.scenario_yaml import FIELDS, scenario_from_dict
from nnsolve.formats.schema import INF_PATTERN, scenario_schema

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs").rglob("*.yaml")
                   if "sweeps" not in p.relative_to(ROOT / "configs").parts)
NET = load_zoo("mlp_s")


@pytest.fixture(scope="module")
def validator():
    schema = scenario_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _accepts(validator, doc) -> bool:
    return not list(validator.iter_errors(doc))


def _loader_accepts(doc) -> bool:
    try:
        scenario_from_dict(doc, "<test>", network=NET)
    except InputError:
        return False
    return True


def test_shipped_scenarios_exist():
    assert len(SCENARIOS) >= 60


@pytest.mark.parametrize("path", SCENARIOS)
def test_every_shipped_scenario_validates(validator, path):
    doc = yaml.safe_load((ROOT / path).read_text())
    errors = [e.message for e in validator.iter_errors(doc)]
    assert not errors, errors


def test_the_documented_examples_validate(validator):
    text = (ROOT / "docs" / "scenarios.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        doc = yaml.safe_load(block)
        doc.setdefault("network", "alex_net")      # the pins example is a fragment
        assert _accepts(validator, doc), block


def test_every_field_is_in_the_schema_with_its_description():
    props = scenario_schema()["properties"]
    for f in FIELDS:
        section, _, key = f.key.rpartition(".")
        entry = props[section]["properties"][key] if section else props[key]
        assert entry["description"].startswith(f.doc)
        if f.unit:
            assert f"Unit: {f.unit}." in entry["description"]
    assert scenario_schema()["required"] == ["network"]
    assert props["hardware"]["additionalProperties"] is False
    assert props["costs"]["properties"]["dram"]["default"] == 200.0
    assert props["hardware"]["properties"]["array_bus_width"]["default"] == "inf"


BASE = {"network": "mlp_s"}

# (document, reason) pairs the schema and the loader must both reject.
WRONG = [
    ({**BASE, "hardwre": {}}, "unknown top-level key"),
    ({**BASE, "hardware": {"gbuf_byte": 1024}}, "unknown key in a section"),
    ({**BASE, "batch": "four"}, "wrong type"),
    ({**BASE, "batch": True}, "a boolean is not an integer"),
    ({**BASE, "batch": 0}, "below the minimum"),
    ({**BASE, "costs": {"dram": -1}}, "negative cost"),
    ({**BASE, "solver": {"method": "simplex"}}, "not a choice"),
    ({**BASE, "search": {"bypass": ["ifmap", "psum"]}}, "not a data category"),
    ({**BASE, "search": {"bypass": ["ifmap", "ifmap"]}}, "listed twice"),
    ({**BASE, "hardware": {"nodes": [4, 4, 4]}}, "a pair of three"),
    ({**BASE, "hardware": {"pe_array": [16, 0]}}, "a zero dimension"),
    ({**BASE, "costs": {"mac": "inf"}}, "inf where it is not allowed"),
    ({**BASE, "costs": {"mac": float("inf")}}, "YAML .inf where it is not allowed"),
    ({**BASE, "solver": {"time_limit_s": 0}}, "not positive"),
    ({**BASE, "solver": {"time_limit_s": "forever"}}, "text that is not inf"),
    ({**BASE, "costs": {"dram": "-2e2"}}, "negative cost as text"),
    ({**BASE, "hardware": {"regf_bytes": 2**60}}, "above the sanity limit"),
    ({**BASE, "hardware": {"nodes": [2, 10**6]}}, "pair above the sanity limit"),
    ({**BASE, "search": {"pin": {"fc1": {"factors": {"i": [1, 2]}}}}}, "two pin levels"),
    ({**BASE, "search": {"pin": {"fc1": {"factors": {"x": [1, 2, 3]}}}}}, "not a loop"),
    ({**BASE, "search": {"pin": {"fc1": {"innermost": ["q", None]}}}}, "not a loop"),
    ({**BASE, "search": {"pin": {"fc1": {"gbuf_resident": {"psum": True}}}}}, "not data"),
    ({**BASE, "search": {"pin": {"fc1": {"mapping": -1}}}}, "negative candidate"),
    ({**BASE, "search": {"pin": {"fc1": {"order": ["i"]}}}}, "unknown pin"),
    ({**BASE, "costs": {"dram": 1e308}}, "a cost beyond the finite-energy limit"),
    ({**BASE, "costs": {"idle": 1e-300}}, "a cost below the full-precision limit"),
    ({**BASE, "hardware": {"dram_bandwidth": 1e20}}, "a rate beyond the exact models"),
    ({**BASE, "hardware": {"array_bus_width": 1e13}}, "a bus beyond the exact models"),
    ({**BASE, "solver": {"workers": 100000}}, "more threads than CP-SAT runs"),
    ({"batch": 4}, "network missing"),
    ({"network": None}, "network null"),
    ([1, 2], "not a mapping"),
]

# Documents the loader accepts, some of them loosely; the schema must accept them too.
RIGHT = [
    {**BASE, "hardware": None, "costs": {}},
    {**BASE, "batch": None, "name": None},
    {**BASE, "batch": 16.0},
    {**BASE, "hardware": {"nodes": 4, "pe_array": [16, 16], "memory": "3d"}},
    {**BASE, "solver": {"method": "CPSAT", "time_limit_s": "inf",
                        "total_time_limit_s": float("inf")}},
    {**BASE, "hardware": {"array_bus_width": " Infinity ", "dram_bandwidth": ".inf"}},
    {**BASE, "search": {"bypass": [], "goal": "EDP", "pipeline_max_degree": 4}},
    {**BASE, "search": {"pin": {"*": {"gbuf_resident": {"ifmap": True}},
                                "fc1": {"mapping": 0, "factors": {"i": [1, None, 3]},
                                        "innermost": ["O", "none"]}}}},
    {**BASE, "search": {"pin": {"fc2": {"mapping": None, "factors": None}}}},
    {**BASE, "costs": {"noc_hop": "2e-12", "idle": " 0.5 "}},
    {**BASE, "costs": {"dram": 1e100, "mac": 1e-100, "gbuf": 0}},
    {**BASE, "hardware": {"dram_bandwidth": 1e12, "array_bus_width": float("inf")}},
]


@pytest.mark.parametrize("doc, why", WRONG, ids=[w for _, w in WRONG])
def test_mistakes_fail_validation_as_they_fail_loading(validator, doc, why):
    assert not _accepts(validator, doc), why
    assert not _loader_accepts(doc), why


@pytest.mark.parametrize("doc", RIGHT)
def test_what_the_loader_accepts_validates(validator, doc):
    assert _loader_accepts(doc)
    errors = [e.message for e in validator.iter_errors(doc)]
    assert not errors, errors


def test_inf_pattern_matches_what_the_loader_reads_as_infinity():
    for text in ("inf", ".inf", "INF", ".Inf", "infinity", "  Infinity "):
        assert re.match(INF_PATTERN, text), text
    for text in ("-inf", "infinite", "in f", "nan", "1e999x"):
        assert not re.match(INF_PATTERN, text), text


def test_schema_command_prints_the_schema(capsys, tmp_path):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(scenario_schema()))
    out = tmp_path / "scenario.schema.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == printed
