"""Re-scoring saved results (issue 14): the scenario is checked against the one solved, every
schedule is checked exactly, interrupted and compare results are re-scored, and whatever a
file holds gives either one InputError or the score a fresh evaluation gives.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnsolve.errors import InputError, NnsolveError
from nnsolve.formats.files import write_json
from nnsolve.formats.result_json import read_result, result_document
from nnsolve.formats.scenario_yaml import load_scenario
from nnsolve.formats.schedule_json import read_schedule
from nnsolve.model.evaluate import evaluate_layer
from nnsolve.model.schedule import Partition
from nnsolve.search.compare import compare
from nnsolve.search.layer_solve import layer_problem
from nnsolve.search.network_search import Progress, evaluate_schedules, solve
from nnsolve.search.rescore import rescore

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SINGLE = CONFIGS / "single_node" / "mlp_s.yaml"
ARRAY = CONFIGS / "tetris_4x4" / "mlp_s.yaml"
ARRAY_SETS = ["hardware.nodes=[2, 2]", "batch=4", "search.batch_partition=true"]
PIPE_YAML = ("network: mlp_s\nbatch: 4\nhardware: {nodes: [2, 2], pe_array: [4, 4], "
             "regf_bytes: 64, gbuf_bytes: 8192}\nsearch: {interlayer: true, "
             "save_writeback: true, bypass: [ifmap, ofmap, weight]}\n"
             "solver: {method: exhaustive}\n")


def _interrupted(scenario, after: int):
    """The result of a solve interrupted (Ctrl-C) once ``after`` layers are done."""
    from nnsolve.results import SolveInterrupted

    done = []

    def advance(name: str) -> None:
        done.append(name)
        if len(done) == after:
            raise KeyboardInterrupt

    with pytest.raises(SolveInterrupted) as stop:
        solve(scenario, "exhaustive", Progress(advance=advance))
    return stop.value.result


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Solved results of MLP-S (one node, a 2x2 array, pipelined on 2x2; interrupted ones;
    a comparison), written as result JSONs: name -> (scenario, result, path)."""
    tmp = tmp_path_factory.mktemp("rescore")
    pipe_yaml = tmp / "pipe.yaml"
    pipe_yaml.write_text(PIPE_YAML)
    scenarios = {"single": load_scenario(SINGLE), "array": load_scenario(ARRAY, ARRAY_SETS),
                 "pipe": load_scenario(pipe_yaml)}
    out = {}
    for name, sc in scenarios.items():
        out[name] = (sc, solve(sc, "exhaustive"))
        out[f"int_{name}"] = (sc, _interrupted(sc, 2))
    sc = scenarios["single"]
    out["compare"] = (sc, compare(sc, ("exhaustive", "analytical")))
    paths = {}
    for name, (sc, result) in out.items():
        path = tmp / f"{name}.json"
        write_json(result_document(result, sc), path)
        paths[name] = (sc, result, str(path))
    paths["pipe_yaml"] = (None, None, str(pipe_yaml))
    return paths


def _doc(files, name):
    return json.loads(Path(files[name][2]).read_text())


def _rescore_doc(files, name, doc, **kw):
    return rescore(files[name][2], doc=doc, **kw)


def _same_scores(a, b) -> None:
    assert [lo.name for lo in a.layers] == [lo.name for lo in b.layers]
    for x, y in zip(a.layers, b.layers, strict=True):
        assert (x.result.energy, x.result.time) == (y.result.energy, y.result.time), x.name
    assert (a.energy, a.time) == (b.energy, b.time)


# -- unedited results re-score to their own numbers ------------------------------------------


@pytest.mark.parametrize("name", ["single", "array", "pipe"])
def test_an_unedited_result_rescores_bit_for_bit(files, name):
    _sc, result, path = files[name]
    done = rescore(path)
    _same_scores(done.result, result)
    assert done.present == done.total == 3 and done.notes == []
    # Against its own scenario file, too (the pipelined one is a file of the fixture).
    source = {"single": SINGLE, "array": ARRAY, "pipe": files["pipe_yaml"][2]}[name]
    sets = ARRAY_SETS if name == "array" else []
    _same_scores(rescore(path, source, sets).result, result)


