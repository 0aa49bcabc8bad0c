"""Grouped convolutions solved: one node (against the split network, term by term), node
arrays and pipelined segments (re-scored exactly).

A grouped layer of G groups is G identical dense convolutions that run one after another
with one schedule. Solved layer by layer, the split network (one layer per group, each
reading its own input) gives every group the same optimum, so the grouped layer must cost
exactly G times one group's schedule in every term: energy by category, time, accesses,
operations.
"""

import json
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnsolve
from nnsolve.formats.files import write_json
from nnsolve.formats.network_yaml import network_from_dict
from nnsolve.formats.result_json import read_schedules
from nnsolve.formats.scenario_yaml import scenario_from_dict
from nnsolve.model.layer import Layer
from nnsolve.model.resources import chip_regions
from nnsolve.search.segments import GROUPED_ALONE, plan_segment


def base_scenario(nodes=(1, 1), batch=2, **search):
    doc = {"network": "mlp_s", "batch": batch,
           "hardware": {"nodes": list(nodes), "pe_array": [4, 4], "regf_bytes": 64,
                        "gbuf_bytes": 8192, "memory": "2D"},
           "costs": {"mac": 1, "dram": 200, "gbuf": 6, "itcn": 2, "regf": 1, "noc_hop": 10,
                     "idle": 1},
           "search": {"bypass": ["ifmap", "ofmap", "weight"], "partition": "hybrid",
                      **search},
           "solver": {"method": "exhaustive"}, "model": {"min_pe_utilization": 0}}
    return scenario_from_dict(doc, "<test>")


def grouped_and_split(cg, mg, out, kernel, stride, groups):
    """(one grouped layer, the same as one layer per group with an input each)."""
    unit = Layer.conv(cg, mg, out, kernel, stride)
    size = unit.in_h
    row = {"type": "conv", "out_size": out, "kernel": kernel, "stride": stride}
    grouped = network_from_dict(
        {"input": {"channels": groups * cg, "size": size},
         "layers": [{**row, "name": "g", "out_channels": groups * mg, "groups": groups}]},
        "grouped")
    split = network_from_dict(
        {"input": {"channels": cg, "size": size},
         "external": {f"x{i}": {"channels": cg, "size": size} for i in range(1, groups)},
         "layers": [{**row, "name": f"g{i}", "out_channels": mg,
                     "prevs": ["input" if i == 0 else f"x{i}"]} for i in range(groups)]},
        "split")
    return grouped, split


def assert_sum_of_groups(grouped, parts):
    """The grouped layer's score is the sum of the groups' scores in every term."""
    r, rs = grouped.result, [lo.result for lo in parts]
    assert r.energy == math.fsum(x.energy for x in rs)
    assert r.time == math.fsum(x.time for x in rs)
    assert r.ops == math.fsum(x.ops for x in rs)
    for key in r.breakdown:
        assert r.breakdown[key] == math.fsum(x.breakdown[key] for x in rs), key
    for level, per in r.accesses.items():
        for data, value in per.items():
            assert value == math.fsum(x.accesses[level][data] for x in rs), (level, data)
    assert r.noc_hops == tuple(math.fsum(x.noc_hops[d] for x in rs) for d in range(3))


@settings(max_examples=25, deadline=None)
@given(cg=st.integers(1, 4), mg=st.integers(1, 4), out=st.integers(1, 5),
       kernel=st.integers(1, 3), stride=st.integers(1, 2), groups=st.integers(2, 6),
       batch=st.integers(1, 4), goal=st.sampled_from(["energy", "delay", "edp"]))
def test_a_grouped_layer_costs_its_split_groups_term_by_term(cg, mg, out, kernel, stride,
                                                            groups, batch, goal):
    grouped, split = grouped_and_split(cg, mg, out, kernel, stride, groups)
    sc = replace(base_scenario(batch=batch, goal=goal), network=grouped)
    ours = nnsolve.solve(sc, "exhaustive")
    theirs = nnsolve.solve(replace(sc, network=split), "exhaustive")
    lo = ours.layers["g"]
    assert_sum_of_groups(lo, theirs.layers)
    assert lo.schedule == theirs.layers["g0"].schedule
    assert lo.status == "optimal" and lo.bound <= lo.result.energy * lo.result.time \
        if goal == "edp" else lo.bound <= (lo.result.energy if goal == "energy"
                                          else lo.result.time)
    assert ours.ops == Layer.conv(groups * cg, groups * mg, out, kernel, stride,
                                  groups).ops(batch)


