"""Fuzzing the input loaders: whatever a scenario, network, override, sweep, result JSON or
ONNX graph holds, loading it either succeeds or fails with one clear InputError naming the
file (exit code 2 from the CLI), never another exception. The values include the classes of
issue 14: numbers at and beyond their limits (1e308, 1e-320, 10**400, nan), texts far longer
than a message may repeat, empty and YAML-structured --set values, alias bombs, aliases
inside their own anchor, deep nesting, grids past the run limit, cyclic and unsorted graphs.

The example counts below add up to the "fuzzing count" reported for the loaders; the
``thorough`` hypothesis profile (``--hypothesis-profile thorough``) raises each to 2000.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnsolve.cli.main import main
from nnsolve.errors import MAX_SHOWN, NnsolveError
from nnsolve.formats.fields import MAX_DEPTH, MAX_EXPANDED, nesting_depth, parse_yaml
from nnsolve.formats.network_yaml import network_from_dict
from nnsolve.formats.scenario_yaml import FIELDS, SECTIONS, apply_overrides, scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "configs" / "eyeriss_isca16_alexnet.yaml").read_text())
SOURCE = "fuzz.yaml"

# -- generated values --------------------------------------------------------------------

#: A value far longer than any error may repeat (errors cut values to MAX_SHOWN).
LONG = "Z" * 3000

NUMBERS = st.one_of(
    st.integers(-3, 300),
    st.sampled_from([0, -1, 2**31, 2**63, 10**30, -(10**30), 10**400, -(2**1030), 100000,
                     256, 257]),
    st.floats(allow_nan=True, allow_infinity=True),
    # The edges of the numeric limits (costs, rates) and the floats beyond them.
    st.sampled_from([1e308, 1e300, 1.0000001e100, 1e100, 1e-100, 9.9e-101, 1e-320, 5e-324,
                     -0.0, 1e12, 1.000001e12, 1e20]),
)
NAMES = st.sampled_from(["conv1", "fc8", "input", "pool5", "x", "", " ", "*", "conv2_a",
                         ":x:", "[bold]b[/]", LONG, "n" * 129])
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, NAMES, st.text(max_size=8),
                    st.sampled_from(["inf", ".inf", "-inf", "nan", "2D", "3D", "energy",
                                     "cpsat", "hybrid", "ifmap", "16", "1e3", "1e308",
                                     "1e-320", "\n", LONG, "9" * 500]))
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
    assert "Z" * (MAX_SHOWN + 1) not in message and "9" * (MAX_SHOWN + 1) not in message, \
        message                                   # a long value is cut, never echoed
    assert len(message) < 2000, message


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


OVERRIDE_TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "\t", "null", "~", "1e308", "1e-320", ".nan", "-.inf", "[]",
                     "{}", "[" * 100 + "]" * 100, "&a [*a]", "9" * 5000, LONG, "100000",
                     "2024-13-01", "!!python/object/apply:os.system ['true']"]))


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(PATHS, OVERRIDE_TEXTS), min_size=1, max_size=3))
def test_set_overrides_fail_clearly(items):
    try:
        doc = apply_overrides(BASE, [f"{key}={text}" for key, text in items])
    except NnsolveError as exc:
        assert str(exc).startswith("--set")
        _check_rejection(exc, "--set")
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
    assert "Z" * (MAX_SHOWN + 1) not in err and err.count("\n") == 1, err


def test_yaml_is_loaded_safely(tmp_path):
    """A Python tag is an error, never executed."""
    path = tmp_path / "evil.yaml"
    marker = tmp_path / "ran"
    path.write_text(f"!!python/object/apply:os.system ['touch {marker}']\n")
    assert main(["solve", str(path)]) == 2
    assert not marker.exists()


# -- YAML structure: aliases, anchors inside themselves, deep nesting ----------------------

@st.composite
def yaml_structures(draw) -> str:
    """YAML text built from nested flow lists, anchors and aliases: billion-laughs bombs of
    random width and depth, aliases inside their own anchor, deep brackets, block nesting."""
    kind = draw(st.sampled_from(["bomb", "bomb", "self", "deep", "block", "chain"]))
    if kind == "bomb":
        width, levels = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        text = "&a0 [" + ", ".join([draw(st.sampled_from(['"lol"', "1", LONG[:200]]))]
                                   * width) + "]"
        for i in range(1, levels):
            text = f"&a{i} [{text}" + f", *a{i - 1}" * (width - 1) + "]"
    elif kind == "self":
        text = draw(st.sampled_from(["&s [1, *s]", "&s {k: *s}", "&s [[*s]]", "&s [1, [2, *s]]"]))
    elif kind == "deep":
        depth = draw(st.integers(1, 400))
        text = "[" * depth + draw(st.sampled_from(["", "1", "{a: 1}"])) + "]" * depth
    elif kind == "block":
        depth = draw(st.integers(1, 80))
        text = "\n" + "".join(f"{'  ' * (i + 1)}- \n" for i in range(depth)).rstrip() + " 1"
    else:                                   # each anchor nests the one before it once
        count = draw(st.integers(1, 60))
        text = "\n" + "\n".join(["  a0: &a0 [1]"] + [f"  a{i}: &a{i} [*a{i - 1}]"
                                                      for i in range(1, count)])
    key = draw(st.sampled_from(["search", "hardware", "name", "batch", "costs"]))
    return f"network: mlp_s\n{key}: {text}\n"


def _expanded_size(doc) -> int:
    """Values in ``doc`` with shared parts counted every time they appear (memoised)."""
    memo: dict[int, int] = {}

    def size(value) -> int:
        if isinstance(value, (list, dict)):
            if id(value) not in memo:
                items = value.values() if isinstance(value, dict) else value
                memo[id(value)] = 1 + sum(size(v) for v in items)
            return memo[id(value)]
        return 1
    return size(doc)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(yaml_structures())
def test_yaml_aliases_and_nesting_load_bounded_or_fail_clearly(text):
    import time

    start = time.perf_counter()
    try:
        doc = parse_yaml(text, SOURCE)
    except NnsolveError as exc:
        _check_rejection(exc, SOURCE)
        message = str(exc)
        assert "nested deeper" in message or "expands" in message or "refers to" in message, \
            message
    else:
        assert nesting_depth(doc) <= MAX_DEPTH and _expanded_size(doc) <= MAX_EXPANDED
        _load(doc)                        # and the scenario loader copes with what loads
    assert time.perf_counter() - start < 10


# -- sweep files ------------------------------------------------------------------------------

@st.composite
def sweep_texts(draw) -> str:
    """A sweep file: base and out, a grid and/or runs of arbitrary or plausible overrides,
    sometimes with an alias bomb or a grid whose combinations pass the limit."""
    lines = ["base: base.yaml", "out: out"]
    if draw(st.booleans()):
        axes = {}
        for key in draw(st.lists(PATHS, max_size=3, unique=True)):
            axes[key] = draw(st.one_of(
                st.lists(SCALARS, max_size=4),
                st.integers(1, 300).map(lambda n: list(range(1, n + 1))),
                VALUES))
        lines.append(f"grid: {json.dumps(axes, default=str)}")
    if draw(st.booleans()):
        runs = draw(st.one_of(
            st.lists(st.dictionaries(PATHS, VALUES, max_size=3), max_size=4), VALUES))
        lines.append(f"runs: {json.dumps(runs, default=str)}")
    if draw(st.integers(0, 4)) == 0:
        lines.append(f"extra: {draw(yaml_structures()).split(': ', 2)[-1]}")
    return "\n".join(lines) + "\n"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.function_scoped_fixture],
          deadline=None)
@given(text=sweep_texts())
def test_sweep_files_load_or_fail_clearly(text, tmp_path):
    from nnsolve.sweep.spec import MAX_RUNS, load_sweep

    (tmp_path / "base.yaml").write_text("network: mlp_s\nsolver: {method: analytical}\n")
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    try:
        sweep = load_sweep(path)
    except NnsolveError as exc:
        _check_rejection(exc, str(path))
        return
    assert 1 <= len(sweep.runs) <= MAX_RUNS
    assert len({run.id for run in sweep.runs}) == len(sweep.runs)


# -- result JSON read back (evaluate, explain) ------------------------------------------------

@st.composite
def result_texts(draw) -> str:
    kind = draw(st.sampled_from(["doc", "deep", "digits", "text"]))
    if kind == "deep":
        depth = draw(st.integers(1, 3000))
        return '{"layers": ' + "[" * depth + "]" * depth + "}"
    if kind == "digits":
        return '{"layers": [{"name": "fc1", "schedule": ' + "9" * draw(
            st.sampled_from([10, 400, 4301, 6000])) + "}]}"
    if kind == "text":
        return draw(st.text(alphabet=st.sampled_from(list('{}[]":,0123456789.eE-naNIfity ')),
                            max_size=60))
    doc = {"layers": draw(st.one_of(
        st.lists(st.fixed_dictionaries({"name": NAMES, "schedule": VALUES}), max_size=3),
        VALUES))}
    if draw(st.booleans()):
        doc["segments"] = draw(VALUES)
    if draw(st.booleans()):
        doc["input_partition"] = draw(VALUES)
    return json.dumps(doc, default=str)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.function_scoped_fixture],
          deadline=None)
@given(text=result_texts())
def test_result_json_reads_or_fails_clearly(text, tmp_path):
    from nnsolve.formats.result_json import read_schedules

    path = tmp_path / "r.json"
    path.write_text(text)
    try:
        read_schedules(str(path), with_input=True)
    except NnsolveError as exc:
        _check_rejection(exc, str(path))


# -- ONNX graphs: cycles, unsorted nodes, tensors written twice --------------------------------

@st.composite
def onnx_graphs(draw):
    """Small graphs of shape-keeping nodes (Relu, MaxPool 1x1, Add) whose inputs are the
    network input or any node's output, before or after it (so cycles, self-loops and
    unsorted graphs occur); sometimes two nodes write the same tensor."""
    count = draw(st.integers(1, 6))
    tensors = ["x"] + [f"t{i}" for i in range(count)]
    nodes = []
    for i in range(count):
        op = draw(st.sampled_from(["Relu", "MaxPool", "Add", "Add"]))
        arity = 2 if op == "Add" else 1
        inputs = [draw(st.sampled_from(tensors)) for _ in range(arity)]
        out = f"t{i}" if draw(st.integers(0, 9)) else draw(st.sampled_from(tensors))
        nodes.append((op, inputs, out, draw(st.booleans())))
    return nodes


def _has_cycle(nodes) -> bool:
    writer = {}
    for i, (_, _, out, _) in enumerate(nodes):
        writer.setdefault(out, i)
    state = {}

    def visit(i) -> bool:                 # True when a cycle is reachable from node i
        if state.get(i) == "open":
            return True
        if state.get(i) == "done":
            return False
        state[i] = "open"
        found = any(visit(writer[t]) for t in nodes[i][1] if t in writer)
        state[i] = "done"
        return found
    return any(visit(i) for i in range(len(nodes)))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.function_scoped_fixture],
          deadline=None)
@given(nodes=onnx_graphs())
def test_onnx_graphs_import_or_fail_clearly(nodes, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from nnsolve.formats.onnx import load_onnx

    made = [helper.make_node(op, inputs, [out], name=f"n{i}" if named else "",
                             **({"kernel_shape": [1, 1]} if op == "MaxPool" else {}))
            for i, (op, inputs, out, named) in enumerate(nodes)]
    shape = [1, 4, 6, 6]
    graph = helper.make_graph(made, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                        shape)],
                              [helper.make_tensor_value_info(nodes[-1][2], TensorProto.FLOAT,
                                                             None)])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              str(path))
    outs = [out for _, _, out, _ in nodes]
    twice = len(set(outs)) != len(outs) or "x" in outs
    try:
        net = load_onnx(path)
    except NnsolveError as exc:
        _check_rejection(exc, str(path))
        if _has_cycle(nodes) and not twice:
            assert "cycle" in str(exc), str(exc)
        return
    assert not _has_cycle(nodes) and not twice      # a cycle is never imported
    assert 1 <= len(net) <= len(nodes)