# -- 1. the scenario must be the one solved ---------------------------------------------------


def test_a_batch_mismatch_is_refused_naming_the_field(files):
    path = files["single"][2]
    with pytest.raises(InputError) as err:
        rescore(path, SINGLE, ["batch=2"])
    text = str(err.value)
    assert text.startswith("--set: batch:") and "solved for batch 16, not 2" in text
    other = Path(files["pipe_yaml"][2]).parent / "batch2.yaml"
    other.write_text(SINGLE.read_text().replace("batch: 16", "batch: 2"))
    with pytest.raises(InputError, match=r"batch2.yaml: does not match the scenario .* "
                                         r"batch 2 here, 16 in the result"):
        rescore(path, other)


def test_hardware_and_network_mismatches_are_refused_together(files):
    with pytest.raises(InputError) as err:
        rescore(files["array"][2], ARRAY)        # the 4x4 file without the fixture's --set
    text = str(err.value)
    for words in ("batch 16 here, 4 in the result", "hardware.nodes [4, 4] here, [2, 2]",
                  "search.batch_partition false here, true"):
        assert words in text
    assert "\n" not in text
    with pytest.raises(InputError, match=r"--set: network: .* solved for network MLP-S, "
                                         r"not MLP-M"):
        rescore(files["single"][2], SINGLE, ["network=mlp_m"])
    other = Path(files["pipe_yaml"][2]).parent / "mlp_m.yaml"
    other.write_text(SINGLE.read_text().replace("network: mlp_s", "network: mlp_m"))
    with pytest.raises(InputError, match="network MLP-M here, MLP-S in the result"):
        rescore(files["single"][2], other)
    with pytest.raises(InputError, match="--set: network"):
        rescore(files["single"][2], None, ["network=mlp_m"])
    with pytest.raises(InputError, match=r"hardware\.gbuf_bytes"):
        rescore(files["single"][2], None, ["hardware.gbuf_bytes=65536"])


def test_costs_change_only_on_purpose(files):
    _sc, result, path = files["single"]
    cheap = Path(files["pipe_yaml"][2]).parent / "cheap.yaml"
    cheap.write_text(SINGLE.read_text().replace("dram: 200", "dram: 100"))
    with pytest.raises(InputError, match=r"costs or model rules differ .* costs.dram 100 "
                                         r"here, 200 in the result; .* --set costs.dram=100"):
        rescore(path, cheap)
    for scenario, sets in ((cheap, ["costs.dram=100"]), (SINGLE, ["costs.dram=100"]),
                           (None, ["costs.dram=100"])):
        done = rescore(path, scenario, sets)
        assert "costs.dram 100 (solved with 200)" in done.notes[0]
        fresh = evaluate_schedules(load_scenario(SINGLE, ["costs.dram=100"]),
                                   {lo.name: lo.schedule for lo in result.layers})
        _same_scores(done.result, fresh)
        assert done.result.energy < result.energy


def test_free_fields_may_differ(files):
    _sc, result, path = files["single"]
    done = rescore(path, SINGLE, ["solver.method=milp", "search.goal=delay", "name=other"])
    _same_scores(done.result, result)
    assert done.result.goal == "delay"


def test_a_result_without_inputs_is_rescored_unchecked_with_a_note(files):
    _sc, result, _path = files["single"]
    doc = _doc(files, "single")
    del doc["inputs"]
    done = _rescore_doc(files, "single", doc, scenario=SINGLE)
    _same_scores(done.result, result)
    assert "not checked" in done.notes[0]
    with pytest.raises(InputError, match="does not carry its scenario"):
        _rescore_doc(files, "single", doc)


# -- 2. every schedule checked exactly ---------------------------------------------------------


def _edit(doc, path, value):
    """``doc`` with the value at ``path`` (keys and indices) replaced (``DELETE``: removed)."""
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


DELETE = object()
S0 = ("layers", 0, "schedule")


