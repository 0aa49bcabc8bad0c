"""Grouped convolution (``groups`` G on a conv layer, an extension beyond nn_dataflow): its
shape, counts, YAML form, and the NoC hops of its groups on a node array.

A grouped layer is G identical dense convolutions of in/G -> out/G channels that run one
after another with one schedule; the scheduled problem is one group (``one_group``), and
its score is repeated (``LayerResult.repeated``). The search-level cross-checks against the
split network are in tests/search/test_grouped_conv.py.
"""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnsolve.formats.network_yaml import network_from_dict, network_to_dict
from nnsolve.hardware.regions import memory_region, processing_region
from nnsolve.hardware.spec import Hardware
from nnsolve.heuristics.exhaustive import search_layer
from nnsolve.model.evaluate import LayerProblem, evaluate_layer
from nnsolve.model.layer import Layer
from nnsolve.model.layout import DataLayout, ifmap_frng
from nnsolve.model.mapping import map_layer
from nnsolve.model.noc import ifmap_hops
from nnsolve.model.partition import PartitionOptions, gen_partitions
from nnsolve.model.resources import LayerSite
from tests.strategies import UNIT

HW = Hardware((1, 1), (12, 14), 261, 55296)


def test_shape_counts_every_group():
    layer = Layer.conv(8, 12, 5, 3, groups=4)
    assert layer.one_group() == Layer.conv(2, 3, 5, 3)
    assert layer.ops(2) == 4 * Layer.conv(2, 3, 5, 3).ops(2) == 12 * 25 * 9 * 2 * 2
    assert layer.weight_words() == 4 * 2 * 3 * 9
    assert (layer.ifmap_words(), layer.ofmap_words()) == (8 * 49, 12 * 25)
    assert Layer.conv(8, 12, 5, 3).one_group() == Layer.conv(8, 12, 5, 3)
    with pytest.raises(ValueError, match="must divide the input channels"):
        Layer.conv(8, 12, 5, 3, groups=3)
    with pytest.raises(ValueError, match="conv layers only"):
        Layer("pool", 4, 4, 2, 2, 2, 2, 2, 2, groups=2)


def test_a_grouped_layer_is_only_ever_scheduled_one_group_at_a_time():
    layer = Layer.conv(8, 8, 4, 3, groups=2)
    with pytest.raises(ValueError, match="one group at a time"):
        LayerProblem.single_node(layer, 1, HW, UNIT)
    with pytest.raises(ValueError, match="one group at a time"):
        map_layer(layer, 1, (12, 14))


def test_groups_round_trip_through_the_yaml_form():
    doc = {"input": {"channels": 16, "size": 8},
           "layers": [{"name": "g", "type": "conv", "out_channels": 32, "out_size": 8,
                       "kernel": 3, "groups": 8},
                      {"name": "c", "type": "conv", "out_channels": 4, "out_size": 8,
                       "kernel": 1}]}
    net = network_from_dict(doc, "g.yaml")
    assert net["g"] == Layer.conv(16, 32, 8, 3, groups=8)
    rows = network_to_dict(net)["layers"]
    assert rows[0]["groups"] == 8 and "groups" not in rows[1]
    assert network_from_dict(network_to_dict(net), "again").layers == net.layers


def test_repeated_scales_every_count_and_keeps_the_schedule_fields():
    problem = LayerProblem.single_node(Layer.conv(3, 4, 4, 3), 2, HW, UNIT)
    best = search_layer(problem, "energy").best
    one = evaluate_layer(problem, best.schedule)
    three = one.repeated(3)
    assert (three.energy, three.time, three.ops) == (3 * one.energy, 3 * one.time, 3 * one.ops)
    assert three.breakdown == {k: 3 * v for k, v in one.breakdown.items()}
    assert three.accesses == {m: {d: 3 * v for d, v in per.items()}
                              for m, per in one.accesses.items()}
    assert (three.proc_time, three.bus_time, three.dram_time) == \
        (3 * one.proc_time, 3 * one.bus_time, 3 * one.dram_time)
    assert (three.fetch, three.gbuf_resident, three.size_gbuf, three.loopcnt) == \
        (one.fetch, one.gbuf_resident, one.size_gbuf, one.loopcnt)
    assert one.repeated(1) is one


def _shifted(layout: DataLayout, offset: int) -> DataLayout:
    """The layout seen from channel ``offset``: what one group starting there reads as its
    channels 0, 1, ... (the split of a range is shift-equivariant)."""
    frngs = tuple((b, (n0 - offset, n1 - offset), h, w) for b, (n0, n1), h, w in layout.frngs)
    return DataLayout(frngs, layout.regions, layout.parts)


@settings(max_examples=40, deadline=None)
@given(cg=st.integers(1, 4), mg=st.integers(1, 4), groups=st.integers(2, 6),
       nodes=st.sampled_from([(2, 2), (2, 3), (1, 4), (3, 3)]), batch=st.integers(1, 4),
       memory=st.sampled_from(["2D", "3D"]), forwarding=st.booleans(), data=st.data())
def test_group_ifmap_hops_are_the_mean_of_every_groups_own(cg, mg, groups, nodes, batch,
                                                          memory, forwarding, data):
    """The ifmap unit hops of a grouped site are the mean over its groups of the hops of
    each group fetching its own channels from where the producer left them: G times them
    is what the G groups fetch under one scheme."""
    unit = Layer.conv(cg, mg, 4, 3)
    region, mem = processing_region(nodes), memory_region(nodes, memory)
    options = PartitionOptions(hybrid=True, batch=True, ifmaps=True)
    producer = Layer.conv(4, groups * cg, 6, 1)
    stored = data.draw(st.sampled_from(gen_partitions(producer, batch, mem.dims, options)))
    layout = DataLayout.of(ifmap_frng(batch, groups * cg, 6, 6), mem, stored)
    scheme = data.draw(st.sampled_from(gen_partitions(unit, batch, nodes, options)))
    each = [ifmap_hops(unit, batch, region, scheme, _shifted(layout, g * cg), forwarding)
            for g in range(groups)]
    assert ifmap_hops(unit, batch, region, scheme, layout, forwarding, groups=groups) == \
        sum(each) / groups


def test_a_grouped_site_partitions_one_group_and_leaves_every_groups_ofmaps():
    nodes = (2, 2)
    layer = Layer.conv(8, 12, 4, 3, groups=4)
    region, mem = processing_region(nodes), memory_region(nodes, "2D")
    layout = DataLayout.of(ifmap_frng(2, 8, 6, 6), mem,
                           gen_partitions(Layer.conv(1, 8, 6, 1), 2, mem.dims,
                                          PartitionOptions())[0])
    site = LayerSite(layer, 2, Hardware(nodes, (4, 4), 32, 4096), UNIT, (False,) * 3, region,
                     mem, layout)
    assert site.unit == Layer.conv(2, 3, 4, 3) and site.groups == 4
    assert site.schemes == gen_partitions(site.unit, 2, nodes, site.partitions)
    scheme = site.schemes[-1]
    out = site.ofmap_layout(scheme)
    assert [fr[1] for fr in out.frngs] == [(3 * g, 3 * g + 3) for g in range(4)]
    assert set(out.parts) == set(site.group_ofmap_layout(scheme).parts)
    assert site.problem(scheme).layer.groups == 1
    assert math.isfinite(site.problem(scheme).env.unit_nhops[1])
