"""Scenario YAML: defaults, byte-to-word conversion, overrides, and one clear error per mistake."""

import math
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnsolve.errors import InputError
from nnsolve.formats.scenario_yaml import FIELDS, load_scenario

ROOT_DIR = Path(__file__).resolve().parents[2]

DESIGN_EXAMPLE = """\
name: eyeriss-isscc16-alexnet
network: alex_net
batch: 4
word_bits: 16
hardware:
  nodes: [1, 1]
  pe_array: [12, 14]
  regf_bytes: 522
  gbuf_bytes: 110592
  array_bus_width: inf
  dram_bandwidth: inf
  memory: 2D
costs:
  mac: 1.0
  dram: 200.0
  gbuf: 6.0
  itcn: 2.0
  regf: 1.0
  noc_hop: 0.0
  idle: 0.0
search:
  goal: energy
  bypass: [ifmap, ofmap, weight]
  solve_loopblocking: false
  partition: hybrid
  batch_partition: false
  ifmap_partition: false
  access_forwarding: false
  gbuf_sharing: false
  save_writeback: false
  interlayer: false
  interlayer_opt: true
  pipeline_time_overhead: inf
  pipeline_max_degree: inf
solver:
  method: auto
  time_limit_s: 60
  workers: 0
  beam_width: 1
"""


def _write(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_design_example_equals_the_defaults(tmp_path):
    full = load_scenario(_write(tmp_path, DESIGN_EXAMPLE))
    minimal = load_scenario(_write(tmp_path, "network: alex_net\n", "eyeriss.yaml"))
    assert full.name == "eyeriss-isscc16-alexnet" and minimal.name == "eyeriss"
    for part in ("hardware", "costs", "search", "solver", "batch"):
        assert getattr(full, part) == getattr(minimal, part), part
    hw = full.hardware
    # Bytes in YAML, words inside: 16-bit words.
    assert (hw.regf_words, hw.gbuf_words) == (261, 55296)
    assert math.isinf(hw.array_bus_width) and math.isinf(hw.dram_bandwidth)
    assert full.network.name == "AlexNet"
    assert full.search.bypass_mask == (True, True, True)


def test_word_conversion_follows_nn_dataflows_tool(tmp_path):
    sc = load_scenario(_write(tmp_path, """\
        network: mlp_s
        word_bits: 12
        hardware: {regf_bytes: 513, gbuf_bytes: 131073, array_bus_width: 64, dram_bandwidth: 3}
        """))
    # word bytes = ceil(12 / 8) = 2; bus words = bits // word_bits; DRAM words = bytes / 2.
    assert (sc.hardware.regf_words, sc.hardware.gbuf_words) == (256, 65536)
    assert sc.hardware.array_bus_width == 5 and sc.hardware.dram_bandwidth == 1.5


def test_overrides_apply_any_field(tmp_path):
    path = _write(tmp_path, "network: alex_net\n")
    sc = load_scenario(path, ["hardware.gbuf_bytes=65536", "hardware.nodes=[2, 4]",
                              "search.bypass=[]", "network=vgg_net"])
    assert sc.hardware.gbuf_words == 32768 and sc.hardware.nodes == (2, 4)
    assert sc.search.bypass == () and sc.network.name == "VGG"
    with pytest.raises(InputError, match=r"did you mean 'hardware\.gbuf_bytes'"):
        load_scenario(path, ["hardware.gbuf_byte=1"])
    with pytest.raises(InputError, match="expected KEY=VALUE"):
        load_scenario(path, ["batch"])


def test_network_given_as_a_path_relative_to_the_scenario(tmp_path):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "tiny.yaml").write_text(
        "name: Tiny\ninput: {channels: 3, size: 8}\n"
        "layers:\n  - {name: c, type: conv, out_channels: 4, out_size: 8, kernel: 1}\n")
    sc = load_scenario(_write(tmp_path, "network: nets/tiny.yaml\n"))
    assert sc.network.name == "Tiny"


