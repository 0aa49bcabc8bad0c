"""CP-SAT's merged solve (energy x (rank span + 1) + rank in one objective, exact.py) returns
what the staged solve returns, to the last unit and tie-break, and is taken where it applies."""

from __future__ import annotations

from unittest.mock import patch

from hypothesis import HealthCheck, given, settings

from nnsolve.formulations import exact
from nnsolve.formulations.backend import CpSatBackend
from nnsolve.formulations.loop_blocking import build_cpsat
from nnsolve.hardware.spec import Hardware
from nnsolve.heuristics.exhaustive import search_layer
from nnsolve.model.evaluate import LayerProblem
from nnsolve.model.layer import Layer
from tests.formulations.test_loop_blocking import problems
from tests.strategies import PICO, UNIT


def _merged_calls(problem, goal="energy", pins=None):
    """(solution, how many candidates the merged solve settled)."""
    calls = []
    real = exact._candidate_merged

    def spy(*args):
        calls.append(args)
        return real(*args)

    with patch.object(exact, "_candidate_merged", spy):
        sol = build_cpsat(problem, goal, pins).solve(workers=1)
    return sol, len(calls)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_merged_equals_staged(case):
    problem, goal, pins = case
    merged, _ = _merged_calls(problem, goal, pins)
    with patch.object(CpSatBackend, "objective_limit", 0):      # the stages only
        staged, calls = _merged_calls(problem, goal, pins)
    assert calls == 0
    assert merged.status == staged.status
    assert merged.objective == staged.objective and merged.schedule == staged.schedule
    if merged.status == "optimal":
        assert merged.bound == staged.bound


NODE = Hardware((1, 1), (16, 16), 256, 65536)


def test_merged_is_taken_where_exact_and_not_elsewhere():
    problem = LayerProblem.single_node(Layer.conv(256, 384, 13, 3), 16, NODE, UNIT,
                                       (True,) * 3)
    sol, calls = _merged_calls(problem)
    assert calls >= 1 and sol.status == "optimal"
    best = search_layer(problem).best
    assert sol.schedule == best.schedule and sol.objective == best.result.energy
    # Inexact arithmetic (picojoule costs) and goal delay keep the stages.
    inexact = LayerProblem.single_node(Layer.conv(16, 32, 8, 3), 4, NODE, PICO, (True,) * 3)
    assert _merged_calls(inexact)[1] == 0
    assert _merged_calls(problem, "delay")[1] == 0
