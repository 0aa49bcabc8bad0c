"""Plots: each picture is drawn from real results and checked for structure (bars, panels,
node colours, zig-zag lines) and for being a real, non-blank PNG; the Pareto front against
its brute-force definition; the CLI's --plot path; matplotlib kept out of ``import nnsolve``;
names drawn as they are (never read as mathtext)."""

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import nnsolve
from nnsolve.cli.main import main
from nnsolve.errors import NnsolveError
from nnsolve.hardware.regions import processing_region
from nnsolve.model.schedule import Region
from nnsolve.report import plots
from nnsolve.results import BREAKDOWN_KEYS, NetworkResult, SegmentOutcome
from nnsolve.search.compare import Comparison, compare

ROOT = Path(__file__).resolve().parents[2]
ALEXNET = ROOT / "configs" / "eyeriss_isca16_alexnet.yaml"
MLP_S = ROOT / "configs" / "tetris_4x4" / "mlp_s.yaml"
PIPELINED = ["search.interlayer=true", "search.save_writeback=true", "solver.method=exhaustive"]

TINY_NET = """\
name: tiny
input: {channels: 256, size: 13}
layers:
  - {name: conv, type: conv, out_channels: 384, out_size: 13, kernel: 3}
  - {name: pool, type: pool, out_size: 6, kernel: 3, stride: 2}
  - {name: fc, type: fc, out_channels: 1000}
"""
TINY_SCENARIO = """\
name: tiny-1node
network: net.yaml
batch: 16
hardware: {nodes: [1, 1], pe_array: [16, 16], regf_bytes: 512, gbuf_bytes: 131072}
costs: {mac: 1, dram: 200, gbuf: 6, itcn: 2, regf: 1, noc_hop: 0, idle: 0}
"""


def assert_real_png(path: Path, min_side: int = 300) -> np.ndarray:
    """A PNG file of sensible size whose pixels are not one blank colour."""
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    image = imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= min_side
    rgb = np.round(image[..., :3].reshape(-1, 3) * 255).astype(np.uint32)
    colours = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])
    assert len(colours) > 20
    assert np.mean(np.any(rgb < 230, axis=1)) > 0.02      # more than a few dark pixels
    return image


@pytest.fixture(scope="module")
def alexnet():
    scenario = nnsolve.load_scenario(ALEXNET)
    return scenario, nnsolve.solve(scenario, method="exhaustive")


@pytest.fixture(scope="module")
def mlp_pipelined():
    scenario = nnsolve.load_scenario(MLP_S, PIPELINED)
    return scenario, nnsolve.solve(scenario, method="exhaustive")


@pytest.fixture(scope="module")
def comparison(tmp_path_factory) -> Comparison:
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "net.yaml").write_text(TINY_NET)
    (folder / "sc.yaml").write_text(TINY_SCENARIO)
    return compare(nnsolve.load_scenario(folder / "sc.yaml"), ("cpsat", "analytical"))


# -- energy breakdown ---------------------------------------------------------------------

def test_breakdown_has_one_stacked_bar_per_layer_and_category(alexnet):
    _, result = alexnet
    ax = plots.energy_breakdown(result)
    names = [lo.name for lo in result.layers]
    used = [k for k in BREAKDOWN_KEYS if any(lo.result.breakdown[k] for lo in result.layers)]
    assert "noc" not in used and "static" not in used      # one node, no idle cost
    assert len(ax.patches) == len(names) * len(used)
    # the stack of each layer adds up to its energy, in network order
    tops = {}
    for patch in ax.patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        tops[x] = max(tops.get(x, 0.0), patch.get_y() + patch.get_height())
    assert sorted(tops) == list(range(len(names)))
    for i, lo in enumerate(result.layers):
        assert tops[i] == pytest.approx(lo.result.energy, rel=1e-9)
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_legend().get_texts()] == \
        [plots.CATEGORY_NAMES[k] for k in reversed(used)]
    assert "cost units" in ax.get_ylabel()


