"""The shipped MobileNets (beyond nn_dataflow's zoo) against their papers: layer structure,
multiply-adds and parameters (Howard et al. 2017, Table 1 and "569 million mult-adds, 4.2
million parameters"; Sandler et al. 2018, Tables 2 and 4: 300 million, 3.4 million)."""

import pytest

from nnsolve.formats.network_yaml import load_zoo
from nnsolve.model.network import INPUT


def _macs(net) -> int:
    return sum(layer.ops() for layer in net.layers.values() if layer.has_weights)


def _kinds(net) -> dict[str, int]:
    out: dict[str, int] = {}
    for layer in net.layers.values():
        out[layer.kind] = out.get(layer.kind, 0) + 1
    return out


def test_mobilenet_v1():
    net = load_zoo("mobilenet_v1")
    assert _kinds(net) == {"conv": 14, "dwconv": 13, "pool": 1, "fc": 1}
    assert _macs(net) == pytest.approx(569e6, rel=2e-3)
    assert net.total_weights() == pytest.approx(4.2e6, rel=5e-3)
    # Every depthwise layer is 3x3 and followed by its 1x1 pointwise layer.
    names = list(net.layers)
    for i, name in enumerate(names):
        layer = net.layers[name]
        if layer.kind == "dwconv":
            point = net.layers[names[i + 1]]
            assert (layer.kernel_h, layer.kernel_w) == (3, 3)
            assert point.kind == "conv" and point.kernel_h == 1
            assert point.in_channels == layer.out_channels
    assert net.fmap("conv6_sep") == (1024, 7, 7) and net.fmap("fc7") == (1000, 1, 1)


def test_mobilenet_v2():
    net = load_zoo("mobilenet_v2")
    kinds = _kinds(net)
    # 17 bottlenecks (16 with an expansion layer), 10 residual adds (Table 2: n - 1 per row
    # whose input and output agree), stem, last 1x1 convolution, pooling and classifier.
    assert kinds == {"conv": 1 + 16 + 17 + 1, "dwconv": 17, "eltwise": 10, "pool": 1, "fc": 1}
    assert _macs(net) == pytest.approx(300e6, rel=3e-3)
    assert net.total_weights() == pytest.approx(3.4e6, rel=3e-2)
    for name, layer in net.layers.items():
        if layer.kind == "eltwise":
            project, shortcut = net.prevs[name]
            assert project.endswith("_project")
            assert net.fmap(project) == net.fmap(shortcut)
    assert net.prevs["conv1"] == (INPUT,)
    assert net.fmap("conv2") == (1280, 7, 7)