@pytest.mark.parametrize("method", ["cpsat", "milp", "analytical"])
def test_every_method_solves_a_grouped_layer_as_its_groups(method):
    grouped, split = grouped_and_split(3, 4, 4, 3, 1, 5)
    sc = replace(base_scenario(), network=grouped)
    lo = nnsolve.solve(sc, method).layers["g"]
    parts = nnsolve.solve(replace(sc, network=split), method).layers
    assert_sum_of_groups(lo, parts)


GROUPED_NET = {
    "name": "grouped",
    "input": {"channels": 4, "size": 8},
    "layers": [
        {"name": "pw", "type": "conv", "out_channels": 16, "out_size": 8, "kernel": 1},
        {"name": "gc", "type": "conv", "out_channels": 16, "out_size": 8, "kernel": 3,
         "groups": 8},
        {"name": "pool", "type": "pool", "out_size": 4, "kernel": 2},
        {"name": "fc", "type": "fc", "out_channels": 10},
    ]}


def _round_trip(sc, res, tmp_path):
    path = tmp_path / "r.json"
    write_json(res.to_json(), path)
    schedules, inp, segments = read_schedules(str(path), with_input=True)
    again = nnsolve.evaluate(sc, schedules, input_partition=inp, segments=segments)
    for a, b in zip(res.layers, again.layers, strict=True):
        assert (a.result.energy, a.result.time, a.result.breakdown, a.result.accesses) == \
            (b.result.energy, b.result.time, b.result.breakdown, b.result.accesses), a.name
    assert (again.energy, again.time) == (res.energy, res.time)
    return json.loads(path.read_text())


@pytest.mark.parametrize("method", ["exhaustive", "cpsat"])
def test_a_grouped_layer_on_a_node_array_re_scores_exactly(method, tmp_path):
    net = network_from_dict(GROUPED_NET, "grouped")
    sc = replace(base_scenario(nodes=(2, 2), batch=4), network=net)
    res = nnsolve.solve(sc, method)
    lo = res.layers["gc"]
    assert lo.result.ops == 4 * net["gc"].ops(1)
    assert lo.result.breakdown["noc"] > 0
    doc = _round_trip(sc, res, tmp_path)
    sched = next(x for x in doc["layers"] if x["name"] == "gc")["schedule"]
    assert sched["mapping"]["loopcnt"]["i"] * sched["mapping"]["loopcnt"]["o"] <= 2 * 2
    assert res.bound is not None and res.bound <= res.value * (1 + 1e-9)


def test_a_grouped_layer_pipelines_alone_and_re_scores_exactly(tmp_path):
    net = network_from_dict(GROUPED_NET, "grouped")
    sc = replace(base_scenario(nodes=(2, 2), batch=4, interlayer=True, save_writeback=True),
                 network=net)
    res = nnsolve.solve(sc, "exhaustive")
    alone = [s for s in res.segments if "gc" in s.layers[0]]
    assert len(alone) == 1 and alone[0].layers == (("gc",),)
    proc, memory = chip_regions(sc.hardware)
    for seg in ((("pw",), ("gc",)), (("pw", "gc"),), (("gc",), ("pool",))):
        assert plan_segment(sc, seg, proc, memory) == GROUPED_ALONE
    assert plan_segment(sc, (("pool",), ("fc",)), proc, memory) != GROUPED_ALONE
    assert res.bound is not None and res.bound <= res.value * (1 + 1e-9)
    _round_trip(sc, res, tmp_path)
    flat = nnsolve.solve(replace(sc, search=replace(sc.search, interlayer=False,
                                                    save_writeback=False)), "exhaustive")
    assert res.layers["gc"].result.ops == flat.layers["gc"].result.ops