def test_breakdown_thins_labels_for_many_layers(alexnet):
    _, result = alexnet
    many = NetworkResult("many", "m", "energy", [result.layers[i % len(result.layers)]
                                                 for i in range(150)])
    ax = plots.energy_breakdown(many)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [lo.name for lo in many.layers][::3]
    assert "every 3th" not in ax.get_xlabel() and "every 3rd" in ax.get_xlabel()
    assert ax.figure.get_figwidth() <= 24
    assert len(ax.patches) == 150 * 5


def test_plot_result_writes_a_png(alexnet, tmp_path):
    scenario, result = alexnet
    out = tmp_path / "sub" / "alexnet.png"
    plots.plot_result(result, scenario, out)
    assert_real_png(out)


# -- region map -----------------------------------------------------------------------------

def fake_pipelined(segments: list[list[int]], nodes=(4, 4)) -> NetworkResult:
    """A result with only segments: each one's spatial entries get these node counts,
    allocated along the chip's zig-zag path as the pipeline search does."""
    chip = processing_region(nodes)
    outs = []
    for s, counts in enumerate(segments):
        regions = chip.allocate(counts) if len(counts) > 1 else [chip]
        assert regions
        outs.append(SegmentOutcome(tuple((f"s{s}e{e}",) for e in range(len(counts))),
                                   tuple(Region(r.origin, r.dims) for r in regions),
                                   1.0, 1.0, 1.0, 1.0, 1, 0.0))
    return NetworkResult("fake", "m", "energy", [], segments=outs)


def test_segment_regions_recover_the_zigzag_folds():
    chip = processing_region((4, 4))
    folded = chip.allocate([5, 11])
    assert folded[1].wbeg < 0            # the second strip starts leftwards
    result = fake_pipelined([[5, 11]])
    assert plots.segment_regions(result.segments[0], (4, 4)) == folded


def test_region_map_colours_nodes_by_entry_and_draws_the_zigzag():
    result = fake_pipelined([[5, 11], [16], [4, 4, 8]])
    fig = plots.region_map(result, (4, 4))
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3
    grid = np.asarray(panels[0].images[0].get_array()) - 1     # entry index per node
    expected = np.ones((4, 4), dtype=int)
    expected[0, :] = 0
    expected[1, 3] = 0
    assert (grid == expected).all()
    assert (np.asarray(panels[1].images[0].get_array()) == 1).all()
    # the first region's line runs along row 0 and turns down at the right edge
    line = panels[0].lines[0]
    assert list(line.get_xdata()) == [0, 1, 2, 3, 3]
    assert list(line.get_ydata()) == [0, 0, 0, 0, 1]
    # the second runs back leftwards along row 1, then rightwards along row 2 ...
    line = panels[0].lines[2]
    assert list(line.get_xdata())[:5] == [2, 1, 0, 0, 1]
    assert list(line.get_ydata())[:5] == [1, 1, 1, 2, 2]
    texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in
             ax.get_legend().get_texts()]
    assert texts == ["s0e0", "s0e1", "s1e0", "s2e0", "s2e1", "s2e2"]


def test_region_map_caps_the_panels_of_long_networks(tmp_path):
    result = fake_pipelined([[64, 64, 128]] * 30, nodes=(16, 16))
    fig = plots.region_map(result, (16, 16), max_panels=3)
    assert len([ax for ax in fig.axes if ax.images]) == 3
    assert "first 3 of 30 segments" in fig.get_suptitle().replace("\n", " ")
    out = tmp_path / "regions.png"
    fig.savefig(out)
    assert_real_png(out)


def test_region_map_needs_a_pipelined_result(alexnet):
    with pytest.raises(NnsolveError, match="pipelined"):
        plots.region_map(alexnet[1], (1, 1))


def test_plot_result_of_a_pipelined_result_has_breakdown_and_regions(mlp_pipelined, tmp_path):
    scenario, result = mlp_pipelined
    fig = plots.result_figure(result, scenario)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == len(result.segments)
    assert any(len(ax.patches) >= len(result.layers) for ax in fig.axes if not ax.images)
    out = tmp_path / "mlp.png"
    plots.plot_result(result, scenario, out)
    image = assert_real_png(out)
    assert image.shape[0] > 700        # the region map sits under the breakdown


