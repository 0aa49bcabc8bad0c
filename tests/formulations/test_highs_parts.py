"""HiGHS solved part by part (formulations/highs_parts.py) = brute force, on random 0-1 models.

Each model has a one-hot group of part variables (the partition), random integer rows and
objectives, and is solved in the sequence the exact solve uses: minimise one objective, then
another under a temporary row bounding the first (a window), then with a row that bounds the
current objective (a cut-off), withdrawing rows in between; the facts kept from earlier solves
must never prune a part that holds a better solution. Every optimum must equal the brute
force's to the unit, and every returned solution must satisfy the model.
"""

from itertools import product

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnsolve.formulations.highs_parts import HighsPartsBackend


@st.composite
def models(draw):
    n = draw(st.integers(2, 7))            # free binaries
    k = draw(st.integers(1, 4))            # parts
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        coefs = draw(st.lists(st.integers(-3, 3), min_size=n + k, max_size=n + k))
        rows.append((coefs, draw(st.sampled_from(["<=", ">=", "=="])),
                     draw(st.integers(-2, 4))))
    objectives = [draw(st.lists(st.integers(-9, 9), min_size=n + k, max_size=n + k))
                  for _ in range(2)]
    # Parts may force some binaries to 0: the rows x_j <= 1 - z_p state it, so the implied
    # zeros handed to the backend are true.
    zeros = [sorted(set(draw(st.lists(st.integers(0, n - 1), max_size=n)))) for _ in range(k)]
    groups = [draw(st.integers(0, 1)) for _ in range(k)]
    return n, k, rows, objectives, zeros, groups


def brute(n, k, rows, extra):
    """Every feasible 0-1 point of the model plus ``extra`` rows (coefs, sense, rhs)."""
    points = []
    for x in product((0, 1), repeat=n):
        for p in range(k):
            z = [int(i == p) for i in range(k)]
            v = list(x) + z
            ok = all({"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
                      "==": lambda a, b: a == b}[s](value(cs, v), r)
                      for cs, s, r in rows + extra)
            if ok:
                points.append(v)
    return points


def build(n, k, rows, zeros, groups):
    be = HighsPartsBackend("test")
    xs = [be.bool_var(f"x{j}") for j in range(n)]
    zs = [be.bool_var(f"z{p}") for p in range(k)]
    allv = xs + zs
    be.exactly_one(zs)
    for p, zero in enumerate(zeros):
        for j in zero:
            be.add([(1, xs[j]), (1, zs[p])], "<=", 1)
    for coefs, sense, rhs in rows:
        be.add([(c, v) for c, v in zip(coefs, allv, strict=True) if c], sense, rhs)
    be.partition = [(be.var_id(zs[p]),
                     np.asarray(sorted({be.var_id(xs[j]) for j in zeros[p]} |
                                       {be.var_id(z) for z in zs if z is not zs[p]}),
                                dtype=np.int64), groups[p]) for p in range(k)]
    return be, allv


def value(coefs, point):
    return sum(c * y for c, y in zip(coefs, point, strict=True))


def check(be, allv, out, points, objective, extra):
    if not points:
        assert out.status == "infeasible"
        return None
    assert out.status == "optimal"
    best = min(value(objective, p) for p in points)
    assert out.objective == best
    got = [out.values[be.var_id(v)] for v in allv]
    assert got in points
    assert value(objective, got) == best
    return best


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_parts_solve_equals_brute_force(case):
    n, k, rows, (obj1, obj2), zeros, groups = case
    base = rows + [([int(i == j) + int(i == n + p) for i in range(n + k)], "<=", 1)
                   for p, zero in enumerate(zeros) for j in zero]
    be, allv = build(n, k, rows, zeros, groups)

    def terms(coefs):
        return [(c, v) for c, v in zip(coefs, allv, strict=True) if c]

    # 1. minimise obj1
    be.minimize(terms(obj1))
    out = be.solve(60, 1)
    best1 = check(be, allv, out, brute(n, k, base, []), obj1, [])
    if best1 is None:
        return
    # 2. minimise obj2 within obj1 <= best1 + 1 (a window), hinted with the first optimum
    window = ([c for c in obj1], "<=", best1 + 1)
    h = be.add(terms(obj1), "<=", best1 + 1, temporary=True)
    be.hint(out.values)
    be.minimize(terms(obj2))
    check(be, allv, be.solve(60, 1), brute(n, k, base, [window]), obj2, [window])
    be.withdraw(h)
    be.hint({})
    # 3. obj2 alone again (the window withdrawn: its facts must not prune)
    best2 = check(be, allv, be.solve(60, 1), brute(n, k, base, []), obj2, [])
    # 4. obj2 under a cut-off on itself (strictly better than its optimum: infeasible),
    #    then one at its optimum (feasible)
    for limit in (best2 - 1, best2):
        cut = ([c for c in obj2], "<=", limit)
        h = be.add(terms(obj2), "<=", limit, temporary=True)
        check(be, allv, be.solve(60, 1), brute(n, k, base, [cut]), obj2, [cut])
        be.withdraw(h)


def test_rows_added_to_the_native_model_are_picked_up():
    """A constraint a researcher adds to the PuLP model between solves takes effect."""
    be = HighsPartsBackend("test")
    x = [be.bool_var(f"x{j}") for j in range(3)]
    be.add([(1, v) for v in x], ">=", 1)
    be.minimize([(1, x[0]), (2, x[1]), (3, x[2])])
    assert be.solve(60, 1).objective == 1
    be.model += x[0] == 0
    out = be.solve(60, 1)
    assert out.status == "optimal" and out.objective == 2


@pytest.mark.parametrize("limit", [0.0])
def test_time_limit_gives_no_false_optimum(limit):
    """Out of time before any LP: unknown, never optimal."""
    be = HighsPartsBackend("test")
    x = [be.bool_var(f"x{j}") for j in range(3)]
    be.add([(1, v) for v in x], "==", 1)
    be.minimize([(1, x[0]), (2, x[1]), (3, x[2])])
    assert be.solve(limit, 1).status == "unknown"
