"""Network solves on one node: result JSON, re-scoring saved schedules, and errors."""

import json
import math
from pathlib import Path

import pytest

from nnsolve.cli.main import main
from nnsolve.errors import InfeasibleError, InputError, NnsolveError
from nnsolve.formats.network_yaml import zoo_names
from nnsolve.formats.scenario_yaml import load_scenario
from nnsolve.search.network_search import solve

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("net", zoo_names())
def test_solve_then_evaluate_round_trips_every_zoo_network(net, tmp_path, capsys):
    scenario = CONFIGS / "single_node" / f"{net}.yaml"
    out = tmp_path / "result.json"
    again = tmp_path / "again.json"
    assert main(["solve", str(scenario), "--set", "batch=1", "--json", str(out)]) == 0
    assert main(["evaluate", str(scenario), str(out), "--set", "batch=1",
                 "--json", str(again)]) == 0
    first, second = json.loads(out.read_text()), json.loads(again.read_text())
    assert [lo["name"] for lo in first["layers"]] == [lo["name"] for lo in second["layers"]]
    for a, b in zip(first["layers"], second["layers"], strict=True):
        for key in ("energy", "time", "ops", "breakdown", "accesses", "schedule"):
            assert a[key] == b[key], (a["name"], key)
    assert first["total"] == second["total"]
    assert first["status"] == "optimal" and first["gap"] == 0.0
    assert "total" in capsys.readouterr().out


def test_result_json_follows_the_design_contract(tmp_path):
    result = solve(load_scenario(CONFIGS / "eyeriss_isca16_alexnet.yaml"), "exhaustive")
    doc = result.to_json()
    assert {"nnsolve_version", "scenario", "method", "goal", "status", "total", "breakdown",
            "bound", "gap", "solve_seconds", "layers"} <= set(doc)
    assert set(doc["total"]) == {"energy", "time", "ops", "edp", "layers", "network_layers"}
    assert doc["total"]["layers"] == doc["total"]["network_layers"] == 19
    assert set(doc["breakdown"]) == {"mac", "dram", "gbuf", "itcn", "regf", "noc", "static"}
    layer = doc["layers"][0]
    assert layer["name"] == "conv1_a"
    assert set(layer["accesses"]) == {"dram", "gbuf", "itcn", "regf"}
    sched = layer["schedule"]
    assert sched["mapping"] == {"index": 0, "loopcnt": {"i": 3, "o": 48, "b": 64}}
    assert sched["blocking"]["factors"] == [{"i": 1, "o": 3, "b": 64}, {"i": 1, "o": 16, "b": 1},
                                            {"i": 3, "o": 1, "b": 1}]
    assert sched["blocking"]["orders"] == [["i", "b", "o"], ["b", "i", "o"]]
    assert sched["blocking"]["gbuf_resident"] == {"weight": True, "ifmap": True, "ofmap": True}
    assert sched["region"] == {"origin": [0, 0], "dims": [1, 1]} and sched["segment"] == 0
    assert doc["total"]["energy"] == pytest.approx(sum(lo["energy"] for lo in doc["layers"]))
    assert sum(doc["breakdown"].values()) == pytest.approx(doc["total"]["energy"])
    assert doc["bound"] == pytest.approx(doc["total"]["energy"]) and doc["gap"] == 0.0


def test_edp_goal_reports_a_proven_bound_and_gap():
    sc = load_scenario(CONFIGS / "single_node" / "mlp_s.yaml", ["search.goal=edp"])
    result = solve(sc, "exhaustive")
    assert result.goal == "edp"
    assert 0 < result.bound <= result.edp
    # Per-layer EDP optima need not minimise the network's (sum E) x (sum T).
    assert result.status == ("optimal" if result.gap == 0 else "feasible")


def test_identical_layers_share_one_solve():
    result = solve(load_scenario(CONFIGS / "eyeriss_isca16_alexnet.yaml"), "exhaustive")
    by_name = {lo.name: lo for lo in result.layers}
    assert by_name["conv3_a"].schedule == by_name["conv3_b"].schedule
    assert by_name["conv3_a"].seconds == by_name["conv3_b"].seconds