# -- comparison -----------------------------------------------------------------------------

def test_comparison_shows_values_and_losses(comparison, tmp_path):
    cmp = comparison
    n = len(cmp.results["cpsat"].layers)
    fig = plots.comparison_figure(cmp)
    top, bottom = fig.axes[:2]
    assert len(top.patches) == n * 2                     # both methods, every layer
    heights = sorted(p.get_height() for p in top.patches)
    values = sorted(lo.result.energy for r in cmp.results.values() for lo in r.layers)
    assert heights == pytest.approx(values)
    # the loss panel: analytical only (cpsat proves every layer), in percent
    losses = [100 * cmp.loss(lo.result.energy, cmp.layer_optimum(i))
              for i, lo in enumerate(cmp.results["analytical"].layers)]
    assert [p.get_height() for p in bottom.patches] == pytest.approx(losses)
    assert max(losses) > 0
    assert [t.get_text() for t in bottom.get_legend().get_texts()] == ["analytical"]
    out = tmp_path / "cmp.png"
    plots.plot_comparison(cmp, out)
    assert_real_png(out)


def test_comparison_without_a_proven_optimum_shades_the_layers(comparison):
    only = Comparison(comparison.scenario, comparison.goal, ["analytical"],
                      {"analytical": comparison.results["analytical"]},
                      {"milp": "not installed"})
    fig = plots.comparison_figure(only)
    bottom = fig.axes[1]
    assert [t.get_text() for t in bottom.get_legend().get_texts()] == \
        ["no proven optimum", "analytical"]
    assert len(bottom.patches) == len(only.results["analytical"].layers)   # spans, no bars
    assert any("not applicable: milp" in t.get_text() for t in fig.texts)


@pytest.fixture(scope="module")
def pipelined_comparison() -> Comparison:
    """Two methods on a pipelined scenario: every layer optimal for its segment, neither
    network proven optimal (the segment chain is a beam search's)."""
    return compare(nnsolve.load_scenario(MLP_S, PIPELINED[:2]), ("exhaustive", "analytical"))


def test_pipelined_comparison_says_why_there_are_no_layer_losses(pipelined_comparison):
    """The issue's case: the loss panel said "every method proved every layer optimal: no
    losses" of two heuristic pipelined results."""
    cmp = pipelined_comparison
    assert all(r.status == "heuristic" and r.segments for r in cmp.results.values())
    assert all(cmp.layer_optimum(i) is None for i in range(len(cmp.results["exhaustive"].layers)))
    bottom = plots.comparison_figure(cmp).axes[1]
    said = " ".join(t.get_text() for t in bottom.texts)
    assert "no losses" not in said
    assert "pipelined" in said and "best bound" in said
    at_most = cmp.loss_at_most(cmp.results["analytical"].value)
    assert at_most is not None and f"analytical ≤{at_most:.2%}" in said
    doc = cmp.to_json()
    assert doc["best_bound"] == cmp.best_bound() and doc["optimum"] is None
    assert doc["totals"]["analytical"]["loss_at_most"] == at_most


def test_log_axis_has_readable_ticks():
    """A log axis spanning less than three decades labels its 2x and 5x ticks too (it had a
    single label when the values crossed only one power of ten)."""
    fig = plots._new_figure(4, 3)
    ax = fig.add_subplot()
    ax.bar([0, 1, 2], [2e6, 9e6, 8e7])
    plots._scale(ax, "y", [2e6, 9e6, 8e7])
    fig.canvas.draw()
    low, high = ax.get_ylim()
    shown = [t.get_text() for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True)
             if t.get_text() and low <= t.get_position()[1] <= high]
    assert ax.get_yscale() == "log" and len(shown) >= 4, shown
    assert "10M" in shown and "5M" in shown


def test_comparison_uses_the_readable_log_axis(alexnet):
    _, result = alexnet
    cmp = Comparison(result.scenario, "energy", ["exhaustive"], {"exhaustive": result})
    fig = plots.comparison_figure(cmp)
    fig.canvas.draw()
    top = fig.axes[0]
    low, high = top.get_ylim()
    shown = [t.get_text() for t in top.get_yticklabels() + top.get_yticklabels(minor=True)
             if t.get_text() and low <= t.get_position()[1] <= high]
    assert top.get_yscale() == "log" and len(shown) >= 5, shown


