"""Method auto (the exact portfolio) returns what every exact method returns, to the last unit
and with the same tie-break, whichever engine its rule picks; and the rule is the documented
one."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnsolve.errors import NnsolveError
from nnsolve.formats.scenario_yaml import load_scenario
from nnsolve.formulations import loop_blocking_cpsat
from nnsolve.formulations.backend import ModelTooLarge
from nnsolve.hardware.spec import Hardware
from nnsolve.heuristics.exhaustive import search_size
from nnsolve.model.evaluate import LayerProblem
from nnsolve.model.layer import Layer
from nnsolve.model.pins import Pins
from nnsolve.report.tables import status_line
from nnsolve.search import portfolio
from nnsolve.search.layer_solve import solve_layer
from nnsolve.search.network_search import solve
from nnsolve.search.partition_choice import choose
from tests.formulations.test_loop_blocking import problems
from tests.strategies import GOALS, UNIT, layer_sites

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.filter_too_much])
#: Thresholds that send every layer to one engine, or split the small random layers.
THRESHOLDS = st.sampled_from([0, 300, 3000, 10**9])


def _same(a, b) -> None:
    assert a.status == b.status == "optimal"
    assert a.result.energy == b.result.energy and a.result.time == b.result.time
    assert a.schedule == b.schedule                     # the same tie-break


@settings(max_examples=80, **SETTINGS)
@given(problems(), THRESHOLDS)
def test_auto_equals_every_exact_method(case, threshold):
    problem, goal, pins = case
    with patch.object(portfolio, "AUTO_EXHAUSTIVE_MAX", threshold):
        expected = portfolio.engine_for(problem, pins)
        try:
            auto = solve_layer("l", problem, "auto", goal, pins)
        except NnsolveError as exc:                     # nothing fits: every method agrees
            for method in ("exhaustive", "cpsat", "milp"):
                with pytest.raises(type(exc)):
                    solve_layer("l", problem, method, goal, pins)
            return
    assert auto.engine == expected
    assert expected == ("exhaustive" if search_size(problem, pins) <= threshold else "cpsat")
    for method in ("exhaustive", "cpsat", "milp"):
        other = solve_layer("l", problem, method, goal, pins)
        _same(auto, other)
        assert other.engine is None                     # only auto names its engine
    assert auto.bound == solve_layer("l", problem, expected, goal, pins).bound


@settings(max_examples=30, **SETTINGS)
@given(layer_sites(), GOALS, THRESHOLDS)
def test_auto_partition_choice_equals_the_exact_ones(site, goal, threshold):
    with patch.object(portfolio, "AUTO_EXHAUSTIVE_MAX", threshold):
        auto = choose([site], "auto", goal)
    assert auto.engine in ("exhaustive", "cpsat")
    for method in ("exhaustive", "cpsat"):
        other = choose([site], method, goal)
        assert other.status == auto.status and other.engine is None
        if auto.status == "infeasible":
            continue
        assert (other.result.energy, other.result.time) == (auto.result.energy,
                                                            auto.result.time)
        assert other.schedule == auto.schedule


CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ISCA16 = Hardware((1, 1), (16, 16), 256, 65536)


def test_the_rule_is_a_threshold_on_the_counted_space():
    problem = LayerProblem.single_node(Layer.conv(256, 384, 13, 3), 16, ISCA16, UNIT,
                                       (True,) * 3)
    size = search_size(problem, Pins())
    assert 0 < size <= portfolio.AUTO_EXHAUSTIVE_MAX
    assert portfolio.engine_for(problem) == "exhaustive"
    with patch.object(portfolio, "AUTO_EXHAUSTIVE_MAX", size - 1):
        assert portfolio.engine_for(problem) == "cpsat"
    # A node array's layer: the mean space of its partition groups decides.
    small = LayerProblem.single_node(Layer.fc(16, 10), 1, ISCA16, UNIT, (True,) * 3)
    total = size + search_size(small, Pins())
    for threshold, engine in ((-(-total // 2)), "exhaustive"), (total // 2 - 1, "cpsat"):
        with patch.object(portfolio, "AUTO_EXHAUSTIVE_MAX", threshold):
            assert portfolio.engine_for([small, problem]) == engine
            assert portfolio.engine_for([small]) == "exhaustive"
    # A group past the enumeration's budget goes to CP-SAT whatever the mean.
    with patch.object(portfolio, "MAX_SCHEMES", size - 1):
        assert portfolio.engine_for([small] * 10**4 + [problem]) == "cpsat"


def test_auto_falls_back_to_the_enumeration_when_cpsat_cannot_represent_a_layer():
    problem = LayerProblem.single_node(Layer.conv(16, 32, 8, 3), 4, ISCA16, UNIT, (True,) * 3)

    def refuse(self):
        raise ModelTooLarge("integers beyond 64 bits")

    with patch.object(portfolio, "AUTO_EXHAUSTIVE_MAX", 0), \
            patch.object(loop_blocking_cpsat.CpSatLoopBlocking, "_build", refuse):
        auto = solve_layer("l", problem, "auto")
    assert auto.engine == "exhaustive"
    _same(auto, solve_layer("l", problem, "exhaustive"))


def test_an_auto_result_names_each_layers_engine(tmp_path):
    sc = load_scenario(CONFIGS / "single_node" / "mlp_s.yaml", ["batch=1"])
    result = solve(sc, "auto")
    engines = [lo.engine for lo in result.layers]
    assert set(engines) <= {"exhaustive", "cpsat"} and None not in engines
    assert [lo["engine"] for lo in result.to_json()["layers"]] == engines
    assert "; engines: " in status_line(result)
    assert "engine" not in solve(sc, "cpsat").to_json()["layers"][0]
    # On a node array too.
    path = tmp_path / "array.yaml"
    path.write_text("network: mlp_s\nbatch: 1\nhardware: {nodes: [2, 2], pe_array: [8, 8], "
                    "regf_bytes: 512, gbuf_bytes: 65536}\n")
    array = solve(load_scenario(path), "auto")
    assert all(lo.engine in ("exhaustive", "cpsat") for lo in array.layers)
    assert array.energy == solve(load_scenario(path), "exhaustive").energy
