"""``nnsolve explain``: the loop nest and per-level accounting of a layer's schedule.

The numbers must be the evaluator's: explaining a scenario (solved on the spot) and the
result JSON of the same solve print the same thing, the energy rows add up to each layer's
energy, and the loops the explanation names as re-fetching data multiply up to the
evaluator's fetch counts.
"""

import json
import math
from pathlib import Path

import pytest

from nnsolve.cli.main import main
from nnsolve.formats.files import write_json
from nnsolve.formats.result_json import result_document
from nnsolve.formats.scenario_yaml import load_scenario
from nnsolve.model.dims import LOOP_NAMES
from nnsolve.report.explain import layer_shape
from nnsolve.report.explanation import NEW, REFETCH, REUSE, explain
from nnsolve.search.network_search import solve

ROOT = Path(__file__).resolve().parents[2]
ISCA = str(ROOT / "configs" / "eyeriss_isca16_alexnet.yaml")
TETRIS = str(ROOT / "configs" / "tetris_4x4" / "alex_net.yaml")
PIPELINE = str(ROOT / "configs" / "tangram_pipeline" / "mlp_s.yaml")


def _solved(path: str, tmp_path_factory, name: str, overrides=()):
    scenario = load_scenario(path, list(overrides))
    result = solve(scenario)
    out = tmp_path_factory.mktemp("explain") / f"{name}.json"
    write_json(result_document(result, scenario), out)
    return scenario, result, str(out)


@pytest.fixture(scope="module")
def isca(tmp_path_factory):
    """The Eyeriss ISCA'16 scenario solved with CP-SAT (about 2 s), and its result JSON."""
    return _solved(ISCA, tmp_path_factory, "isca")


@pytest.fixture(scope="module")
def tetris(tmp_path_factory):
    """TETRIS 4x4 AlexNet with the closed-form solver (about 1 s)."""
    return _solved(TETRIS, tmp_path_factory, "tetris", ["solver.method=analytical"])