# -- Pareto front -----------------------------------------------------------------------------

def brute_front(points):
    def dominates(q, p):
        return q[1] <= p[1] and q[2] <= p[2] and (q[1] < p[1] or q[2] < p[2])
    keep = [i for i, p in enumerate(points)
            if not any(math.isnan(x) for x in p[1:])
            and not any(dominates(q, p) for q in points if not any(math.isnan(x) for x in q[1:]))]
    return sorted(keep, key=lambda i: (points[i][1], points[i][2], i))


def test_pareto_front_hand_cases():
    assert plots.pareto_front([]) == []
    assert plots.pareto_front([("a", 1, 1)]) == [0]
    pts = [("slow-cheap", 10, 1), ("fast-dear", 1, 10), ("worse", 10, 10), ("mid", 5, 5)]
    assert plots.pareto_front(pts) == [1, 3, 0]
    # equal points do not dominate each other; same time, more energy is dominated
    pts = [("a", 2, 3), ("b", 2, 3), ("c", 2, 4), ("d", 3, 3), ("e", 1, 9)]
    assert plots.pareto_front(pts) == [4, 0, 1]
    # infinite and NaN values
    pts = [("inf", math.inf, 1), ("nan", math.nan, 0), ("x", 1, math.inf), ("y", 2, 2)]
    assert plots.pareto_front(pts) == [2, 3, 0]


coord = st.one_of(st.integers(0, 6).map(float), st.floats(0, 1e9), st.just(math.inf),
                  st.just(math.nan))


@given(st.lists(st.tuples(st.text(max_size=3), coord, coord), max_size=25))
def test_pareto_front_matches_brute_force(points):
    assert plots.pareto_front(points) == brute_front(points)


def test_pareto_plot_highlights_and_joins_the_front(tmp_path):
    pts = [("b1", 1e6, 9e9), ("b2", 2e6, 6e9), ("b4", 4e6, 5e9), ("b8", 8e6, 7e9),
           ("b2'", 2e6, 6e9), ("slow", 3e6, 8e9), ("broken", math.nan, 1e9)]
    fig = plots.pareto_figure(pts, "demo")
    ax = fig.axes[0]
    front = plots.pareto_front(pts)
    assert front == [0, 1, 4, 2]
    step = ax.lines[0]
    assert step.get_drawstyle() == "steps-post"
    assert list(step.get_xdata()) == [pts[i][1] for i in front]
    assert list(step.get_ydata()) == [pts[i][2] for i in front]
    dominated, highlighted = ax.collections[:2]
    assert len(highlighted.get_offsets()) == 4 and len(dominated.get_offsets()) == 2
    labels = {t.get_text() for t in ax.texts}
    assert {"b1", "b2, b2'", "b4"} <= labels
    assert "4 of 7 runs" in ax.get_title(loc="left")
    out = tmp_path / "pareto.png"
    plots.pareto_plot(pts, out, title="demo")
    assert_real_png(out)


def test_pareto_labels_do_not_overlap_and_crowded_ones_are_left_out():
    from matplotlib.text import Annotation

    front = [("fast", 1e5, 9e9), ("mid", 1e6, 3e9), ("cheap", 1e7, 1e9)]
    crowd = [(f"crowd{k}", 5e6 + 1e3 * k, 8e9 + 1e6 * k) for k in range(30)]
    fig = plots.pareto_figure(front + crowd)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if isinstance(t, Annotation)]
    assert {"fast", "mid", "cheap"} <= {t.get_text() for t in labels}
    assert 3 < len(labels) < 33
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    left_out = 33 - len(labels)
    assert any(t.get_text() == f"labels of {left_out} crowded dominated runs left out"
               for t in ax.texts)


# -- CLI, errors, optional dependency --------------------------------------------------------