@pytest.mark.parametrize("text, field, words", [
    ("network: alex_net\nhardwre: {}\n", "hardwre", "did you mean 'hardware'"),
    ("network: alex_net\nmodel: {min_pe_util: 0.3}\n", "model.min_pe_util",
     "did you mean 'min_pe_utilization'"),
    ("network: alex_net\nmodel: {min_pe_utilization: 1}\n", "model.min_pe_utilization",
     "must be below 1"),
    ("network: alex_net\nmodel: {eltwise_ifmaps: some}\n", "model.eltwise_ifmaps",
     "all, nn_dataflow"),
    ("network: alex_net\nhardware: {gbuf_byte: 8}\n", "hardware.gbuf_byte",
     "did you mean 'gbuf_bytes'"),
    ("network: alex_net\nbatch: four\n", "batch",
     "positive integer up to 1,048,576 (samples), got 'four'"),
    ("network: alex_net\nbatch: 2.5\n", "batch", "got 2.5"),
    ("network: alex_net\nbatch: true\n", "batch", "got true"),
    ("network: alex_net\nhardware: {regf_bytes: -8}\n", "hardware.regf_bytes", "got -8"),
    ("network: alex_net\nhardware: {regf_bytes: 1}\n", "hardware.regf_bytes", "hold no 16-bit"),
    ("network: alex_net\nhardware: {nodes: [2, 0]}\n", "hardware.nodes[1]", "positive"),
    ("network: alex_net\nhardware: {memory: 4D}\n", "hardware.memory", "one of 2D, 3D"),
    ("network: alex_net\nhardware: {dram_bandwidth: 0}\n", "hardware.dram_bandwidth",
     "positive number"),
    ("network: alex_net\nhardware: {array_bus_width: 8}\n", "hardware.array_bus_width",
     "no 16-bit word"),
    ("network: alex_net\ncosts: {dram: -1}\n", "costs.dram",
     "must be 0 or a number from 1e-100 to 1e+100 (cost units), got -1"),
    # Energies at 1e308 were inf (NaN in the exact models' scaling: a traceback), EDP at
    # 1e300; at 1e-320 they lost digits.
    ("network: alex_net\ncosts: {dram: 1e308}\n", "costs.dram", "got 1e+308"),
    ("network: alex_net\ncosts: {idle: 1.0e+101}\n", "costs.idle", "got 1e+101"),
    ("network: alex_net\ncosts: {mac: 1e-320}\n", "costs.mac", "got 9.99989e-321"),
    (f"network: alex_net\ncosts: {{gbuf: {10**400}}}\n", "costs.gbuf",
     "got an integer of about 400 digits"),
    ("network: alex_net\nhardware: {dram_bandwidth: 1e20}\n", "hardware.dram_bandwidth",
     "a positive number up to 1e+12 (bytes per cycle) or inf, got 1e+20"),
    ("network: alex_net\nhardware: {array_bus_width: 1e300}\n", "hardware.array_bus_width",
     "a number from 1 to 1e+12 (bits per cycle) or inf"),
    ("network: alex_net\ncosts: {mac: inf}\n", "costs.mac", "got inf"),
    ("network: alex_net\ncosts: {dram: 1.0e+300}\n", "costs.dram", "to 1e+100 (cost units)"),
    ("network: alex_net\ncosts: {idle: " + "9" * 400 + "}\n", "costs.idle",
     "got an integer of about 400 digits"),
    ("network: alex_net\nbatch: 1048576\nhardware: {nodes: 1024}\n", "batch",
     "layer conv1_a at batch 1048576: its NoC word-hops on 1024x1024 nodes"),
    ("network: alex_net\nsearch: {goal: power}\n", "search.goal", "energy, delay, edp"),
    ("network: alex_net\nsearch: {bypass: [ifmaps]}\n", "search.bypass[0]",
     "did you mean 'ifmap'"),
    ("network: alex_net\nsearch: {bypass: [ifmap, ifmap]}\n", "search.bypass", "twice"),
    ("network: alex_net\nsearch: {ifmap_partition: true, partition: naive}\n",
     "search.ifmap_partition", "hybrid"),
    ("network: alex_net\nsolver: {method: gurobi}\n", "solver.method", "cpsat, milp"),
    ("network: alex_net\nsolver: {time_limit_s: 0}\n", "solver.time_limit_s", "positive"),
    ("network: alex_net\nsolver: 5\n", "solver", "must be a mapping"),
    ("network: alex_net\nsolver: {workers: 100000}\n", "solver.workers",
     "an integer from 0 to 256 (processes), got 100000"),
    ("network: alex_net\nsolver: {threads: 100000}\n", "solver.threads",
     "an integer from 0 to 256 (threads), got 100000"),
    ("network: alex_net\nsolver: {workers: -1}\n", "solver.workers", "got -1"),
    ("batch: 4\n", "network", "required"),
    ("network: alexnet\n", "network", "did you mean 'alex_net'"),
    ("network: missing/net.yaml\n", "network", "network file 'missing/net.yaml' not found"),
    ("- network: alex_net\n", None, "the top level must be a mapping"),
])
def test_mistakes_name_file_field_and_rule(tmp_path, text, field, words):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_scenario(path)
    if field is not None:
        assert info.value.source == str(path)
        assert info.value.field == field
    assert words in str(info.value)


HUGE_NET = """\
name: huge
input: {channels: 1000000, size: 60000}
layers:
  - {name: conv1, type: conv, out_channels: 1000000, out_size: 60000, kernel: 1}
"""


def test_a_layer_beyond_the_exact_range_is_refused_when_loading(tmp_path):
    """Issue 14: within every per-dimension limit, but its cycle count (1.7e20) is past
    int64, which wrapped it to 5.5e18 (static energy and EDP wrong); now refused, naming
    the layer, before any solve."""
    (tmp_path / "huge.yaml").write_text(HUGE_NET)
    path = _write(tmp_path, "network: huge.yaml\nbatch: 3\nhardware: {pe_array: [7, 9]}\n")
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert info.value.field == "network"
    assert "layer conv1 at batch 3: its processing time would reach 1.72e+20 cycles" in \
        str(info.value)
    small = HUGE_NET.replace("60000", "600")
    (tmp_path / "huge.yaml").write_text(small)
    assert load_scenario(path).network.layers["conv1"].out_h == 600
    with pytest.raises(InputError) as info:     # the layer fits; its batch does not
        load_scenario(path, ["batch=1048576"])
    assert info.value.field == "batch"


