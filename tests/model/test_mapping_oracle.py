"""Row-stationary mapping equals nn_dataflow 2.1's MapStrategyEyeriss, and its two divergences.

Every distinct layer of the zoo on PE arrays 16x16, 12x14, 14x14, 8x8 and 13x15 at batch 1, 4
and 16: every descriptor field is compared for exact (bit-for-bit) equality.
"""

import itertools

import pytest

from nnsolve.formats.network_yaml import load_zoo, zoo_names
from nnsolve.model.dims import Data, Level
from nnsolve.model.layer import Layer
from nnsolve.model.mapping import ModelRules, map_layer
from tests import oracle

ARRAYS = [(16, 16), (12, 14), (14, 14), (8, 8), (13, 15)]
BATCHES = [1, 4, 16]
FIELDS = ("loopcnt", "usize_gbuf", "usize_regf", "unit_access", "unit_ops", "unit_time")
NN_DATAFLOW_RULES = ModelRules(eltwise_ifmaps="nn_dataflow")


def _zoo_layers():
    seen = {}
    for net_name in zoo_names():
        for name, layer in load_zoo(net_name).layers.items():
            if layer.kind != "dwconv":           # nn_dataflow has no depthwise layer
                seen.setdefault(layer, f"{net_name}/{name}")
    return seen


ZOO_LAYERS = _zoo_layers()


def _assert_same(ours, theirs, where):
    assert len(ours.candidates) == len(theirs), where
    for i, (a, t) in enumerate(zip(ours.candidates, theirs, strict=True)):
        for f in FIELDS:
            theirs_f = getattr(t, f)
            if isinstance(theirs_f, list):
                theirs_f = tuple(theirs_f)
            assert getattr(a, f) == theirs_f, (where, i, f)
        assert a.data_loops == tuple(dl.loops() for dl in t.data_loops), where


@pytest.mark.parametrize("pe_array", ARRAYS, ids=lambda a: f"{a[0]}x{a[1]}")
def test_every_zoo_layer_maps_as_nn_dataflow(pe_array):
    compared = crashed = 0
    for (layer, where), batch in itertools.product(ZOO_LAYERS.items(), BATCHES):
        ours = map_layer(layer, batch, pe_array, 1.0, NN_DATAFLOW_RULES)
        try:
            strategy, theirs = oracle.nlds(layer, batch, pe_array)
        except AssertionError as exc:
            # nn_dataflow aborts at utilisation <= 50%; nnsolve reports no valid mapping.
            assert "utilization < 50%" in str(exc), where
            assert ours.candidates == () and ours.utilization <= 0.5, where
            crashed += 1
            continue
        assert ours.utilization == strategy.util, where
        assert ours.fold == (strategy.fold.h, strategy.fold.w), where
        assert ours.repl == (strategy.repl.h, strategy.repl.w), where
        _assert_same(ours, theirs, f"{where} b{batch} {pe_array}")
        compared += len(theirs)
        if layer.kind != "eltwise":
            # The default rules differ from nn_dataflow only on element-wise layers.
            assert map_layer(layer, batch, pe_array).candidates == ours.candidates
    oracle.record("mapping: nested-loop descriptors (every field)", compared)
    oracle.record("mapping: utilisation <= 50% cases (nn_dataflow aborts)", crashed)
    # Most cases map; nn_dataflow crashes only on a few layers of the odd array.
    assert compared >= len(ZOO_LAYERS) * len(BATCHES) - crashed
    assert crashed <= len(ZOO_LAYERS) * len(BATCHES) // 10


@pytest.mark.parametrize("occupancy", [1.0, 0.75, 0.3])
def test_occupancy_scales_ops_and_regf_as_nn_dataflow(occupancy):
    layer = Layer.conv(256, 192, 13, 3)   # AlexNet conv3: replicated, two candidates
    strategy = oracle.nd.MapStrategyEyeriss(oracle.layer(layer), 16, occupancy,
                                            oracle.nd.PhyDim2(16, 16))
    theirs = list(strategy.gen_nested_loop_desc())
    _assert_same(map_layer(layer, 16, (16, 16), occupancy), theirs, "conv3")


def test_head_itcn_rule_scales_by_replication_size():
    layer = Layer.conv(256, 192, 13, 3)
    v21 = map_layer(layer, 16, (16, 16))
    head = map_layer(layer, 16, (16, 16), rules=ModelRules(itcn="head"))
    for a, b in zip(v21.candidates, head.candidates, strict=True):
        assert b.unit_access[Level.ITCN][Data.FIL] == a.unit_access[Level.ITCN][Data.FIL]
        ifms, ofms = a.repl_counts[Data.IFM], a.repl_counts[Data.OFM]
        assert b.unit_access[Level.ITCN][Data.IFM] == pytest.approx(
            a.unit_access[Level.ITCN][Data.IFM] * ofms)
        assert b.unit_access[Level.ITCN][Data.OFM] == pytest.approx(
            a.unit_access[Level.ITCN][Data.OFM] * ifms)
    # Spec §4.6: nld A of conv3 has ITCN v2.1 (576, 585, 2496) vs HEAD (576, 2925, 2496).
    assert v21.candidates[0].unit_access[Level.ITCN] == (576, 585, 2496)
    assert head.candidates[0].unit_access[Level.ITCN] == (576, 2925, 2496)


# -- deliberate divergences (docs/divergences.md) ------------------------------------------


def test_low_utilisation_is_no_valid_mapping_not_a_crash():
    layer = Layer.conv(64, 64, 9, 9)    # R = Ho = 9 on 16x16: utilisation 81/256
    with pytest.raises(AssertionError):
        oracle.nlds(layer, 4, (16, 16))
    mapping = map_layer(layer, 4, (16, 16))
    assert mapping.candidates == ()
    assert mapping.utilization == pytest.approx(81 / 256)
    assert "utilisation" in mapping.reason and "50%" in mapping.reason


@pytest.mark.parametrize("inputs", [1, 2, 3])
def test_eltwise_reads_all_its_inputs(inputs):
    layer = Layer.eltwise(256, 56, inputs)
    _, theirs = oracle.nlds(layer, 4, (16, 16))
    ours = map_layer(layer, 4, (16, 16))
    for a, t in zip(ours.candidates, theirs, strict=True):
        for level in (Level.DRAM, Level.GBUF, Level.ITCN):
            assert a.unit_access[level][Data.IFM] == pytest.approx(
                inputs * t.unit_access[level][Data.IFM], rel=1e-12)
            assert a.unit_access[level][Data.OFM] == t.unit_access[level][Data.OFM]
        assert a.usize_gbuf[Data.IFM] == inputs * t.usize_gbuf[Data.IFM]
        assert a.unit_access[Level.REGF] == t.unit_access[Level.REGF]
        assert (a.loopcnt, a.unit_ops, a.unit_time) == (t.loopcnt, t.unit_ops, t.unit_time)
        # nnsolve's ifmap traffic covers every input channel once; nn_dataflow's only 1/inputs.
        assert a.total_access(Level.DRAM, Data.IFM) == pytest.approx(layer.ifmap_words(4))
        assert t.total_access_at_of(0, 1) == pytest.approx(layer.ifmap_words(4) / inputs)