def test_cli_solve_plot_writes_png(tmp_path, capsys):
    out = tmp_path / "solve.png"
    args = ["solve", str(MLP_S), "--method", "exhaustive", "--plot", str(out)]
    for item in PIPELINED[:2]:
        args += ["--set", item]
    assert main(args) == 0
    assert f"wrote {out}" in capsys.readouterr().out.replace("\n", "")
    assert_real_png(out)


def test_cli_compare_plot_writes_png(tmp_path, capsys):
    scenario = tmp_path / "small.yaml"
    scenario.write_text("network: mlp_s\nbatch: 4\nhardware: {pe_array: [8, 8], "
                        "regf_bytes: 64, gbuf_bytes: 16384}\n")
    out = tmp_path / "compare.png"
    assert main(["compare", str(scenario), "--methods", "cpsat,analytical",
                 "--plot", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out.replace("\n", "")
    assert_real_png(out)


def test_unknown_picture_format_is_a_user_error(alexnet, tmp_path):
    scenario, result = alexnet
    with pytest.raises(NnsolveError, match=r"cannot draw a \.xyz file"):
        plots.plot_result(result, scenario, tmp_path / "out.xyz")


def test_missing_matplotlib_is_a_clear_error(monkeypatch, tmp_path):
    for name in ["matplotlib", *(m for m in sys.modules if m.startswith("matplotlib."))]:
        monkeypatch.setitem(sys.modules, name, None)        # as if not installed
    with pytest.raises(NnsolveError, match=r"pip install 'nnsolve\[plot\]'"):
        plots.pareto_plot([("a", 1, 1)], tmp_path / "p.png")


def test_import_nnsolve_does_not_import_matplotlib():
    code = ("import sys, nnsolve, nnsolve.cli, nnsolve.report.plots; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- names are drawn as they are ---------------------------------------------------------

MATH_NAME = st.text(st.sampled_from(list("$\\{}^_ab ")), min_size=1, max_size=10).filter(
    str.strip)


def _renamed(result: NetworkResult, scenario: str, names: dict[str, str]) -> NetworkResult:
    segments = None if result.segments is None else [
        dataclasses.replace(s, layers=tuple(tuple(names.get(n, n) for n in entry)
                                            for entry in s.layers))
        for s in result.segments]
    return dataclasses.replace(
        result, scenario=scenario, segments=segments,
        layers=[dataclasses.replace(lo, name=names.get(lo.name, lo.name))
                for lo in result.layers])


def _drawn_texts(fig) -> list[str]:
    """Every text of a drawn figure; drawing parses mathtext, which would fail on bad
    names."""
    from matplotlib.cbook import is_math_text
    from matplotlib.text import Text

    fig.canvas.draw()
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert not any(is_math_text(t) for t in texts)
    return [t.replace(r"\$", "$") for t in texts]           # what is drawn


@settings(max_examples=5)         # each draws four figures
@example(scenario="$\\frac{$", name="$x^$_{")
@given(scenario=MATH_NAME, name=MATH_NAME)
def test_names_with_dollars_and_backslashes_are_drawn_as_they_are(comparison, mlp_pipelined,
                                                                  scenario, name):
    first = comparison.results["cpsat"].layers[0].name
    renamed = Comparison(scenario, comparison.goal, comparison.methods,
                         {m: _renamed(r, scenario, {first: name})
                          for m, r in comparison.results.items()})
    texts = _drawn_texts(plots.comparison_figure(renamed))
    assert name in texts and any(t.startswith(f"{scenario}: ") for t in texts)
    texts = _drawn_texts(plots.energy_breakdown(renamed.results["cpsat"]).figure)
    assert name in texts

    sc, result = mlp_pipelined
    piped = _renamed(result, scenario, {result.layers[0].name: name})
    texts = _drawn_texts(plots.region_map(piped, tuple(sc.hardware.nodes)))
    assert any(name in t for t in texts)
    texts = _drawn_texts(plots.pareto_figure([(name, 1.0, 2.0), ("b", 2.0, 1.0)],
                                             title=scenario))
    assert name in texts and any(t.startswith(f"{scenario}: ") for t in texts)