@pytest.mark.parametrize("name, path, value, words", [
    ("single", (*S0, "blocking", "factors", 2, "b"), 32,
     "layers[0].schedule.blocking.factors: loop b: 1 x 1 x 32 = 32; the factors of each loop "
     "over the 3 levels must multiply out to its count in mapping #0: i 784, o 2, b 16"),
    ("single", (*S0, "blocking", "factors", 1, "i"), 392, "loop i: 1 x 392 x 1 = 392"),
    ("single", (*S0, "partition", "factors", "output"), [2, 1],
     "layers[0].schedule.partition.factors: covers 2x1 nodes (the product of its factors); "
     "the layer's region has 1x1: one node needs every factor [1, 1]"),
    ("single", (*S0, "blocking", "gbuf_resident", "weight"), "yes",
     "layers[0].schedule.blocking.gbuf_resident.weight: must be true or false, got 'yes'"),
    ("single", (*S0, "blocking", "gbuf_resident", "weight"), True,
     "layers[0].schedule.blocking.gbuf_resident: weight true, ifmap false, ofmap false is not "
     "what this blocking keeps"),
    ("single", (*S0, "mapping", "loopcnt", "b"), 8, "layers[0].schedule.mapping.loopcnt: "
     "i 784, o 2, b 8 is not candidate #0's"),
    ("single", (*S0, "mapping", "index"), 99, "mapping.index: must be from 0 to"),
    ("single", (*S0, "mapping", "index"), -1, "mapping.index: must be an integer >= 0"),
    ("single", (*S0, "region", "dims"), [2, 2], "layers[0].schedule.region: origin [0, 0] "
     "dims [2, 2] is not where this layer runs: its placement gives origin [0, 0] dims [1, 1]"),
    ("single", (*S0, "segment"), 1, "layers[0].schedule.segment: must be 0"),
    ("single", (*S0, "blocking", "orders", 0), ["i", "i", "b"],
     "orders[0]: must be a permutation of i, o, b"),
    ("single", ("layers", 1, "name"), "fc9",
     "layers[1].name: MLP-S has no layer 'fc9' (did you mean 'fc3'?); its layers: fc1, fc2, fc3"),
    ("single", ("layers", 1, "name"), "fc1",
     "layers[1].name: layer 'fc1' is given twice (first as layers[0])"),
    ("single", ("input_partition",), Partition().to_json(),
     "input_partition: applies to node arrays; this scenario has one node"),
    ("single", ("segments",), [{"layers": [["fc1"]]}], "segments: this scenario does not "
     "pipeline layers"),
    ("single", ("status",), "optimal", None),             # accepted: a free output
    ("array", ("layers", 0, "schedule", "partition", "factors", "input"), [2, 2],
     "layers[0].schedule.partition.factors: covers 4x4 nodes"),
    ("array", ("layers", 0, "schedule", "partition", "factors"),
     {"output": [1, 1], "ofmap": [1, 1], "batch": [1, 1], "input": [2, 2]},
     "{input [2, 2]} is not a partition of fc1 over 2x2 nodes that this scenario allows "
     "(search.partition hybrid, batch_partition true, ifmap_partition false, batch 4)"),
    ("array", ("layers", 0, "schedule", "partition", "order"),
     ["output", "ofmap", "batch", "input"], "partition.order: [output, ofmap, batch, input] "
     "is not an order the search gives these factors; allowed: [ofmap, batch, input, output]"),
    ("array", ("input_partition",), DELETE, "input_partition: required on a node array"),
    ("array", ("input_partition", "factors", "batch"), [1, 1],
     "input_partition: {all [1, 1]} order [output, ofmap, input, batch] is not a layout"),
    ("array", ("layers", 2, "schedule", "region", "origin"), [1, 0],
     "layers[2].schedule.region: origin [1, 0] dims [2, 2] is not where"),
    ("pipe", ("segments", 0, "layers"), [["fc1", "fc3", "fc2"]],
     "segments[0].layers: [['fc1', 'fc3', 'fc2']]: the segments must hold the scheduled "
     "layers once each, in the scheduling order (fc1, fc2, fc3)"),
    ("pipe", ("segments", 0), {"layers": [["fc1", "fc2"], ["fc3"]]},
     "segments[0].layers: [['fc1', 'fc2'], ['fc3']] is not a segment this scenario allows"),
    ("pipe", ("segments", 0, "layers"), [["fc1", "fc2"]],
     "segments: hold 2 of the 3 scheduled layers; fc3 are in no segment"),
    ("pipe", ("segments", 0, "regions", 0, "origin"), [2, 0],
     "segments[0].regions[0]: origin [2, 0] dims [2, 2] lies outside the 2x2 node array"),
    ("pipe", ("segments", 0, "regions"), [{"origin": [0, 0], "dims": [2, 2]}] * 2,
     "segments[0].regions: must give one region per spatial entry (1), got 2"),
    ("pipe", ("layers", 1, "schedule", "segment"), 1, "layers[1].schedule.segment: must be 0"),
    ("pipe", ("layers", 1, "schedule", "region", "dims"), [1, 1],
     "layers[1].schedule.region: origin [0, 0] dims [1, 1] is not where this layer runs"),
    ("int_pipe", ("segments", 0, "regions", 1, "origin"), [0, 0],
     "segments[0].regions: the regions overlap: 4 nodes in 2 regions"),
    ("int_pipe", ("segments", 0, "regions", 0, "dims"), [1, 2],
     "segments[0].regions[0]: origin [0, 0] dims [1, 2] is not this entry's region: the "
     "segment's node allocation (search.region_allocation rounding) gives origin [0, 0] "
     "dims [1, 3]"),
])
def test_edited_schedules_are_refused_exactly(files, name, path, value, words):
    doc = _edit(_doc(files, name), path, value)
    if words is None:
        _same_scores(_rescore_doc(files, name, doc).result, files[name][1])
        return
    with pytest.raises(InputError) as err:
        _rescore_doc(files, name, doc)
    text = str(err.value)
    assert text.startswith(files[name][2] + ": ") and words in text, text
    assert "\n" not in text