@pytest.fixture(scope="module")
def pipelined(tmp_path_factory):
    """TANGRAM's full pipelining on a small chip and batch (about 1 s)."""
    return _solved(PIPELINE, tmp_path_factory, "pipe", ["hardware.nodes=[2,2]", "batch=8"])


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["explain", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _check_accounting(scenario, result):
    """Every layer: rows add up to its energy, and the named loops give the fetch counts."""
    for lo in result.layers:
        ex = explain(lo, scenario)
        rows = {row.key: row for row in ex.energy_rows}
        assert set(rows) == {"mac", "dram", "gbuf", "itcn", "regf", "noc", "static"}
        assert math.isclose(math.fsum(r.energy for r in ex.energy_rows), lo.result.energy,
                            rel_tol=1e-12), lo.name
        for level in ("dram", "gbuf", "itcn", "regf"):
            row = rows[level]
            assert row.counts == tuple(lo.result.accesses[level].values())
            cost = getattr(scenario.costs, level)
            assert math.isclose(row.energy, cost * sum(row.counts), rel_tol=1e-12)
        assert ex.nld.loopcnt == lo.result.loopcnt
        for flow in ex.flows:
            assert (flow.derived_fetch(0), flow.derived_fetch(1)) == flow.fetch, \
                (lo.name, flow)


def test_scenario_and_result_json_explain_the_same_numbers(capsys, isca):
    _, _, path = isca
    code, from_yaml, _ = _run(capsys, ISCA, "--layer", "conv2_a")
    assert code == 0
    code, from_json, _ = _run(capsys, path, "--layer", "conv2_a")
    assert code == 0
    assert from_yaml == from_json
    assert "Loop nest" in from_json and "Accesses and energy (cost units)" in from_json


def test_energy_rows_add_up_and_fetches_follow_the_loops(isca, tetris, pipelined):
    for scenario, result, _ in (isca, tetris, pipelined):
        _check_accounting(scenario, result)


def test_loop_nest_follows_the_schedule(isca):
    scenario, result, _ = isca
    lo = result.layers["conv2_a"]
    ex = explain(lo, scenario)
    blocking = lo.schedule.blocking
    for level, name in enumerate(("DRAM", "GBUF")):
        rows = [r for r in ex.loops if r.level == name]
        assert [r.loop for r in rows] == [LOOP_NAMES[lp] for lp in blocking.orders[level]]
        assert [r.factor for r in rows] == [blocking.factors[level][lp]
                                            for lp in blocking.orders[level]]
        live = [r for r in rows if r.factor > 1]
        assert [r.innermost for r in rows].count(True) == (1 if live else 0)
        if live:
            assert live[-1].innermost
    regf = [r for r in ex.loops if r.level == "REGF"]
    assert [r.factor for r in regf] == list(blocking.factors[2])
    indexes = {"weight": "io", "ifmap": "ib", "ofmap": "ob"}   # the loops of each datum
    for row in ex.loops:
        if row.level not in ("DRAM", "GBUF", "REGF"):
            assert row.effects == {}
        elif row.factor == 1:
            assert set(row.effects.values()) == {""}
        else:
            for data, loops in indexes.items():
                if row.loop in loops:
                    assert row.effects[data] == NEW
                else:
                    assert row.effects[data] in (REFETCH, REUSE)
                    if row.level == "REGF":
                        assert row.effects[data] == REUSE
    # One processing pass: PE-level cycles times the height folds give its time.
    folds = [r.factor for r in ex.loops if r.loop == "fold"] or [1]
    per_pe = [r.factor for r in ex.loops if r.level == "PE"]
    assert folds[0] * per_pe[0] == ex.nld.unit_time


def test_rendered_tables_show_the_evaluator_numbers(capsys, isca):
    scenario, result, path = isca
    lo = result.layers["conv2_a"]
    code, out, _ = _run(capsys, path, "--layer", "conv2_a")
    assert code == 0
    assert layer_shape(lo.layer) in out
    assert "status optimal" in out
    # The re-fetch of weights by the DRAM batch loop, as the schedule puts it.
    flows = {f.data: f for f in explain(lo, scenario).flows}
    assert flows["weight"].fetch[0] == lo.result.fetch[0][0]
    for row in ("operations", "DRAM", "global buffer", "array interconnect", "register files",
                "network on chip", "static (idle)", "total"):
        assert f"│ {row}" in out
    assert "Nodes" not in out          # one node: no partition section


def test_layer_selection_and_all_layers(capsys, isca):
    scenario, _, path = isca
    code, out, _ = _run(capsys, path, "--layer", "pool1_b")
    assert code == 0
    assert "pool1_b:" in out and "conv1_a:" not in out
    assert "weight" not in out.split("Loop nest")[1]      # pooling has no weights
    code, out, _ = _run(capsys, path)
    assert code == 0
    for name in scenario.network.layers:
        assert f"{scenario.name}: {name} " in out


@pytest.mark.parametrize("target", ["yaml", "json"])
def test_unknown_layer_is_a_user_error_with_a_suggestion(capsys, isca, target):
    path = ISCA if target == "yaml" else isca[2]
    code, out, err = _run(capsys, path, "--layer", "conv2")
    assert code == 2
    assert "no layer 'conv2'" in err and "did you mean 'conv2_" in err
    assert "Traceback" not in err and out == ""


def test_result_without_inputs_is_a_user_error(capsys, isca, tmp_path):
    doc = json.loads(Path(isca[2]).read_text())
    del doc["inputs"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    code, _, err = _run(capsys, str(old))
    assert code == 2
    assert "does not carry its scenario" in err


def test_method_with_a_result_json_is_a_user_error(capsys, isca):
    """--method picks a method of a compare result; a solve's result has one."""
    code, _, err = _run(capsys, isca[2], "--method", "exhaustive")
    assert code == 2 and "picks one method of a compare result" in err
    code, _, err = _run(capsys, isca[2], "--time-limit", "3")
    assert code == 2 and "scenario YAML" in err


def test_set_rescores_the_stored_scenario(capsys, isca):
    _, result, path = isca
    code, out, _ = _run(capsys, path, "--layer", "conv2_a", "--set", "costs.dram=100")
    assert code == 0
    lo = result.layers["conv2_a"]
    cheaper = lo.result.energy - 100 * sum(lo.result.accesses["dram"].values())
    assert f"energy {cheaper / 1e9:.4g}G cost units" in out
    assert "status feasible" in out and "none proven" in out


def test_node_array_shows_partition_and_region(capsys, tetris):
    _, result, path = tetris
    code, out, _ = _run(capsys, TETRIS, "--method", "analytical", "--layer", "conv3_a")
    assert code == 0
    sched = result.layers["conv3_a"].schedule
    assert "Nodes" in out and f"partition over {sched.partition.size} nodes" in out
    assert "region: 4x4 nodes at row 0, col 0 of the 4x4 array" in out
    assert "each node: conv" in out
    code, again, _ = _run(capsys, path, "--layer", "conv3_a")
    assert code == 0
    # The JSON keeps the heuristic's status; the numbers are the same.
    assert again == out


def test_pipelined_layers_show_their_segment_and_on_chip_data(capsys, pipelined):
    _, result, path = pipelined
    code, out, _ = _run(capsys, path, "--layer", "fc2")
    assert code == 0
    assert f"pipeline segment {result.layers['fc2'].schedule.segment}" in out
    assert "ifmaps read from on-chip buffers of the segment" in out


def test_weights_pinned_on_chip_are_explained_as_such(isca):
    """A segment holding the whole network keeps filters on chip: DRAM fetch count 0."""
    from dataclasses import replace

    from rich.console import Console

    from nnsolve.report.explain import data_table

    scenario, result, _ = isca
    lo = result.layers["conv2_a"]
    fetch = ((0, *lo.result.fetch[0][1:]), lo.result.fetch[1])
    pinned = replace(lo, result=replace(lo.result, fetch=fetch))
    ex = explain(pinned, scenario)
    weight = next(f for f in ex.flows if f.data == "weight")
    assert weight.pinned and weight.derived_fetch(0) == 0
    assert weight.derived_fetch(1) == lo.result.fetch[1][0]
    console = Console(width=200, record=True)
    console.print(data_table(ex))
    assert "pinned on chip" in console.export_text()


def test_depthwise_layers_explain_their_reuse(tmp_path_factory):
    """A MobileNet depthwise layer: weights are shown (one filter per channel), its channel
    loop walks through all three categories, and its energy rows add up."""
    scenario, result, _ = _solved(str(ROOT / "configs" / "single_node" / "mobilenet_v1.yaml"),
                                  tmp_path_factory, "mobilenet", ["batch=2"])
    _check_accounting(scenario, result)
    ex = explain(result.layers["conv5_1_dw"], scenario)
    assert ex.data_names == ("weight", "ifmap", "ofmap")
    for row in ex.loops:
        if row.loop == "o" and row.factor > 1 and row.level in ("DRAM", "GBUF", "REGF"):
            assert set(row.effects.values()) == {NEW}
        if row.loop == "i" and row.level in ("DRAM", "GBUF", "REGF"):
            assert row.factor == 1 and "depthwise" in row.meaning
    flows = {f.data: f for f in ex.flows}
    assert set(flows) == {"weight", "ifmap", "ofmap"}
    assert layer_shape(ex.node_layer).startswith("dwconv 512x16x16 -> 512x14x14, kernel 3x3")


def test_grouped_layers_explain_one_group_and_count_all(tmp_path_factory, capsys):
    """A grouped conv on 2x2 nodes: the loop nest and fetch counts are one group's, the
    energy rows (the layer's, all groups) add up, and the header says which is which."""
    root = tmp_path_factory.mktemp("grouped")
    (root / "net.yaml").write_text(
        "input: {channels: 8, size: 8}\n"
        "layers:\n"
        "  - {name: gc, type: conv, out_channels: 16, out_size: 8, kernel: 3, groups: 4}\n"
        "  - {name: fc, type: fc, out_channels: 10}\n")
    (root / "s.yaml").write_text("network: net.yaml\nbatch: 4\n"
                                 "hardware: {nodes: [2, 2], pe_array: [12, 14]}\n"
                                 "costs: {noc_hop: 2}\n")
    scenario, result, path = _solved(str(root / "s.yaml"), tmp_path_factory, "grouped")
    _check_accounting(scenario, result)
    lo = result.layers["gc"]
    ex = explain(lo, scenario)
    assert ex.nld.loopcnt == lo.result.loopcnt
    assert ex.node_layer.in_channels <= 2 and ex.node_layer.groups == 1
    assert layer_shape(lo.layer).endswith("4 groups")
    code, out, _ = _run(capsys, path, "--layer", "gc")
    assert code == 0
    assert "4 groups of conv 2x10x10 -> 4x8x8" in " ".join(out.split())