def test_every_field_is_documented():
    for f in FIELDS:
        assert f.doc and f.doc.endswith("."), f.key


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT_DIR))
                                        for p in (ROOT_DIR / "configs").rglob("*.yaml")
                                        if "sweeps" not in p.parts))   # test_sweep.py
def test_every_shipped_scenario_loads(path):
    sc = load_scenario(ROOT_DIR / path)
    assert sc.network.layers
    if "tangram_pipeline" in path:
        assert sc.search.interlayer and sc.search.save_writeback and sc.search.gbuf_sharing


def test_the_most_workers_allowed_solve():
    """solver.workers: 100000 reached CP-SAT, which refuses more than 10,000 threads (and
    an IndexError hid its reason); the loader's limit is a thread count CP-SAT runs."""
    from nnsolve.formats.scenario_yaml import MAX_WORKERS
    from nnsolve.formulations.loop_blocking import build_cpsat
    from nnsolve.hardware.spec import Hardware
    from nnsolve.model.evaluate import LayerProblem
    from nnsolve.model.layer import Layer
    from tests.strategies import UNIT

    problem = LayerProblem.single_node(Layer.conv(8, 16, 8, 3), 4,
                                       Hardware((1, 1), (8, 8), 64, 4096), UNIT, (True,) * 3)
    assert build_cpsat(problem).solve(workers=MAX_WORKERS).status == "optimal"


# -- numeric limits: results stay finite and exact at the loader's extremes ------------------

_NET = ("name: tiny\ninput: {channels: 8, size: 10}\nlayers:\n"
        "  - {name: c1, type: conv, out_channels: 16, out_size: 8, kernel: 3}\n"
        "  - {name: p1, type: pool, out_size: 4, kernel: 2}\n")


def _solve_tiny(tmp_path, costs, method, goal="edp", hardware=""):
    from nnsolve.formats.files import non_finite
    from nnsolve.formats.result_json import result_document
    from nnsolve.formats.scenario_yaml import scenario_from_dict
    from nnsolve.search.network_search import solve

    (tmp_path / "net.yaml").write_text(_NET)
    doc = {"network": "net.yaml", "batch": 2, "costs": costs, "search": {"goal": goal},
           "hardware": {"pe_array": [8, 8], "regf_bytes": 512, "gbuf_bytes": 65536,
                        **(hardware or {})}}
    scenario = scenario_from_dict(doc, "s.yaml", base_dir=tmp_path)
    result = solve(scenario, method)
    assert non_finite(result_document(result, scenario)) is None
    return result


@pytest.mark.parametrize("method", ["cpsat", "milp", "exhaustive", "analytical"])
def test_costs_at_the_limits_scale_the_results_exactly(tmp_path, method):
    """Energies are linear in the costs: at 1e100 and 1e-100 x the unit costs every method
    returns the same schedules, and energy and EDP scaled by the factor (cpsat could not
    certify costs of 1e-30, milp timed out; at 1e300 EDP was inf, at 1e308 a traceback)."""
    from nnsolve.formats.scenario_yaml import MAX_COST, MIN_COST

    unit = {"mac": 1, "dram": 200, "gbuf": 6, "itcn": 2, "regf": 1, "noc_hop": 0, "idle": 3}
    ref = _solve_tiny(tmp_path, unit, method)
    for factor in (MAX_COST / 200, MIN_COST):
        scaled = _solve_tiny(tmp_path, {k: v * factor for k, v in unit.items()}, method)
        assert [lo.schedule for lo in scaled.layers] == [lo.schedule for lo in ref.layers]
        assert scaled.total.energy == pytest.approx(ref.total.energy * factor, rel=1e-12)
        assert scaled.total.edp == pytest.approx(ref.total.edp * factor, rel=1e-12)
        assert scaled.status == ref.status


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["mac", "dram", "gbuf", "itcn", "regf", "noc_hop",
                                        "idle"]),
                       st.one_of(st.just(0.0), st.floats(-100, 100).map(lambda e: 10.0 ** e)),
                       min_size=1),
       st.sampled_from([{}, {"dram_bandwidth": 1e-3}, {"dram_bandwidth": 1e12},
                        {"array_bus_width": 16}, {"array_bus_width": 1e12}]),
       st.sampled_from(["energy", "delay", "edp"]))
def test_any_accepted_costs_and_rates_give_finite_results(tmp_path_factory, costs, hardware,
                                                          goal):
    result = _solve_tiny(tmp_path_factory.mktemp("c"), costs, "analytical", goal, hardware)
    assert all(math.isfinite(v) for v in (result.total.energy, result.total.time,
                                          result.total.edp))
