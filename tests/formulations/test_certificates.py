"""What the exact solves certify (nnsolve issue 14): a bound is never below the layer's
closed-form floor, a value that the model cannot tell apart from others is not called
optimal, and sizes beyond 64-bit integers are refused with a clear error, not a traceback.

Agreement with the exhaustive search at the extremes is in test_loop_blocking.py.
"""

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnsolve.errors import NnsolveError
from nnsolve.formulations import exact
from nnsolve.formulations.backend import FEASIBLE, OPTIMAL, UNKNOWN, ModelTooLarge, Outcome
from nnsolve.formulations.blocking_costs import ceil_row
from nnsolve.formulations.loop_blocking import build_cpsat, build_milp
from nnsolve.hardware.spec import Costs, Hardware
from nnsolve.heuristics.exhaustive import search_layer
from nnsolve.model.evaluate import LayerProblem, blocking_floor
from nnsolve.model.goals import goal_value
from nnsolve.model.layer import Layer
from nnsolve.search import solve_layer
from tests.strategies import PICO, UNIT

NODE = Hardware((1, 1), (8, 8), 64, 4096)
BUILDERS = {"cpsat": build_cpsat, "milp": build_milp}


def _problem(costs=UNIT, layer=None, batch=4, hw=NODE):
    return LayerProblem.single_node(layer or Layer.conv(8, 16, 8, 3), batch, hw, costs,
                                    (True, True, True))


def _floor(problem, goal):
    f = blocking_floor(problem)
    return goal_value(f.energy, f.time, goal)


def _degrade(form, status_of, bound):
    """Make the form's backend report ``status_of(real status)`` and a proven bound of
    ``bound`` (as HiGHS does after a time limit: a dual bound far below the optimum)."""
    real = form.backend.solve

    def solve(*args, **kwargs):
        out = real(*args, **kwargs)
        status = status_of(out.status)
        if status == UNKNOWN:
            return Outcome(UNKNOWN, {}, None, bound, out.seconds)
        return Outcome(status, out.values, out.objective, bound, out.seconds)

    form.backend.solve = solve


# -- bounds and the closed-form floor --------------------------------------------------------

@pytest.mark.parametrize("method", ["cpsat", "milp"])
@pytest.mark.parametrize("goal", ["energy", "delay", "edp"])
def test_a_negative_solver_bound_is_raised_to_the_floor(method, goal):
    """A time-limited solve whose solver proves only a negative bound (HiGHS reported -113G
    for AlexNet, whose floor is +11.6G) reports the closed-form floor instead."""
    problem = _problem()
    form = BUILDERS[method](problem, goal)
    _degrade(form, lambda s: FEASIBLE if s == OPTIMAL else s, -1e15)
    sol = form.solve(workers=1)
    floor = _floor(problem, goal)
    assert floor > 0
    assert sol.bound is not None and sol.bound >= floor
    if goal == "edp":       # the EDP solve needs a proven least time to start
        assert sol.status == "unknown" and sol.schedule is None
        return
    assert sol.status == "timeout"
    assert sol.bound <= sol.objective


@pytest.mark.parametrize("method", ["cpsat", "milp"])
def test_no_schedule_and_no_bound_still_reports_the_floor(method):
    """The limit before any schedule (CBC proves no bound then): the floor is the bound."""
    problem = _problem()
    form = BUILDERS[method](problem)
    _degrade(form, lambda s: UNKNOWN, None)
    sol = form.solve(workers=1)
    assert sol.status == "unknown" and sol.schedule is None
    assert sol.bound == pytest.approx(_floor(problem, "energy"), rel=1e-12)


def test_alexnet_conv_with_a_tiny_milp_limit_keeps_its_bound_above_the_floor():
    """The real path: a limit short enough to stop HiGHS (or not; the bound holds either way)."""
    problem = LayerProblem.single_node(Layer.conv(256, 384, 13, 3), 16,
                                       Hardware((1, 1), (16, 16), 256, 65536), UNIT)
    sol = build_milp(problem).solve(time_limit=0.05, workers=1)
    if sol.status in ("timeout", "unknown"):
        assert sol.bound >= _floor(problem, "energy")
    if sol.schedule is not None:
        assert sol.bound <= sol.objective


