"""One name for the energy unit everywhere a user reads it: tables, explain, plots, the
scenario reference and schema, and the docs ("cost units": the unit the scenario's costs are
given in, as nn_dataflow's costs are plain numbers)."""

import re
from pathlib import Path

import pytest

import nnsolve
from nnsolve.formats.scenario_yaml import FIELDS
from nnsolve.formats.schema import scenario_schema
from nnsolve.report import plots
from nnsolve.report.explain import ENERGY_UNIT

ROOT = Path(__file__).resolve().parents[2]
UNIT = "cost units"
#: Other names the unit once had, in any of the places above.
OTHER_NAMES = re.compile(r"energy units|scenario units|costs' own units|your own units",
                         re.IGNORECASE)


def test_the_field_table_and_schema_name_the_cost_units():
    costs = [f for f in FIELDS if f.key.startswith("costs.")]
    assert costs and all(f.unit == UNIT for f in costs)
    schema = scenario_schema()
    assert UNIT in schema["description"]
    assert UNIT in schema["properties"]["costs"]["properties"]["dram"]["description"]


def test_explain_and_plots_name_the_cost_units(tmp_path):
    assert ENERGY_UNIT == UNIT
    pytest.importorskip("matplotlib")
    scenario = nnsolve.load_scenario(ROOT / "configs" / "single_node" / "mlp_s.yaml")
    result = nnsolve.solve(scenario, method="analytical")
    assert UNIT in plots.energy_breakdown(result).get_ylabel()
    figure = plots.result_figure(result, scenario)
    assert any(UNIT in ax.get_ylabel() for ax in figure.axes)
    assert UNIT in plots.pareto_figure([("a", 1.0, 2.0)]).axes[0].get_ylabel()


def test_no_other_name_for_the_unit_in_the_sources_and_docs():
    files = [*sorted((ROOT / "nnsolve").rglob("*.py")), *sorted((ROOT / "docs").glob("*.md")),
             ROOT / "README.md"]
    found = [f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
             for path in files for i, line in enumerate(path.read_text().splitlines(), 1)
             if OTHER_NAMES.search(line)]
    assert not found, "\n".join(found)