def test_a_schedule_that_overflows_a_buffer_says_by_how_much(files):
    doc = _doc(files, "single")
    doc = _edit(doc, (*S0, "blocking", "factors"),
                [{"i": 1, "o": 1, "b": 1}, {"i": 1, "o": 1, "b": 1}, {"i": 784, "o": 2, "b": 16}])
    with pytest.raises(InputError, match=r"layers\[0\].schedule: fc1's schedule does not fit "
                                         r"this hardware: it needs \d+ words of register file "
                                         r"per PE, which has 256"):
        _rescore_doc(files, "single", doc)


def test_the_python_api_names_layers_without_a_file(files):
    sc, result, _ = files["single"]
    schedules = {lo.name: lo.schedule for lo in result.layers}
    from dataclasses import replace

    schedules["fc2"] = replace(schedules["fc2"], partition=Partition(
        factors=((2, 2), (1, 1), (1, 1), (1, 1))))
    with pytest.raises(InputError, match=r"^schedules: schedules.fc2.partition.factors: "
                                         r"covers 2x2 nodes"):
        evaluate_schedules(sc, schedules)


def test_the_python_api_fills_a_default_region_from_the_placement(files):
    """Schedules built outside a solve (replayed from nn_dataflow in the oracle tests) leave
    region and segment at their defaults; any other value must be the placement's."""
    from dataclasses import replace

    from nnsolve.model.schedule import Region

    sc, result, _ = files["array"]
    schedules = {lo.name: replace(lo.schedule, region=Region(), segment=0)
                 for lo in result.layers}
    again = evaluate_schedules(sc, schedules, input_partition=result.input_partition)
    _same_scores(again, result)
    assert all(lo.schedule.region == Region((0, 0), (2, 2)) for lo in again.layers)
    schedules["fc3"] = replace(schedules["fc3"], region=Region((0, 0), (1, 2)))
    with pytest.raises(InputError, match=r"schedules.fc3.region: origin \[0, 0\] dims "
                                         r"\[1, 2\] is not where this layer runs"):
        evaluate_schedules(sc, schedules, input_partition=result.input_partition)


