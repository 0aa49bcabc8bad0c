"""Network YAML: round trips, derived fields, and a clear error for each kind of mistake."""

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nnsolve.errors import InputError
from nnsolve.formats.network_yaml import (
    load_network,
    load_zoo,
    network_from_dict,
    network_to_dict,
    zoo_names,
)
from nnsolve.model.layer import Layer
from nnsolve.model.network import INPUT, Fmap, Network


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_fast_path_reads_what_the_guarded_reader_reads(name):
    """Shipped networks are parsed by PyYAML's C loader; a user's file by the guarded one."""
    path = Path(__file__).resolve().parents[2] / "nets" / f"{name}.yaml"
    fast, guarded = load_zoo(name), load_network(path)
    assert (fast.name, fast.input, fast.external) == (guarded.name, guarded.input,
                                                      guarded.external)
    assert fast.layers == guarded.layers and fast.prevs == guarded.prevs


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_round_trips_through_yaml_form(name):
    net = load_zoo(name)
    again = network_from_dict(network_to_dict(net), "round-trip")
    assert again.layers == net.layers
    assert again.prevs == net.prevs
    assert again.external == net.external and again.input == net.input


def test_derived_fields():
    net = network_from_dict({
        "input": {"channels": 8, "size": [10, 12]},
        "layers": [
            {"name": "a", "type": "conv", "out_channels": 4, "out_size": [10, 12], "kernel": 3},
            {"name": "b", "type": "conv", "out_channels": 4, "out_size": [10, 12], "kernel": 1,
             "prevs": ["input"]},
            {"name": "sum", "type": "eltwise", "prevs": ["a", "b"]},
            {"name": "p", "type": "pool", "out_size": [5, 6], "kernel": 2},
            {"name": "f", "type": "fc", "out_channels": 7},
        ]}, "mem")
    assert net["a"].in_channels == 8
    assert net["sum"] == Layer.eltwise(4, (10, 12), 2)
    assert net["p"] == Layer.pool(4, (5, 6), 2)            # stride defaults to the window
    assert net["f"] == Layer.fc(4, 7, (5, 6))              # kernel = the input fmap
    assert net.prevs["p"] == ("sum",) and net.prevs["a"] == (INPUT,)
    assert net.nexts("a") == ("sum",)


def _net(layers, **top):
    doc = {"input": {"channels": 3, "size": 8}, "layers": layers, **top}
    return network_from_dict(doc, "net.yaml")


CONV = {"name": "c", "type": "conv", "out_channels": 4, "out_size": 8, "kernel": 1}


@pytest.mark.parametrize("layers, field, words", [
    ([{**CONV, "kernal": 3}], "layers[0] (c).kernal", "did you mean 'kernel'"),
    ([{**CONV, "type": "convolution"}], "layers[0] (c).type", "one of conv, fc, pool, eltwise"),
    ([{k: v for k, v in CONV.items() if k != "kernel"}], "layers[0] (c).kernel", "required"),
    ([{**CONV, "out_channels": -4}], "layers[0] (c).out_channels", "positive integer"),
    ([{**CONV, "out_channels": "many"}], "layers[0] (c).out_channels", "got 'many'"),
    ([{**CONV, "prevs": ["inptu"]}], "layers[0] (c).prevs", "did you mean 'input'"),
    ([{**CONV, "prevs": ["d"]}, {**CONV, "name": "d"}], "layers[0] (c).prevs", "earlier layer"),
    ([CONV, CONV], "layers[1] (c)", "already used"),
    ([{**CONV, "in_channels": 5}], "layers[0] (c).in_channels", "give 3 channels"),
    ([{**CONV, "out_size": 20}], "layers[0] (c)", "gives 8x8 fmaps"),
    ([{**CONV, "out_size": 3, "kernel": 3, "stride": 2}], "layers[0] (c)", "set crop: true"),
    ([{**CONV, "crop": "yes"}], "layers[0] (c).crop", "true or false"),
    ([{"name": "f", "type": "fc", "out_channels": 2, "crop": True}], "layers[0] (f).crop",
     "unknown key"),
    ([{**CONV, "kernel": [1, 2, 3]}], "layers[0] (c).kernel", "list [h, w]"),
    ([{"name": "e", "type": "eltwise", "inputs": 2}], "layers[0] (e).inputs", "split evenly"),
    # 8 + 4 channels split evenly into two inputs of 6, but no input is whole predecessors.
    ([{**CONV, "name": "a", "out_channels": 8}, {**CONV, "name": "b", "prevs": ["input"]},
      {"name": "e", "type": "eltwise", "prevs": ["a", "b"]}], "layers[2] (e)",
     "merges 2 inputs of 6 channels each, but its predecessors 'a' (8 channels), 'b' "
     "(4 channels) do not split into them"),
    ([{**CONV, "out_channels": 6, "groups": 2}], "layers[0] (c).groups",
     "does not divide the input channels (3, from the predecessors) and out_channels (6); "
     "allowed: a common divisor (1, 3)"),
    ([{**CONV, "groups": 0}], "layers[0] (c).groups", "positive integer"),
    ([{"name": "p", "type": "pool", "out_size": 8, "kernel": 1, "groups": 3}],
     "layers[0] (p).groups", "applies to conv layers only, not pool"),
    ([{"name": "d", "type": "dwconv", "out_size": 8, "kernel": 1, "groups": 3}],
     "layers[0] (d).groups", "a dwconv is depthwise already"),
    ([{"name": "f", "type": "fc", "out_channels": 3, "groups": 3}], "layers[0] (f).groups",
     "applies to conv layers only, not fc"),
    ([], "layers", "at least one layer"),
    ("conv", "layers", "must be a list"),
])
def test_mistakes_name_file_field_and_rule(layers, field, words):
    with pytest.raises(InputError) as info:
        _net(layers)
    assert info.value.source == "net.yaml"
    assert info.value.field == field
    assert words in info.value.message


