"""The real ONNX model-zoo graphs the ``onnx`` package ships (weights stripped) import, read
back from their YAML, and solve; BVLC AlexNet is the zoo's ``alex_net`` where the two
architectures agree."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import onnx
import pytest

from nnsolve.formats.network_yaml import load_zoo, network_from_dict, network_to_dict
from nnsolve.formats.onnx import import_onnx, load_onnx
from nnsolve.formats.scenario_yaml import scenario_from_dict
from nnsolve.search.network_search import solve

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
IMPORTING = ["bvlc_alexnet", "zfnet512", "vgg19", "resnet50", "inception_v1", "inception_v2",
             "squeezenet", "densenet121", "shufflenet"]


@pytest.fixture(scope="module", params=IMPORTING)
def light(request):
    return request.param, load_onnx(LIGHT / f"light_{request.param}.onnx")


def test_imports_and_reads_back(light):
    name, net = light
    back = network_from_dict(network_to_dict(net), f"{name}.yaml")
    assert back.layers == net.layers and back.prevs == net.prevs
    assert back.cropped == net.cropped


def test_solves_on_one_node(light):
    _, net = light
    scenario = scenario_from_dict({"network": "alex_net", "batch": 1}, "s.yaml")
    result = solve(replace(scenario, network=net), method="analytical")
    assert [o.name for o in result.layers] == list(net.layers)
    assert all(o.result.energy > 0 for o in result.layers)


def test_solves_on_a_node_array(light):
    """On 4x4 nodes (hybrid partitioning), every layer gets a schedule."""
    _, net = light
    scenario = scenario_from_dict({"network": "alex_net", "batch": 1,
                                   "hardware": {"nodes": [4, 4], "memory": "3D"}}, "s.yaml")
    result = solve(replace(scenario, network=net), method="analytical")
    assert [o.name for o in result.layers] == list(net.layers)
    assert all(o.result.energy > 0 for o in result.layers)


def test_floor_mode_windows_crop_the_first_layers():
    """224x224 with an 11x11 stride-4 window and no pads: 54x54 outputs, the last input row
    and column unread."""
    net = load_onnx(LIGHT / "light_bvlc_alexnet.onnx")
    conv1 = net["n0_a"]
    assert (conv1.out_h, conv1.in_h, net.input.h) == (54, 223, 224)
    assert "n0_a" in net.cropped and "n4_a" not in net.cropped


def test_bvlc_alexnet_is_the_zoo_alexnet_but_for_its_fmap_sizes():
    """Same layers in the same order with the same channels, kernels, strides and
    connections; BVLC's unpadded conv1 gives 54x54 where the zoo's (nn_dataflow's, padded
    to 227) gives 55x55, so every fmap after it is one or two pixels smaller."""
    net, zoo = load_onnx(LIGHT / "light_bvlc_alexnet.onnx"), load_zoo("alex_net")
    assert len(net.layers) == len(zoo.layers)
    rename = dict(zip(net.layers, zoo.layers, strict=True))
    rename["input"] = "input"
    for ours, theirs in rename.items():
        if ours == "input":
            continue
        a, b = net[ours], zoo[theirs]
        assert (a.kind, a.in_channels, a.out_channels, a.kernel_h, a.stride_h) == \
               (b.kind, b.in_channels, b.out_channels, b.kernel_h, b.stride_h), theirs
        assert tuple(rename[p] for p in net.prevs[ours]) == zoo.prevs[theirs]
    sizes = [(net[o].out_h, zoo[t].out_h) for o, t in rename.items() if o != "input"]
    assert sizes[0] == (54, 55) and all(a <= b for a, b in sizes)


def test_shufflenet_channel_shuffles_fold(tmp_path):
    """ShuffleNet's first unit up to its first shuffle (n7-n9: Reshape to 5-D, Transpose,
    Reshape back) imports with no layer for the shuffle."""
    model = onnx.load(str(LIGHT / "light_shufflenet.onnx"), load_external_data=False)
    graph = model.graph
    last = [n.name for n in graph.node].index("n9")
    kept = list(graph.node[:last + 1])
    del graph.node[:]
    graph.node.extend(kept)
    del graph.output[:]
    graph.output.append(onnx.helper.make_tensor_value_info("r9", onnx.TensorProto.FLOAT, None))
    onnx.save(model, str(tmp_path / "head.onnx"))
    net, folded = import_onnx(tmp_path / "head.onnx", None)
    assert [n.rstrip("abcd").rstrip("_") for n in net.layers] == ["n0"] * 4 + ["n3"] * 4 + \
        ["n4"] * 4                      # n4 has group=4, so the stem splits to match
    assert folded["Reshape"] == 2 and folded["Transpose"] == 1


def test_shufflenet_imports_with_depthwise_layers_and_folded_shuffles():
    net = load_onnx(LIGHT / "light_shufflenet.onnx")
    kinds = {layer.kind for layer in net.layers.values()}
    assert "dwconv" in kinds and "conv" in kinds
