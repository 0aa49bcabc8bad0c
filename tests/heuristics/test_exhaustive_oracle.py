"""nnsolve's exhaustive optimum equals nn_dataflow 2.1's, layer by layer and for whole AlexNet.

nn_dataflow's searches take 0.1 s to minutes per layer, so their results are precomputed in
tests/fixtures/nn_dataflow_exhaustive.json (by tests/fixtures/make_exhaustive_fixtures.py, from
nn-dataflow 2.1): every distinct CONV/FC layer of AlexNet and VGG-16 at batch 1 and 16, on the
ISCA'16 node and on an 8x8-PE / 64 B / 32 kB node, with and without bypass. A cheap subset is
re-run against nn_dataflow live on every test run.
"""

import json
from pathlib import Path

import pytest

from nnsolve.formats.network_yaml import load_zoo
from nnsolve.formats.scenario_yaml import load_scenario
from nnsolve.heuristics.exhaustive import search_layer
from nnsolve.model.evaluate import LayerProblem
from nnsolve.search.network_search import solve
from tests import oracle
from tests.fixtures.make_exhaustive_fixtures import BYPASS, CONFIGS, COSTS

FIXTURE = json.loads((Path(__file__).resolve().parent.parent / "fixtures"
                      / "nn_dataflow_exhaustive.json").read_text())
ROWS = sorted(FIXTURE["layers"].values(), key=lambda r: (r["network"], r["layers"][0],
                                                          r["batch"], r["config"], r["bypass"]))


def _ours(row):
    layer = load_zoo(row["network"])[row["layers"][0]]
    problem = LayerProblem.single_node(layer, row["batch"], CONFIGS[row["config"]], COSTS,
                                       BYPASS[row["bypass"]])
    return search_layer(problem).best


def test_fixture_covers_every_case():
    from tests.fixtures.make_exhaustive_fixtures import cases

    assert len(ROWS) == len(cases()) == 160


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['network']}-{r['layers'][0]}-b"
                         f"{r['batch']}-{r['config']}-{r['bypass']}")
def test_layer_optimum_equals_nn_dataflows(row):
    best = _ours(row)
    assert best is not None and row["cost"] is not None
    assert best.result.energy == pytest.approx(row["cost"], rel=1e-9)
    assert best.result.time == row["time"]
    oracle.record("exhaustive: layer optima (precomputed nn_dataflow searches)", 1)


LIVE = [r for r in ROWS if r["seconds"] < 0.7]


@pytest.mark.parametrize("row", LIVE, ids=lambda r: f"{r['network']}-{r['layers'][0]}-b"
                         f"{r['batch']}-{r['config']}-{r['bypass']}")
def test_layer_optimum_equals_nn_dataflows_live(row):
    layer = load_zoo(row["network"])[row["layers"][0]]
    theirs = oracle.search_layer(layer, row["batch"], CONFIGS[row["config"]], COSTS,
                                 BYPASS[row["bypass"]])
    best = _ours(row)
    assert best.result.energy == pytest.approx(theirs["cost"], rel=1e-9)
    assert [list(t) for t in best.schedule.blocking.factors] == \
        [list(t) for t in theirs["tvals"]]
    assert [list(o) for o in best.schedule.blocking.positions()] == \
        [list(o) for o in theirs["orders"]]
    oracle.record("exhaustive: layer optima (nn_dataflow searched live)", 1)


def test_whole_alexnet_isca16_totals_equal_nn_dataflows():
    ref = FIXTURE["whole_alexnet_isca16"]
    result = solve(load_scenario(Path(__file__).resolve().parent.parent.parent / "configs"
                                 / "eyeriss_isca16_alexnet.yaml"), "exhaustive")
    assert result.energy == pytest.approx(ref["total_cost"], rel=1e-9)
    assert result.time == ref["total_time"]
    by_name = {lo.name: lo.result for lo in result.layers}
    for name, theirs in ref["layers"].items():
        assert by_name[name].energy == pytest.approx(theirs["cost"], rel=1e-9), name
        assert by_name[name].time == theirs["time"], name
    oracle.record("exhaustive: whole-network totals (AlexNet, ISCA'16)", 1)
