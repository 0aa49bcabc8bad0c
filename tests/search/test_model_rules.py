"""The scenario's model section (nn_dataflow's rules or nnsolve's) reaches every search, and a
layer the rules leave without a mapping is an error that names the rule."""

from __future__ import annotations

import pytest

from nnsolve.errors import InfeasibleError
from nnsolve.formats.network_yaml import network_from_dict
from nnsolve.formats.scenario_yaml import scenario_from_dict
from nnsolve.model.mapping import ModelRules
from nnsolve.search.network_search import evaluate_schedules, solve

# conv2_a of AlexNet: a 5x27 row-stationary set keeps 46.9% of a 12x12 array busy.
NET = {"input": {"channels": 4, "size": 31},
       "layers": [{"name": "c", "type": "conv", "out_channels": 8, "out_size": 27,
                   "kernel": 5}]}


def scenario(**sections):
    doc = {"network": "alex_net", "batch": 2, "hardware": {"pe_array": [12, 12]}, **sections}
    return scenario_from_dict(doc, "s.yaml", network=network_from_dict(NET, "net.yaml"))


@pytest.mark.parametrize("method", ["cpsat", "analytical"])
def test_low_utilisation_error_names_the_rule(method):
    with pytest.raises(InfeasibleError, match=r"46\.9% <= 50%.*model\.min_pe_utilization"):
        solve(scenario(), method=method)


def test_pipelined_search_names_the_layer_and_the_rule():
    sc = scenario(hardware={"pe_array": [12, 12], "nodes": [2, 2]},
                  search={"interlayer": True})
    with pytest.raises(InfeasibleError, match=r"fits the hardware: layer c has no valid "
                                              r"mapping.*model\.min_pe_utilization"):
        solve(sc, method="cpsat")


def test_a_lower_threshold_admits_the_layer_and_scores_it_the_same():
    sc = scenario(model={"min_pe_utilization": 0.4})
    assert sc.rules == ModelRules(min_pe_utilization=0.4)
    result = solve(sc, method="cpsat")
    assert result.layers["c"].status == "optimal"
    again = evaluate_schedules(sc, {"c": result.layers["c"].schedule})
    assert again.layers["c"].result.energy == result.layers["c"].result.energy


def test_scenario_rules_equal_the_api_rules():
    sc = scenario(model={"eltwise_ifmaps": "nn_dataflow", "itcn": "head",
                         "min_pe_utilization": 0.4})
    via_api = solve(scenario(model={"min_pe_utilization": 0.4}), method="cpsat",
                    rules=ModelRules("head", "nn_dataflow", 0.4))
    assert solve(sc, method="cpsat").total.energy == via_api.total.energy