def test_hardware_that_cannot_hold_a_layer_names_it(tmp_path):
    sc = load_scenario(CONFIGS / "single_node" / "mlp_s.yaml", ["hardware.regf_bytes=2"])
    with pytest.raises(InfeasibleError, match="layer fc1: no loop blocking fits"):
        solve(sc, "exhaustive")


def test_node_array_solve_and_evaluate_round_trip(tmp_path):
    """MLP-S on 2x2 nodes: exact methods agree, the bound holds, and the saved schedules
    (with the input layout) re-score to the same totals."""
    import json

    from nnsolve.formats.files import write_json
    from nnsolve.formats.result_json import read_schedules
    from nnsolve.search.network_search import evaluate_schedules

    sc = load_scenario(CONFIGS / "tetris_4x4" / "mlp_s.yaml",
                       ["hardware.nodes=[2, 2]", "batch=4", "search.batch_partition=true"])
    exact = solve(sc, "cpsat")
    brute = solve(sc, "exhaustive")
    assert exact.energy == pytest.approx(brute.energy, rel=1e-12)
    assert exact.bound <= exact.energy
    # Each layer is optimal for the ifmap layout it was given: its bound is its value; the
    # network's bound adds the layout-free ones (issue 14: status and bound consistent).
    from tests.search.test_pipeline import assert_status_matches_bound

    for res in (exact, brute):
        assert_status_matches_bound(res)
        free = [lo.free_bound for lo in res.layers]
        assert None not in free and res.bound == pytest.approx(math.fsum(free), rel=1e-15)
    assert all(lo.schedule.partition.size == 4 for lo in exact.layers)
    analytical = solve(sc, "analytical")
    assert analytical.status == "heuristic" and analytical.energy >= exact.energy * (1 - 1e-12)
    path = tmp_path / "r.json"
    write_json(exact.to_json(), path)
    assert "input_partition" in json.loads(path.read_text())
    schedules, inp, _ = read_schedules(str(path), with_input=True)
    again = evaluate_schedules(sc, schedules, input_partition=inp)
    assert again.energy == exact.energy and again.time == exact.time


def test_analytical_with_buffer_sharing_is_a_clear_error():
    sc = load_scenario(CONFIGS / "tetris_4x4" / "mlp_s_bufshr.yaml")
    with pytest.raises(NnsolveError, match="analytical does not apply"):
        solve(sc, "analytical")