# -- 3. interrupted and compare results --------------------------------------------------------


@pytest.mark.parametrize("name", ["int_single", "int_array", "int_pipe"])
def test_an_interrupted_result_rescores_its_finished_layers(files, name):
    _sc, result, path = files[name]
    assert result.status == "interrupted" and len(result.layers) == 2
    done = rescore(path)
    assert (done.present, done.total) == (2, 3)
    assert done.notes[0].startswith("2 of 3 layers present")
    assert done.result.status == "interrupted"
    _same_scores(done.result, result)
    # Re-scored and written again, it is still an interrupted result that re-scores.
    again = Path(path).with_name(f"{name}_again.json")
    write_json(result_document(done.result, done.scenario), again)
    _same_scores(rescore(again).result, result)


def test_missing_layers_are_refused_unless_interrupted(files):
    doc = _doc(files, "int_single")
    doc["status"] = "feasible"
    with pytest.raises(InputError, match=r"layers: no schedule for layer\(s\) fc3 of MLP-S"):
        _rescore_doc(files, "int_single", doc)
    doc = _doc(files, "int_single")
    del doc["layers"][0]
    with pytest.raises(InputError, match="it has fc2 but not fc1, which comes before it"):
        _rescore_doc(files, "int_single", doc)


def test_a_compare_result_needs_a_method(files):
    _sc, comparison, path = files["compare"]
    with pytest.raises(InputError) as err:
        rescore(path)
    text = str(err.value)
    assert "several methods (exhaustive, analytical); choose one with --method M" in text
    assert "required key" not in text
    for method in ("exhaustive", "analytical"):
        done = rescore(path, method=method)
        _same_scores(done.result, comparison.results[method])
    with pytest.raises(InputError, match="holds no result of 'cpsat'"):
        rescore(path, method="cpsat")
    with pytest.raises(InputError, match="picks one method of a compare result"):
        rescore(files["single"][2], method="cpsat")
    doc = _doc(files, "compare")
    doc["results"]["exhaustive"]["layers"][0]["schedule"]["segment"] = 3
    with pytest.raises(InputError, match=r"results.exhaustive.layers\[0\].schedule.segment: "
                                         r"must be 0"):
        _rescore_doc(files, "compare", doc, method="exhaustive")


# -- whatever a file holds: one InputError, or a fresh evaluation's score ---------------------


VALUES = st.one_of(
    st.integers(-2, 40), st.sampled_from([0, 1, 2, 3, 4, 16, 784, 2**40, 10**30]),
    st.booleans(), st.none(), st.sampled_from(["yes", "", "i", "o", "b", "output", "fc1"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(0, 4), max_size=3), st.just({}),
    st.sampled_from([["i", "o", "b"], ["b", "o", "i"], ["o", "b", "i"]]),
)


def _paths(node, path=()):
    """Every JSON path inside ``node`` (itself included)."""
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


def _editable(doc):
    """The paths of the schedule part of a result: layer entries, input partition, segments
    (their layers and regions)."""
    out = []
    for i, entry in enumerate(doc["layers"]):
        out += [("layers", i, *p) for p in _paths(entry) if p[:1] in (("name",), ("schedule",))]
    if "input_partition" in doc:
        out += [("input_partition", *p) for p in _paths(doc["input_partition"])]
    for i, seg in enumerate(doc.get("segments") or []):
        out += [("segments", i, *p) for p in _paths(seg) if p[:1] in (("layers",),
                                                                      ("regions",))]
    return out


@st.composite
def edits(draw, doc):
    """``doc`` with one to three random edits: a value replaced or removed, a list entry
    repeated or dropped, a layer entry repeated or dropped."""
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["set", "set", "delete", "list", "layers", "move",
                                     "move", "order"]))
        paths = [p for p in _editable(doc) if p]
        path = draw(st.sampled_from(paths))
        if kind in ("move", "order"):
            doc = _valid_edit(draw, doc)
        elif kind == "layers":
            layers = doc["layers"]
            if not isinstance(layers, list) or not layers:
                continue
            i = draw(st.integers(0, len(layers) - 1))
            doc = copy.deepcopy(doc)
            if draw(st.booleans()):
                doc["layers"].append(copy.deepcopy(layers[i]))
            else:
                del doc["layers"][i]
        elif kind == "list":
            lists = [p for p in paths if isinstance(_get(doc, p), list) and _get(doc, p)]
            if not lists:
                continue
            path = draw(st.sampled_from(lists))
            items = list(_get(doc, path))
            k = draw(st.integers(0, len(items) - 1))
            items = items + [items[k]] if draw(st.booleans()) else items[:k] + items[k + 1:]
            doc = _edit(doc, path, items)
        elif kind == "delete":
            if isinstance(_get(doc, path[:-1]), dict):
                doc = _edit(doc, path, DELETE)
        else:
            doc = _edit(doc, path, draw(VALUES))
    return doc


