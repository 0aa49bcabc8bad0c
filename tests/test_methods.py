"""The one registry of methods, and everything that reads it."""

from __future__ import annotations

import pytest

from nnsolve.cli.main import build_parser
from nnsolve.errors import InputError, NnsolveError
from nnsolve.formats.scenario_yaml import FIELD_BY_KEY, load_scenario
from nnsolve.formats.schema import scenario_schema
from nnsolve.methods import (
    DEFAULT_METHOD,
    METHOD_NAMES,
    METHODS,
    REMOVED_METHODS,
    Promise,
    exact_methods,
    method,
)
from nnsolve.search.compare import DEFAULT_METHODS


def test_every_reader_offers_the_registry():
    assert FIELD_BY_KEY["solver.method"].choices == METHOD_NAMES
    assert FIELD_BY_KEY["solver.method"].default == DEFAULT_METHOD
    assert DEFAULT_METHODS == METHOD_NAMES
    prop = scenario_schema()["properties"]["solver"]["properties"]["method"]
    enums = [alt["enum"] for alt in prop["anyOf"] if "enum" in alt]
    assert enums == [list(METHOD_NAMES)]
    solve = build_parser()._subparsers._group_actions[0].choices["solve"]
    choices = next(a.choices for a in solve._actions if "--method" in a.option_strings)
    assert tuple(choices) == METHOD_NAMES


def test_promises():
    assert METHODS["analytical"].promise is Promise.HEURISTIC
    assert set(exact_methods()) == {"auto", "cpsat", "milp", "exhaustive"}
    assert DEFAULT_METHOD == "auto" and METHODS[DEFAULT_METHOD].promise is Promise.EXACT


def test_unknown_and_removed_names_are_clear():
    with pytest.raises(NnsolveError, match="did you mean 'cpsat'"):
        method("cpsta")
    with pytest.raises(NnsolveError, match=r"solver.method: beam was removed.*solver.beam_width"):
        method("beam")


@pytest.mark.parametrize("spelling", ["beam", "Beam"])
def test_a_scenario_naming_beam_is_told_what_to_do(tmp_path, spelling):
    path = tmp_path / "old.yaml"
    path.write_text(f"network: alex_net\nsolver: {{method: {spelling}}}\n")
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert str(err.value).startswith(str(path))
    assert "solver.method" in str(err.value) and REMOVED_METHODS["beam"] in str(err.value)


def test_analytical_applies_only_with_two_bypassable_categories(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("network: alex_net\nsearch: {bypass: [ifmap]}\n")
    assert "search.bypass" in METHODS["analytical"].applies(load_scenario(path))
    assert METHODS["cpsat"].applies(load_scenario(path)) is None
