"""The pipelined network search: its bound, its round trip through the result JSON, and
its limits (nn_dataflow equality is in test_pipeline_oracle.py)."""

from __future__ import annotations

import itertools
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnsolve
from nnsolve.cli.main import main
from nnsolve.formats.files import write_json
from nnsolve.search.segment_bound import SegmentFloor, select
from tests.model.test_sched_dag_oracle import small_dags
from tests.search.test_pipeline_oracle import scenario


class _Plan:
    def __init__(self, segment):
        self.segment = segment


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6), st.data())
def test_segment_selection_is_the_best_chain(n, data):
    """The dynamic programme finds the cheapest chain of intervals, as brute force does."""
    order = [f"l{i}" for i in range(n)]
    plans = {name: [] for name in order}
    floors = {}
    for a in range(n):
        for b in range(a, n):
            if b > a and not data.draw(st.booleans()):
                continue
            seg = (tuple(order[a:b + 1]),)
            plans[order[b]].append(_Plan(seg))
            energy = data.draw(st.floats(0, 100))
            floors[seg] = SegmentFloor(energy, data.draw(st.floats(0, 9)), energy)
    price, chain = select(order, plans, floors, "energy")
    best = math.inf
    for cuts in itertools.product([False, True], repeat=n - 1):
        bounds = [0] + [i + 1 for i, c in enumerate(cuts) if c] + [n]
        segs = [(tuple(order[a:b]),) for a, b in itertools.pairwise(bounds)]
        if all(s in floors for s in segs):
            best = min(best, sum(floors[s].energy for s in segs))
    assert price == pytest.approx(best)
    assert [name for p in chain for name in p.segment[0]] == order


@pytest.mark.parametrize("net,goal,width", [
    ("mlp_m", "energy", 1), ("mlp_m", "delay", 1), ("mlp_m", "edp", 2),
    ("lstm_phoneme", "energy", 3),
])
def test_bound_holds_and_results_re_score(net, goal, width, tmp_path):
    sc = scenario(net, goal=goal)
    sc = type(sc)(**{**sc.__dict__, "solver": type(sc.solver)(
        **{**sc.solver.__dict__, "beam_width": width})})
    res = nnsolve.solve(sc, "exhaustive")
    assert res.bound is not None and res.bound <= res.value * (1 + 1e-9)
    assert res.status in ("optimal", "heuristic")
    assert_status_matches_bound(res)
    # Every layer's score is the evaluator's, and the result JSON re-scores to the same totals.
    path = tmp_path / "r.json"
    write_json(res.to_json(), path)
    doc = json.loads(path.read_text())
    assert [seg["layers"] for seg in doc["segments"]] == \
        [[list(e) for e in s.layers] for s in res.segments]
    from nnsolve.formats.result_json import read_schedules

    schedules, inp, segments = read_schedules(str(path), with_input=True)
    again = nnsolve.evaluate(sc, schedules, input_partition=inp, segments=segments)
    assert (again.energy, again.time) == (res.energy, res.time)
    for a, b in zip(again.layers, res.layers, strict=True):
        assert a.result.energy == b.result.energy


def assert_status_matches_bound(result) -> None:
    """An optimal layer's bound is its value (within GAP_CLOSED): what was proven for the
    problem it was solved as; a weaker bound valid for any context is its ``free_bound``."""
    from nnsolve.model.goals import goal_value
    from nnsolve.results import GAP_CLOSED

    for lo in result.layers:
        value = goal_value(lo.result.energy, lo.result.time, result.goal)
        if lo.bound is not None:
            assert lo.bound <= value * (1 + 1e-9), lo.name
        if lo.status == "optimal":
            assert lo.bound is not None and value - lo.bound <= GAP_CLOSED * value, lo.name
        if lo.free_bound is not None:
            assert lo.free_bound <= value * (1 + 1e-9), lo.name


@pytest.mark.parametrize("method", ["exhaustive", "cpsat"])
def test_pipelined_layers_are_optimal_only_with_a_closed_bound(method):
    """Layers optimal for their segment used to show the layout-free floor as their bound
    (fc3 of MLP-S: optimal, bound 1.33M against 2.51M)."""
    res = nnsolve.solve(scenario("mlp_s"), method)
    assert_status_matches_bound(res)
    assert all(lo.status == "optimal" for lo in res.layers)
    assert any(lo.free_bound < lo.bound * (1 - 1e-6) for lo in res.layers)
    # The network's bound is the segment-selection model's, unaffected.
    assert res.bound is not None and res.bound <= res.value * (1 + 1e-9)


def test_pipelining_never_loses_to_layer_by_layer_here():
    sc = scenario("mlp_m")
    flat = scenario("mlp_m", interlayer=False, save_writeback=False)
    assert nnsolve.solve(sc, "exhaustive").energy <= nnsolve.solve(flat, "exhaustive").energy


