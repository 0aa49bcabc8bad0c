"""Fuzzing the input loaders: whatever a scenario, network or override document holds, loading
it either succeeds or fails with one clear InputError naming the file (exit code 2 from the
CLI), never another exception.

The example counts below add up to the "fuzzing count" reported for the loaders; the
``thorough`` hypothesis profile (``--hypothesis-profile thorough``) raises each to 2000.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnsolve.cli.main import main
from nnsolve.errors import NnsolveError
from nnsolve.formats.fields import parse_yaml
from nnsolve.formats.network_yaml import network_from_dict
from nnsolve.formats.scenario_yaml import FIELDS, SECTIONS, apply_overrides, scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "configs" / "eyeriss_isca16_alexnet.yaml").read_text())
SOURCE = "fuzz.yaml"

# -- generated values --------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(-3, 300),
    st.sampled_from([0, -1, 2**31, 2**63, 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True),
)
NAMES = st.sampled_from(["conv1", "fc8", "input", "pool5", "x", "", " ", "*", "conv2_a"])
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, NAMES, st.text(max_size=8),
                    st.sampled_from(["inf", ".inf", "-inf", "nan", "2D", "3D", "energy",
                                     "cpsat", "hybrid", "ifmap", "16", "1e3"]))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(NAMES, st.text(max_size=6)), inner,
                                            max_size=4)),
    max_leaves=12)

FIELD_KEYS = [f.key for f in FIELDS]
# Known keys, near misses and section names, so mutations reach deep into the loader.
PATHS = st.one_of(
    st.sampled_from(FIELD_KEYS),
    st.sampled_from([*SECTIONS, "hardware.node", "costs.DRAM", "serach.goal", "solver.metod",
                     "search.pin.conv1", "search.pin.*", "search.pin.conv1.loops",
                     "search.pin.nope.mapping", "netwrok", "extra"]),
)


def _set(doc: dict, dotted: str, value) -> None:
    node = doc
    parts = dotted.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def _delete(doc: dict, dotted: str) -> None:
    node = doc
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.get(part)
        if not isinstance(node, dict):
            return
    node.pop(parts[-1], None)


@st.composite
def mutated_scenarios(draw) -> dict:
    """A valid scenario with a few keys set to arbitrary values or removed."""
    doc = copy.deepcopy(BASE)
    doc["network"] = draw(st.sampled_from(["alex_net", "mlp_s", "lstm_phoneme"]))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(PATHS)
        if draw(st.integers(0, 4)) == 0:
            _delete(doc, path)
        else:
            _set(doc, path, draw(VALUES))
    return doc


def _check_rejection(exc: NnsolveError, source: str) -> None:
    message = str(exc)
    assert message.startswith(source), message
    assert "\n" not in message and "Traceback" not in message, message


def _load(doc, source: str = SOURCE):
    try:
        return scenario_from_dict(doc, source, base_dir=ROOT / "configs")
    except NnsolveError as exc:
        _check_rejection(exc, source)
        return None


FUZZ = settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow], deadline=None)


@FUZZ
@given(mutated_scenarios())
def test_mutated_scenarios_load_or_fail_clearly(doc):
    scenario = _load(doc)
    if scenario is not None:          # accepted: every value is within its field's rule
        assert scenario.batch >= 1 and scenario.hardware.num_nodes >= 1
        assert all(math.isfinite(v) and v >= 0 for v in vars(scenario.costs).values())


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(VALUES)
def test_arbitrary_documents_fail_clearly(doc):
    _load(doc)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(PATHS, st.text(max_size=12)), min_size=1, max_size=3))
def test_set_overrides_fail_clearly(items):
    try:
        doc = apply_overrides(BASE, [f"{key}={text}" for key, text in items])
    except NnsolveError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("--set")
        return
    _load(doc)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{},'\"&*!|>%@#\n 0123456789.")),
               max_size=40))
def test_yaml_text_fails_clearly(text):
    try:
        parse_yaml(text, SOURCE)
    except NnsolveError as exc:
        _check_rejection(exc, SOURCE)


# -- networks ----------------------------------------------------------------------------

LAYER_KEYS = ["name", "type", "out_channels", "out_size", "kernel", "stride", "prevs",
              "inputs", "in_channels", "typo"]


@st.composite
def layer_entries(draw, names: list[str]):
    """A layer entry: mostly sensible keys with arbitrary or plausible values."""
    entry: dict = {"name": draw(st.sampled_from(names)),
                   "type": draw(st.sampled_from(["conv", "fc", "pool", "eltwise", "lstm", 3]))}
    for key in draw(st.lists(st.sampled_from(LAYER_KEYS), max_size=5, unique=True)):
        if key == "prevs":
            entry[key] = draw(st.one_of(st.sampled_from(names),
                                        st.lists(st.sampled_from([*names, "input", "ghost"]),
                                                 max_size=3),
                                        VALUES))
        else:
            entry[key] = draw(st.one_of(st.integers(-2, 64),
                                        st.lists(st.integers(0, 9), max_size=3), VALUES))
    return entry


@st.composite
def networks(draw) -> dict:
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "input", "e"]), min_size=1,
                          max_size=5))
    doc = {"input": draw(st.one_of(
        st.fixed_dictionaries({"channels": st.integers(-1, 16), "size": st.integers(-1, 32)}),
        VALUES))}
    doc["layers"] = draw(st.one_of(st.lists(layer_entries(names), max_size=6), VALUES))
    if draw(st.booleans()):
        doc["name"] = draw(VALUES)
    if draw(st.integers(0, 5)) == 0:
        doc["external"] = draw(VALUES)
    return doc


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(networks())
def test_networks_load_or_fail_clearly(doc):
    try:
        net = network_from_dict(doc, "net.yaml")
    except NnsolveError as exc:
        _check_rejection(exc, "net.yaml")
        return
    # Accepted: a DAG whose edges point backwards in insertion order (so no cycle).
    order = list(net.layers)
    for name, prevs in net.prevs.items():
        for p in prevs:
            assert p not in net.layers or order.index(p) < order.index(name)


def test_cycles_and_self_references_are_rejected():
    doc = {"input": {"channels": 3, "size": 8},
           "layers": [{"name": "a", "type": "conv", "out_channels": 4, "out_size": 8,
                       "kernel": 1, "prevs": ["b"]},
                      {"name": "b", "type": "conv", "out_channels": 3, "out_size": 8,
                       "kernel": 1, "prevs": ["a"]}]}
    with pytest.raises(NnsolveError, match=r"layers\[0\].*'b' is not an earlier layer"):
        network_from_dict(doc, "net.yaml")
    doc["layers"][0]["prevs"] = ["a"]
    with pytest.raises(NnsolveError, match="'a' is not an earlier layer"):
        network_from_dict(doc, "net.yaml")


# -- through the command line: exit code 2 and one line on stderr ---------------------------

@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.function_scoped_fixture],
          deadline=None)
@given(doc=mutated_scenarios())
def test_cli_rejects_with_exit_code_2(doc, tmp_path, capsys):
    if _load(doc) is not None:
        return                        # a valid scenario: nothing to reject (not solved here)
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(doc))
    # Relative network files are looked up beside the scenario; the zoo names need none.
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_yaml_is_loaded_safely(tmp_path):
    """A Python tag is an error, never executed."""
    path = tmp_path / "evil.yaml"
    marker = tmp_path / "ran"
    path.write_text(f"!!python/object/apply:os.system ['touch {marker}']\n")
    assert main(["solve", str(path)]) == 2
    assert not marker.exists()