# -- values the model cannot tell apart ------------------------------------------------------

def test_too_many_schedules_in_an_inexact_window_is_refused(monkeypatch):
    """With inexact arithmetic (PICO costs) every schedule within the model's rounding error
    of its optimum must be scored; when there are more than MAX_KEYS of them the solve
    refuses (it used to keep the first by enumeration order and call it optimal)."""
    monkeypatch.setattr(exact, "MAX_KEYS", 0)
    problem = _problem(PICO)
    form = build_cpsat(problem)
    assert not form.float_exact
    with pytest.raises(ModelTooLarge, match=r"cannot certify an optimum.*exhaustive"):
        form.solve(workers=1)


def test_too_many_keys_with_exact_values_only_leaves_the_tie_break_open(monkeypatch):
    monkeypatch.setattr(exact, "MAX_KEYS", 0)
    problem = _problem(UNIT, hw=Hardware((1, 1), (8, 8), 64, 4096, dram_bandwidth=0.3))
    sol = build_cpsat(problem).solve(workers=1)     # exact energy, inexact time: a window
    best = search_layer(problem).best
    assert sol.status == "optimal" and sol.objective == best.result.energy


def test_a_time_limit_inside_an_inexact_window_is_a_timeout(monkeypatch):
    """The limit while scoring the window: the best schedule met is returned as timeout with
    the model's bound, not as optimal."""
    real = exact._settle_keys

    def cut_short(run, values, notes, value_exact):
        _, _, keys = real(run, values, notes, value_exact)
        return values, "timeout", keys[:1]

    monkeypatch.setattr(exact, "_settle_keys", cut_short)
    problem = _problem(PICO)
    sol = build_cpsat(problem).solve(workers=1)
    best = search_layer(problem).best.result.energy
    assert sol.status == "timeout"
    assert sol.bound <= best <= sol.objective
    assert any("not proven optimal" in n for n in sol.notes)


# -- sizes beyond 64-bit integers ------------------------------------------------------------

def test_a_time_beyond_64_bits_is_refused_clearly():
    """A DRAM bandwidth of 1e-9 words per cycle at batch 2^20: cycle counts past 2^62. Both
    models refuse with ModelTooLarge (CP-SAT used to raise a TypeError from its Domain), and
    solve_layer names the layer."""
    hw = Hardware((1, 1), (8, 8), 256, 2**20, dram_bandwidth=1e-9)
    problem = LayerProblem.single_node(Layer.fc(16, 10, 7), 2**20, hw, UNIT, (True,) * 3)
    for build in (build_cpsat, build_milp):
        with pytest.raises(ModelTooLarge, match="exhaustive"):
            build(problem, "delay").solve(workers=1)
    with pytest.raises(NnsolveError, match=r"layer conv9: .*exhaustive"):
        solve_layer("conv9", problem, "cpsat", "delay")


# -- the ceiling rows of time ----------------------------------------------------------------

_coefs = st.one_of(
    st.integers(0, 10**12).map(float),                               # exact integers
    st.integers(1, 10**12).map(lambda n: n * (1 - 2.0**-40)),        # integers with noise
    st.fractions(0, 10**6, max_denominator=1000).map(float),
    st.floats(0, 1e13, allow_nan=False))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_coefs, st.integers(1, 2**21)), min_size=1, max_size=6),
       st.sampled_from([1.0, 0.5, 3.0, 4.0, 64.0, 0.3, 1 / 3, 1e4, 2.5e-3]), st.data())
def test_ceil_row_error_bounds_the_evaluator(terms, rate, data):
    """The modelled ceiling (exact integers) is within ``error`` cycles of the evaluator's
    float ceiling, for every value of the variables up to their maxima."""
    maxima = [m for _, m in terms]
    row = ceil_row([(c, i) for i, (c, _) in enumerate(terms)], rate, maxima)
    values = [data.draw(st.integers(0, m)) for m in maxima]
    model = Fraction(sum(k * values[i] for k, i in row.terms), row.lhs)
    model_ceil = math.ceil(model)
    float_sum = 0.0
    for (c, _), v in zip(terms, values, strict=True):
        float_sum += c * v
    evaluator = math.ceil(float_sum / rate)
    assert abs(model_ceil - evaluator) <= row.error