def test_time_limit_falls_back_to_single_layer_segments():
    sc = scenario("lstm_phoneme")
    sc = type(sc)(**{**sc.__dict__, "solver": type(sc.solver)(
        **{**sc.solver.__dict__, "total_time_limit_s": 0.0})})
    res = nnsolve.solve(sc, "exhaustive")
    assert all(len(s.layers) == 1 and len(s.layers[0]) == 1 for s in res.segments[1:])
    assert any("time limit" in n for n in res.notes)
    assert res.status == "timeout"
    # Nothing was priced in time: the bound is the layers' own floors, still below.
    assert res.bound is not None and 0 < res.bound <= res.energy
    assert any("weaker bound" in n for n in res.notes)


def test_cli_solve_and_evaluate_a_pipelined_scenario(tmp_path, capsys):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("network: mlp_s\nbatch: 4\nhardware: {nodes: [2, 2], pe_array: [4, 4], "
                   "regf_bytes: 64, gbuf_bytes: 8192}\nsearch: {interlayer: true, "
                   "save_writeback: true, bypass: [ifmap, ofmap, weight]}\n"
                   "solver: {method: exhaustive}\n")
    out = tmp_path / "r.json"
    assert main(["solve", str(cfg), "--json", str(out)]) == 0
    assert main(["evaluate", str(cfg), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "segment" in printed.lower()
    doc = json.loads(out.read_text())
    doc.pop("segments")
    out.write_text(json.dumps(doc))
    assert main(["evaluate", str(cfg), str(out)]) == 2
    assert "segments" in capsys.readouterr().err


def test_exact_region_allocation_admits_more_segments():
    from nnsolve.search.segments import segment_plans

    rounding = scenario("mlp_m", nodes=(4, 4))
    exact = scenario("mlp_m", nodes=(4, 4), region_allocation="exact")
    count = [sum(len(p) for p in segment_plans(sc)[1].values()) for sc in (rounding, exact)]
    assert count[1] >= count[0]
    res = nnsolve.solve(exact, "exhaustive")
    assert res.bound is not None and res.bound <= res.value * (1 + 1e-9)


@settings(max_examples=10, deadline=None)
@given(small_dags())
def test_bound_chain_only_improves_the_beam(net):
    from dataclasses import replace

    from nnsolve.search.network_search import Progress
    from nnsolve.search.pipeline import solve_pipelined

    sc = replace(scenario(), network=net)
    beam = solve_pipelined(sc, "exhaustive", Progress(), improve=False)
    best = solve_pipelined(sc, "exhaustive", Progress())
    assert best.value <= beam.value
    assert best.bound is not None and best.bound <= best.value * (1 + 1e-9)


@pytest.mark.parametrize("net", ["googlenet", "resnet50", "lstm_gnmt", "lstm_showtell"])
def test_zoo_dags_solve_end_to_end(net):
    from dataclasses import replace

    sc = scenario(net, batch=1)
    sc = replace(sc, hardware=replace(sc.hardware, pe_array=(8, 8)))
    res = nnsolve.solve(sc, "exhaustive")
    placed = sorted(name for seg in res.segments for entry in seg.layers for name in entry)
    assert placed == sorted(sc.network.layers)
    assert res.bound is not None and res.bound <= res.value * (1 + 1e-9)
    assert res.time <= sum(lo.result.time for lo in res.layers)


TINY_MOBILENET = """\
name: tiny-mobilenet
input: {channels: 3, size: 16}
layers:
  - {name: conv1, type: conv, out_channels: 8, out_size: 8, kernel: 3, stride: 2}
  - {name: dw1, type: dwconv, out_size: 8, kernel: 3}
  - {name: pw1, type: conv, out_channels: 8, out_size: 8, kernel: 1}
  - {name: add1, type: eltwise, prevs: [pw1, conv1]}
  - {name: dw2, type: dwconv, out_size: 4, kernel: 3, stride: 2}
  - {name: pw2, type: conv, out_channels: 16, out_size: 4, kernel: 1}
  - {name: pool, type: pool, out_size: 1, kernel: 4}
  - {name: fc, type: fc, out_channels: 10}
"""


@pytest.mark.parametrize("method", ["exhaustive", "cpsat"])
def test_depthwise_layers_pipeline_and_re_score(method, tmp_path):
    """Depthwise layers in pipelined segments: the bound holds, every layer's score is the
    evaluator's, and the result re-scores to the same totals."""
    net = tmp_path / "tiny.yaml"
    net.write_text(TINY_MOBILENET)
    sc = scenario(str(net))
    res = nnsolve.solve(sc, method)
    assert res.bound is not None and res.bound <= res.value * (1 + 1e-9)
    assert_status_matches_bound(res)
    assert any(len(entry) > 1 or len(s.layers) > 1 for s in res.segments for entry in s.layers)
    path = tmp_path / "r.json"
    write_json(res.to_json(), path)
    from nnsolve.formats.result_json import read_schedules

    schedules, inp, segments = read_schedules(str(path), with_input=True)
    again = nnsolve.evaluate(sc, schedules, input_partition=inp, segments=segments)
    assert (again.energy, again.time) == (res.energy, res.time)
    flat = nnsolve.solve(scenario(str(net), interlayer=False, save_writeback=False), method)
    assert res.energy <= flat.energy