@pytest.mark.parametrize("doc, words", [
    ({"layers": [{"name": "fc1"}]}, "layers[0].schedule: required key is missing"),
    ({"layers": "x"}, "layers: must be a list"),
    ({"layers": [{"name": "fc1", "schedule": {"mapping": {"index": 0}, "blocking": {
        "factors": [{"i": 1, "o": 1, "b": 1}] * 3, "orders": [["i", "o"], ["i", "o", "b"]]}}}]},
     "orders[0]: must be a permutation"),
])
def test_bad_schedule_files_exit_2(tmp_path, capsys, doc, words):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert main(["evaluate", str(CONFIGS / "single_node" / "mlp_s.yaml"), str(path)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_evaluate_names_missing_layers(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["solve", str(CONFIGS / "single_node" / "mlp_s.yaml"), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    doc["layers"] = doc["layers"][:1]
    out.write_text(json.dumps(doc))
    assert main(["evaluate", str(CONFIGS / "single_node" / "mlp_s.yaml"), str(out)]) == 2
    assert "no schedule for layer(s) fc2, fc3" in capsys.readouterr().err


def test_every_exact_method_agrees_on_a_network():
    sc = load_scenario(CONFIGS / "single_node" / "mlp_s.yaml", ["batch=1"])
    results = {m: solve(sc, m) for m in ("cpsat", "milp", "exhaustive", "auto")}
    energies = {m: r.energy for m, r in results.items()}
    assert len(set(energies.values())) == 1, energies
    for r in results.values():
        assert r.status == "optimal" and r.gap == 0.0 and r.bound == pytest.approx(r.energy)
    schedules = {m: [lo.schedule for lo in r.layers] for m, r in results.items()}
    assert schedules["cpsat"] == schedules["milp"] == schedules["exhaustive"] == \
        schedules["auto"]


def test_analytical_needs_bypass_and_says_so():
    sc = load_scenario(CONFIGS / "eyeriss_isca16_alexnet.yaml")
    with pytest.raises(InfeasibleError, match="needs bypass permitted"):
        solve(sc, "analytical")
    heuristic = solve(load_scenario(CONFIGS / "eyeriss_isca16_alexnet.yaml",
                                    ["search.bypass=[ifmap, ofmap, weight]"]), "analytical")
    assert heuristic.status == "heuristic" and heuristic.bound is None


def test_pins_from_the_scenario_reach_every_method(tmp_path):
    path = tmp_path / "pinned.yaml"
    path.write_text("network: mlp_s\nbatch: 4\nhardware: {pe_array: [8, 8], regf_bytes: 512,"
                    " gbuf_bytes: 131072}\nsearch:\n  pin:\n    fc1: {factors: {b: [4, null, "
                    "null]}, innermost: [b, null]}\n    '*': {gbuf_resident: {ofmap: true}}\n")
    sc = load_scenario(path)
    for method in ("cpsat", "milp", "exhaustive"):
        r = solve(sc, method)
        fc1 = r.layers[0]
        assert fc1.schedule.blocking.factors[0][2] == 4, method
        level0 = fc1.schedule.blocking.orders[0]
        assert [lp for lp in level0 if fc1.schedule.blocking.factors[0][lp] > 1][-1] == 2
        assert all(lo.result.gbuf_resident[2] for lo in r.layers), method
    free = solve(load_scenario(CONFIGS / "single_node" / "mlp_s.yaml",
                               ["batch=4", "hardware.pe_array=[8, 8]"]), "cpsat")
    assert solve(sc, "cpsat").energy >= free.energy


def test_unknown_pinned_layer_is_an_input_error(tmp_path):
    path = tmp_path / "pinned.yaml"
    path.write_text("network: mlp_s\nsearch:\n  pin:\n    fc9: {mapping: 0}\n")
    with pytest.raises(InputError, match="no layer 'fc9'"):
        load_scenario(path)


def test_total_time_limit_still_returns_a_schedule_per_layer():
    sc = load_scenario(CONFIGS / "single_node" / "vgg_net.yaml",
                       ["solver.total_time_limit_s=0.001"])
    result = solve(sc, "cpsat")
    assert len(result.layers) == len(sc.network.layers)
    assert all(lo.result.valid for lo in result.layers)
    assert result.notes                       # the fallback is reported, not hidden


def test_compare_cli_prints_and_writes_json(tmp_path, capsys):
    out = tmp_path / "cmp.json"
    code = main(["compare", str(CONFIGS / "single_node" / "mlp_s.yaml"), "--methods",
                 "cpsat,analytical,exhaustive", "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "Totals" in text and "analytical" in text
    doc = json.loads(out.read_text())
    assert doc["methods"] == ["cpsat", "analytical", "exhaustive"]
    assert doc["totals"]["cpsat"]["loss"] == 0.0
    assert doc["totals"]["analytical"]["loss"] >= 0.0
    assert doc["totals"]["cpsat"]["value"] == doc["totals"]["exhaustive"]["value"]
    assert [row["name"] for row in doc["layers"]] == ["fc1", "fc2", "fc3"]


def test_compare_reports_inapplicable_methods(capsys):
    code = main(["compare", str(CONFIGS / "single_node" / "mlp_s.yaml"), "--methods",
                 "cpsat,analytical", "--set", "search.bypass=[]"])
    assert code == 0
    assert "not applicable" in capsys.readouterr().out
    assert main(["compare", str(CONFIGS / "single_node" / "mlp_s.yaml"), "--methods",
                 "cpsat,beem"]) == 2
