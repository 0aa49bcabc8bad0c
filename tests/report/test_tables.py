"""Tables fit the terminal (issue 14): at 80 and 120 columns the tables of solve, evaluate,
compare, explain, net and nets, for shipped scenarios and networks, keep every line within
the width, cut nothing short with an ellipsis, and show every name and number whole; at any
width from 40 up the lines still fit and nothing is elided."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

import nnsolve
from nnsolve.cli.main import main
from nnsolve.formats.network_yaml import load_zoo, zoo_names
from nnsolve.report.explain import _num, explain_layer
from nnsolve.report.fit import MIN_WRAP, Col, Fitted, Grid
from nnsolve.report.networks import network_table, zoo_table
from nnsolve.report.tables import (
    comparison_tables,
    num,
    result_table,
    schedule_summary,
    segment_table,
)
from nnsolve.results import BREAKDOWN_KEYS
from nnsolve.search.compare import compare

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
WIDTHS = (80, 120)
PIPELINED = ["search.interlayer=true", "search.save_writeback=true"]


def render(renderable, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None,
                      legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


def assert_fits(text: str, width: int, words=()) -> None:
    """Every line within ``width``, no ellipsis, and each of ``words`` whole somewhere."""
    long = [line for line in text.splitlines() if cell_len(line) > width]
    assert not long, f"{len(long)} lines wider than {width}:\n" + "\n".join(long[:5])
    assert "…" not in text
    missing = [w for w in words if w not in text]
    assert not missing, f"not shown whole at width {width}: {missing[:10]}"


@pytest.fixture(scope="module")
def isca():
    """Eyeriss ISCA'16 AlexNet, one node, CP-SAT (about 2 s)."""
    return nnsolve.solve(nnsolve.load_scenario(CONFIGS / "eyeriss_isca16_alexnet.yaml"))


@pytest.fixture(scope="module")
def piped():
    """TETRIS 4x4 MLP-S with pipelining (segments, regions, NoC energy)."""
    scenario = nnsolve.load_scenario(CONFIGS / "tetris_4x4" / "mlp_s.yaml", PIPELINED)
    return scenario, nnsolve.solve(scenario, method="exhaustive")


@pytest.fixture(scope="module")
def comparison():
    """The guide's comparison: single-node AlexNet, CP-SAT and the closed-form solver."""
    scenario = nnsolve.load_scenario(CONFIGS / "single_node" / "alex_net.yaml")
    return compare(scenario, ("cpsat", "analytical"))


def result_words(result) -> list[str]:
    """The names and numbers a result table must show whole."""
    words = []
    for lo in result.layers:
        r = lo.result
        words += [lo.name, num(r.energy), num(r.time),
                  *(num(r.breakdown[k]) for k in BREAKDOWN_KEYS if r.breakdown[k]),
                  *schedule_summary(lo.schedule, r.gbuf_resident, lo.layer.is_conv).split()]
    return words + [num(result.energy), num(result.time)]


@pytest.mark.parametrize("width", WIDTHS)
def test_solve_table_fits(isca, width):
    text = render(result_table(isca), width)
    assert_fits(text, width, result_words(isca))
    assert "status optimal" in text
    if width == 80:
        # the columns that hold nothing are left out, and named
        assert "noc, static: 0 in every layer" in text and "static  " not in text


@pytest.mark.parametrize("width", WIDTHS)
def test_pipelined_tables_fit(piped, width):
    _, result = piped
    text = render(result_table(result), width) + render(segment_table(result), width)
    segs = [f"{lo.schedule.segment} {lo.schedule.region.dims[0]}x{lo.schedule.region.dims[1]}"
            for lo in result.layers]
    assert_fits(text, width, result_words(result) + segs)
    assert "Pipeline segments" in text and "103.5%" in text


def test_wide_solve_table_is_one_table(isca):
    """Wide enough, the layout is the guide's: one table, every breakdown column."""
    text = render(result_table(isca), 200)
    assert "Schedules" not in text
    assert text.count("│ conv1_a │") == 1 and "static" in text.splitlines()[2]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["googlenet", "resnet50", "lstm_gnmt"])
def test_net_tables_fit(name, width):
    net = load_zoo(name)
    text = render(network_table(net, 16), width)
    words = [w for layer in net.layers for w in (layer, *net.prevs[layer])]
    assert_fits(text, width, words)