def test_ceil_row_keeps_denominators_small():
    """A buffer access count with float noise (4353564671.999999) is modelled with an integer
    coefficient, not a denominator of 1e6 (which overflowed 64 bits for large layers)."""
    row = ceil_row([(4353564671.999999, "g")], 64.0, [2**20])
    assert row.lhs == 64 and row.terms == [(4353564672, "g")] and row.error == 1
    assert ceil_row([(3.0, "a"), (5.0, "b")], 2.0, [10, 10]).error == 0


# -- end to end ------------------------------------------------------------------------------

NET = "name: fc-big\ninput: {channels: 16, size: 7}\nlayers:\n" \
      "  - {name: fc1, type: fc, out_channels: 10}\n"


def _scenario(tmp_path, extra: str) -> str:
    (tmp_path / "net.yaml").write_text(NET)
    path = tmp_path / "s.yaml"
    path.write_text("network: net.yaml\nbatch: 1048576\nhardware: {pe_array: [8, 8], "
                    "regf_bytes: 512, gbuf_bytes: 65536" + extra)
    return str(path)


def test_cli_fc_at_batch_2_20_is_the_true_optimum(tmp_path, capsys):
    """The issue's scenario: cpsat said optimal at 275G; the optimum is 210G."""
    import json

    from nnsolve.cli import main

    out = tmp_path / "r.json"
    assert main(["solve", _scenario(tmp_path, "}\n"), "--method", "cpsat",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["status"] == "optimal" and doc["total"]["energy"] == 209957154048.0
    assert doc["bound"] == doc["total"]["energy"]


def test_cli_node_array_beyond_64_bits_names_the_layer(tmp_path, capsys):
    from nnsolve.cli import main

    path = _scenario(tmp_path, ", nodes: [2, 2], dram_bandwidth: 1.0e-9}\n"
                               "search: {goal: delay}\n")
    assert main(["solve", path, "--method", "cpsat"]) == 2
    err = capsys.readouterr().err
    assert "layer fc1:" in err and "exhaustive" in err and "Traceback" not in err


def test_cpsat_refusing_its_parameters_says_so():
    """CP-SAT's MODEL_INVALID for bad parameters has an empty validate(): the error names
    the parameters instead of raising an IndexError (the loader bounds solver.workers)."""
    with pytest.raises(RuntimeError, match=r"num_workers=100000"):
        build_cpsat(_problem()).solve(workers=100000)


@pytest.mark.parametrize("values, scale, coefs", [
    ([2e-12, 460e-12, 15e-12, 1.5e-10], 1e12, [2, 460, 15, 150]),     # joules
    ([1e-30, 2e-28, 6e-30], 1e30, [1, 200, 6]),
    ([1e-100, 2e-98], 1e100, [1, 200]),
    ([1.0, 200.0, 6.0], 1.0, [1, 200, 6]),
    ([0.5, 2.25], 100.0, [50, 225]),
])
def test_scaling_makes_small_costs_integers_not_zeros(values, scale, coefs):
    """A value below 1e-9 passed as the integer 0, so costs in joules all became coefficient
    0 (the model ranked nothing and the certificate fell to brute force: cpsat could not
    certify costs of 1e-30, milp timed out)."""
    from nnsolve.formulations.blocking_costs import choose_scaling

    sc = choose_scaling(values, max_total=sum(values) * 1e6)
    assert sc.scale == scale and [sc.coef(v) for v in values] == coefs


def test_cpsat_certifies_costs_of_1e_minus_30():
    tiny = Costs(*(c * 1e-30 for c in vars(UNIT).values()))
    problem = _problem(tiny)
    sol = build_cpsat(problem).solve(workers=1)
    best = search_layer(problem, "energy").best
    assert sol.status == OPTIMAL and sol.schedule == best.schedule
    assert sol.objective == pytest.approx(best.result.energy, rel=1e-12)