def _valid_edit(draw, doc):
    """A well-typed edit of one layer's blocking: a factor of a loop moved to another level
    (its product kept), or a level's loop order permuted."""
    if not isinstance(doc.get("layers"), list) or not doc["layers"]:
        return doc
    i = draw(st.integers(0, len(doc["layers"]) - 1))
    try:
        blocking = doc["layers"][i]["schedule"]["blocking"]
        factors, orders = blocking["factors"], blocking["orders"]
        loop = draw(st.sampled_from(["i", "o", "b"]))
        src, dst = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        value = factors[src][loop]
        primes = [p for p in (2, 3, 5, 7) if isinstance(value, int) and value % p == 0]
    except (KeyError, TypeError, IndexError):
        return doc
    doc = copy.deepcopy(doc)
    blocking = doc["layers"][i]["schedule"]["blocking"]
    if primes and draw(st.booleans()):
        p = draw(st.sampled_from(primes))
        blocking["factors"][src][loop] //= p
        blocking["factors"][dst][loop] *= p
    elif isinstance(orders, list) and orders:
        level = draw(st.integers(0, len(orders) - 1))
        blocking["orders"][level] = draw(st.permutations(["i", "o", "b"]))
    return doc


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def _check_accepted(files, name, doc, done) -> None:
    """An accepted file describes exactly what was scored (the region and segment it leaves
    out are filled in), and the score is a fresh evaluation's of the schedules it holds."""
    from dataclasses import replace

    sc = done.scenario
    saved = read_result(files[name][2], doc=doc)
    expected = {}
    for lo in done.result.layers:
        entry = next(e for e in doc["layers"] if e["name"] == lo.name)
        parsed = read_schedule(entry["schedule"], "edited", "schedule")
        mine = parsed.schedule
        if not parsed.has_region:
            mine = replace(mine, region=lo.schedule.region)
        if not parsed.has_segment:
            mine = replace(mine, segment=lo.schedule.segment)
        assert lo.schedule == mine, lo.name
        expected[lo.name] = mine
        if parsed.gbuf_resident is not None:
            assert parsed.gbuf_resident == lo.result.gbuf_resident
        if parsed.loopcnt is not None:
            assert parsed.loopcnt == lo.result.loopcnt
    fresh = evaluate_schedules(sc, expected, input_partition=saved.input_partition,
                               segments=saved.segments, partial=saved.interrupted)
    _same_scores(done.result, fresh)
    if sc.hardware.num_nodes == 1:
        for lo in done.result.layers:
            alone = evaluate_layer(layer_problem(sc, lo.layer), lo.schedule)
            assert (alone.energy, alone.time) == (lo.result.energy, lo.result.time)


@pytest.mark.parametrize("name", ["single", "array", "pipe", "int_pipe"])
def test_random_edits_give_an_input_error_or_a_fresh_score(files, name):
    base = _doc(files, name)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(doc=edits(base))
    def check(doc):
        try:
            done = _rescore_doc(files, name, doc)
        except NnsolveError as exc:
            text = str(exc)
            assert "\n" not in text and text.startswith(files[name][2]), text
            return
        _check_accepted(files, name, doc, done)

    check()