@pytest.mark.parametrize("width", WIDTHS)
def test_zoo_table_fits(width):
    networks = {n: load_zoo(n) for n in zoo_names()}
    text = render(zoo_table(networks), width)
    assert_fits(text, width, [w for n, net in networks.items()
                              for w in (n, f"{net.total_ops():,}", f"{net.total_weights():,}")])


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_tables_fit(comparison, width):
    text = "".join(render(t, width) for t in comparison_tables(comparison))
    words = [lo.name for lo in comparison.results["cpsat"].layers]
    words += [num(r.energy) for r in comparison.results.values()]
    assert_fits(text, width, words + ["+0.75%", "0.26%", "heuristic", "optimal"])


def test_pipelined_compare_tables_say_why_and_bound_the_loss():
    scenario = nnsolve.load_scenario(CONFIGS / "tetris_4x4" / "mlp_s.yaml", PIPELINED)
    cmp = compare(scenario, ("exhaustive", "analytical"))
    text = "".join(render(t, 120) for t in comparison_tables(cmp))
    assert "no per-layer losses of pipelined layers" in text
    at_most = cmp.loss_at_most(cmp.results["analytical"].value)
    assert f"≤{at_most:.2%}" in text and f"against the best bound {num(cmp.best_bound())}" in text
    assert "(+" not in text                      # no per-layer loss against another segment


@pytest.mark.parametrize("width", WIDTHS)
def test_explain_fits(isca, piped, width):
    scenario = nnsolve.load_scenario(CONFIGS / "eyeriss_isca16_alexnet.yaml")
    pipe_scenario, pipe_result = piped
    for outcome, sc in ((isca.layers["conv2_a"], scenario),
                        (pipe_result.layers["fc1"], pipe_scenario)):
        text = render(explain_layer(outcome, sc), width)
        r = outcome.result
        words = [_num(r.energy), *(_num(r.breakdown[k]) for k in BREAKDOWN_KEYS),
                 "re-fetch" if outcome.name == "conv2_a" else "reuse"]
        assert_fits(text, width, words)
        assert "Loop nest" in text and "Accesses and energy (cost units)" in text


def test_cli_honours_columns(monkeypatch, capsys):
    """Piped output with COLUMNS set is drawn at that width (without it, 200 wide)."""
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["net", "googlenet"]) == 0
    assert_fits(capsys.readouterr().out, 80, ["inception_3a_pool_proj"])
    monkeypatch.delenv("COLUMNS")
    assert main(["net", "googlenet"]) == 0
    assert max(cell_len(line) for line in capsys.readouterr().out.splitlines()) > 120


@settings(max_examples=20, deadline=None)
@given(width=st.integers(40, 220))
def test_any_width_fits_without_ellipsis(piped, width):
    scenario, result = piped
    net = load_zoo("lstm_gnmt")
    text = render(result_table(result), width) + render(segment_table(result), width) + \
        render(network_table(net), width) + \
        render(explain_layer(result.layers["fc2"], scenario), width)
    words = result_words(result) + [w for layer in net.layers for w in (layer, *net.prevs[layer])]
    assert_fits(text, width, words if width >= 80 else ())


# -- the layout rules ------------------------------------------------------------------------

def _grid(n_rows: int = 3, prose: str = "a few words of prose to wrap " * 3) -> Grid:
    grid = Grid([Col("name"), Col("value", "right"), Col("note", wrap=True)], title="t",
                caption="a caption")
    for i in range(n_rows):
        grid.add_row(f"row_name_{i}", f"{1.5e9 * (i + 1):.4g}", Text(prose))
    return grid


def test_first_fitting_layout_wins():
    wide = Grid([Col("x" * 60)])
    narrow = Grid([Col("y" * 20)])
    fitted = Fitted(lambda: [wide], lambda: [narrow])
    assert "x" * 60 in render(fitted, 100)
    assert "y" * 20 in render(fitted, 50) and "x" * 60 not in render(fitted, 50)


def test_wrapping_columns_narrow_and_keep_min_wrap():
    text = render(Fitted(lambda: [_grid()]), 60)
    assert_fits(text, 60, ["row_name_2", "4.5e+09"])
    # the note column wrapped but kept at least MIN_WRAP cells
    assert any(cell_len(line) >= MIN_WRAP for line in text.splitlines())


def test_too_wide_tables_are_drawn_in_blocks_of_columns():
    grid = Grid([Col("key"), *(Col(f"column_{i}", "right") for i in range(12))], title="t")
    grid.add_row("k", *(f"{i * 1111}" for i in range(12)))
    text = render(Fitted(lambda: [grid]), 50)
    assert_fits(text, 50, [f"column_{i}" for i in range(12)])
    assert text.count("key") >= 3            # every block is led by the first column
