"""The analytical bypass solver equals nn_dataflow 2.1's --solve-loopblocking, and reports
"no feasible scheme" where nn_dataflow crashes."""

import pytest

from nnsolve.formats.network_yaml import load_zoo, zoo_names
from nnsolve.hardware.spec import Costs, Hardware
from nnsolve.heuristics.analytical import search_layer, solve_resident
from nnsolve.model.dims import Data
from nnsolve.model.evaluate import LayerProblem
from nnsolve.model.layer import Layer
from nnsolve.model.mapping import ModelRules
from tests import oracle

COSTS = Costs(1, 200, 6, 2, 1, 0, 0)
NODES = {"isca16": Hardware((1, 1), (16, 16), 256, 65536),
         "pe8x8_regf64B_gbuf32kB": Hardware((1, 1), (8, 8), 32, 16384)}
CONV_LAYERS = sorted({layer for net in zoo_names() for layer in load_zoo(net).layers.values()
                      if layer.is_conv}, key=repr)
RULES = ModelRules(eltwise_ifmaps="nn_dataflow")


@pytest.mark.parametrize("node", NODES)
@pytest.mark.parametrize("bypass", [(True, True, True), (True, False, True)],
                         ids=["all", "weights+ofmaps"])
def test_zoo_conv_layers_equal_nn_dataflows_solver(node, bypass):
    hw = NODES[node]
    compared = skipped = 0
    for layer in CONV_LAYERS:
        problem = LayerProblem.single_node(layer, 16, hw, COSTS, bypass, RULES)
        if not problem.mapping.candidates:
            skipped += 1
            continue
        try:
            theirs = oracle.search_layer(layer, 16, hw, COSTS, bypass, solve=True)
        except (AssertionError, UnboundLocalError):
            # nn_dataflow crashes; nnsolve reports no schedule for that residency instead.
            assert all(r.result.valid for r in search_layer(problem).top)
            skipped += 1
            continue
        ours = search_layer(problem).best
        if theirs is None:
            assert ours is None, layer
            continue
        assert ours is not None, layer
        assert ours.result.energy == pytest.approx(theirs["cost"], rel=1e-9), layer
        assert ours.result.time == theirs["time"], layer
        assert [list(t) for t in ours.schedule.blocking.factors] == \
            [list(t) for t in theirs["tvals"]], layer
        assert [list(p) for p in ours.schedule.blocking.positions()] == \
            [list(o) for o in theirs["orders"]], layer
        compared += 1
    oracle.record("analytical solver: layer schedules (--solve-loopblocking)", compared)
    assert compared > len(CONV_LAYERS) // 2


@pytest.mark.parametrize("regf, gbuf", [(4, 65536), (256, 8)], ids=["regf", "gbuf"])
def test_no_feasible_scheme_where_nn_dataflow_crashes(regf, gbuf):
    """No DRAM-level factors pass Opt I: nn_dataflow reads an unbound variable. (Its other
    crash, a failed assertion in Opt II, cannot happen: Opt I's register-file condition is
    exactly the condition for one of Opt II's two fallback blockings to fit.)"""
    layer = Layer.conv(256, 192, 13, 3)
    hw = Hardware((1, 1), (16, 16), regf_words=regf, gbuf_words=gbuf)
    with pytest.raises(UnboundLocalError):
        oracle.search_layer(layer, 16, hw, COSTS, (True, True, True), solve=True)
    problem = LayerProblem.single_node(layer, 16, hw, COSTS, (True, True, True))
    nld = problem.mapping.candidates[0]
    assert all(solve_resident(nld, regf, gbuf, r) is None for r in Data)
    assert search_layer(problem).best is None