def test_unknown_top_level_key_and_missing_input():
    with pytest.raises(InputError, match="did you mean 'layers'"):
        network_from_dict({"input": {"channels": 3, "size": 8}, "layer": []}, "n.yaml")
    with pytest.raises(InputError, match="input: required key is missing"):
        network_from_dict({"layers": [CONV]}, "n.yaml")


def test_external_inputs_are_named_predecessors():
    net = _net([{**CONV, "prevs": ["h0", "input"]}], external={"h0": {"channels": 5, "size": 8}})
    assert net["c"].in_channels == 8
    with pytest.raises(InputError, match="reserved"):
        _net([CONV], external={"input": {"channels": 5, "size": 8}})


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="network file not found"):
        load_network(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: {channels: 3\nlayers: [")
    with pytest.raises(InputError, match="invalid YAML: line"):
        load_network(bad)
    dup = tmp_path / "dup.yaml"
    dup.write_text("input: {channels: 3, size: 8}\ninput: {channels: 4, size: 8}\nlayers: []\n")
    with pytest.raises(InputError, match="'input' is given twice"):
        load_network(dup)
    code = tmp_path / "code.yaml"
    code.write_text("input: !!python/object/apply:os.system ['echo hi']\nlayers: []\n")
    with pytest.raises(InputError, match="invalid YAML"):
        load_network(code)


def test_a_larger_input_needs_crop():
    net = Network("n", Fmap(4, 8, 8))
    with pytest.raises(ValueError, match="set crop: true"):
        net.add("c", Layer.conv(4, 4, 3, 3, 2))
    net.add("c", Layer.conv(4, 4, 3, 3, 2), crop=True)
    assert net.cropped == {"c"}
    with pytest.raises(ValueError, match="at least 6x6"):
        Network("m", Fmap(4, 5, 5)).add("c", Layer.conv(4, 4, 3, 3, 2), crop=True)


def _merge(channels: list[int], inputs: int):
    """A network whose last layer merges convolutions of ``channels`` into ``inputs``."""
    net = Network("m", Fmap(3, 8, 8))
    names = []
    for i, c in enumerate(channels):
        names.append(f"c{i}")
        net.add(names[-1], Layer.conv(3, c, 8, 1), (INPUT,))
    net.add("e", Layer.eltwise(sum(channels) // inputs, 8, inputs), tuple(names))
    return net


def test_an_eltwise_input_may_be_several_whole_predecessors():
    """A Concat feeding an Add (the ONNX importer writes it so): [a, b] + c."""
    assert _merge([2, 2, 4], 2).prevs["e"] == ("c0", "c1", "c2")
    assert _merge([4, 4, 4], 3)["e"].inputs == 3
    with pytest.raises(ValueError, match=r"'c0' \(8 channels\), 'c1' \(4 channels\)"):
        _merge([8, 4], 2)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=6), st.integers(1, 4))
def test_eltwise_merges_are_accepted_exactly_when_inputs_are_whole_predecessors(channels,
                                                                                inputs):
    assume(sum(channels) % inputs == 0)
    width, groups, run = sum(channels) // inputs, 0, 0
    for c in channels:                    # consecutive predecessors fill one input at a time
        run += c
        if run == width:
            groups, run = groups + 1, 0
        elif run > width:
            break
    whole = groups == inputs and run == 0
    try:
        _merge(channels, inputs)
    except ValueError as exc:
        assert not whole and "do not split into them" in str(exc)
    else:
        assert whole
