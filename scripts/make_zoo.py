"""Write nets/*.yaml: the 13 networks of nn_dataflow's zoo, with its network and layer names,
and two networks beyond it with depthwise convolutions (MobileNet v1 and v2).

The architectures are built here from their published parameters (layer tables of AlexNet,
ZFNet, VGG-16/19, GoogLeNet, ResNet-50/152, the MLPs and the LSTMs); tests/model/
test_zoo_oracle.py checks every layer against nn_dataflow 2.1's own definitions. The
MobileNets follow Table 1 of Howard et al. 2017 and Table 2 of Sandler et al. 2018
(nn_dataflow has no depthwise layer; tests/model/test_mobilenets.py checks them against the
papers' multiply-add and parameter counts).

Run from the repository root:  python scripts/make_zoo.py
"""

from __future__ import annotations

from pathlib import Path

from nnsolve.formats.network_yaml import network_yaml
from nnsolve.model.layer import Layer
from nnsolve.model.network import INPUT, Fmap, Network

conv, fc, pool, eltwise = Layer.conv, Layer.fc, Layer.pool, Layer.eltwise
dwconv = Layer.dwconv


def alex_net() -> Network:
    net = Network("AlexNet", Fmap(3, 224, 224))
    # Two towers (_a, _b), as in the original two-GPU model.
    for t in "ab":
        net.add(f"conv1_{t}", conv(3, 48, 55, 11, 4), (INPUT,))
    for t in "ab":
        net.add(f"pool1_{t}", pool(48, 27, 3, 2), (f"conv1_{t}",))
    for t in "ab":
        net.add(f"conv2_{t}", conv(48, 128, 27, 5), (f"pool1_{t}",))
    for t in "ab":
        net.add(f"pool2_{t}", pool(128, 13, 3, 2), (f"conv2_{t}",))
    for t in "ab":
        net.add(f"conv3_{t}", conv(256, 192, 13, 3), ("pool2_a", "pool2_b"))
    for t in "ab":
        net.add(f"conv4_{t}", conv(192, 192, 13, 3), (f"conv3_{t}",))
    for t in "ab":
        net.add(f"conv5_{t}", conv(192, 128, 13, 3), (f"conv4_{t}",))
    for t in "ab":
        net.add(f"pool3_{t}", pool(128, 6, 3, 2), (f"conv5_{t}",))
    net.add("fc1", fc(256, 4096, 6), ("pool3_a", "pool3_b"))
    net.add("fc2", fc(4096, 4096))
    net.add("fc3", fc(4096, 1000))
    return net


def zfnet() -> Network:
    net = Network("ZFNet", Fmap(3, 224, 224))
    net.add("conv1", conv(3, 96, 110, 7, 2))
    net.add("pool1", pool(96, 55, 3, 2))
    net.add("conv2", conv(96, 256, 26, 5, 2))
    net.add("pool2", pool(256, 13, 3, 2))
    net.add("conv3", conv(256, 512, 13, 3))
    net.add("conv4", conv(512, 1024, 13, 3))
    net.add("conv5", conv(1024, 512, 13, 3))
    net.add("pool3", pool(512, 6, 3, 2))
    net.add("fc1", fc(512, 4096, 6))
    net.add("fc2", fc(4096, 4096))
    net.add("fc3", fc(4096, 1000))
    return net


def _vgg(name: str, convs_per_stage: tuple[int, ...]) -> Network:
    net = Network(name, Fmap(3, 224, 224))
    channels, size, n = 3, 224, 0
    widths = (64, 128, 256, 512, 512)
    for stage, (width, count) in enumerate(zip(widths, convs_per_stage, strict=True), 1):
        for _ in range(count):
            n += 1
            net.add(f"conv{n}", conv(channels, width, size, 3))
            channels = width
        size //= 2
        net.add(f"pool{stage}", pool(channels, size, 2))
    net.add("fc1", fc(512, 4096, 7))
    net.add("fc2", fc(4096, 4096))
    net.add("fc3", fc(4096, 1000))
    return net


def googlenet() -> Network:
    net = Network("GoogLeNet", Fmap(3, 224, 224))
    net.add("conv1", conv(3, 64, 112, 7, 2))
    net.add("pool1", pool(64, 56, 3, 2))
    net.add("conv2_3x3_reduce", conv(64, 64, 56, 1))
    net.add("conv2_3x3", conv(64, 192, 56, 3))
    net.add("pool2", pool(192, 28, 3, 2))

    def inception(tag, size, c_in, n1, n3r, n3, n5r, n5, npool, prevs):
        p = f"inception_{tag}_"
        net.add(p + "1x1", conv(c_in, n1, size, 1), prevs)
        net.add(p + "3x3_reduce", conv(c_in, n3r, size, 1), prevs)
        net.add(p + "3x3", conv(n3r, n3, size, 3))
        net.add(p + "5x5_reduce", conv(c_in, n5r, size, 1), prevs)
        net.add(p + "5x5", conv(n5r, n5, size, 5))
        # The branch's 3x3 max pooling is left out, as in nn_dataflow.
        net.add(p + "pool_proj", conv(c_in, npool, size, 1), prevs)
        return tuple(p + s for s in ("1x1", "3x3", "5x5", "pool_proj"))

    out = inception("3a", 28, 192, 64, 96, 128, 16, 32, 32, ("pool2",))
    out = inception("3b", 28, 256, 128, 128, 192, 32, 96, 64, out)
    net.add("pool3", pool(480, 14, 3, 2), out)
    out = inception("4a", 14, 480, 192, 96, 208, 16, 48, 64, ("pool3",))
    out = inception("4b", 14, 512, 160, 112, 224, 24, 64, 64, out)
    out = inception("4c", 14, 512, 128, 128, 256, 24, 64, 64, out)
    out = inception("4d", 14, 512, 112, 144, 288, 32, 64, 64, out)
    out = inception("4e", 14, 528, 256, 160, 320, 32, 128, 128, out)
    net.add("pool4", pool(832, 7, 3, 2), out)
    out = inception("5a", 7, 832, 256, 160, 320, 32, 128, 128, ("pool4",))
    out = inception("5b", 7, 832, 384, 192, 384, 48, 128, 128, out)
    net.add("pool5", pool(1024, 1, 7), out)
    net.add("fc", fc(1024, 1000))
    return net


def _resnet(blocks: tuple[int, int, int, int]) -> Network:
    net = Network("ResNet", Fmap(3, 224, 224))
    net.add("conv1", conv(3, 64, 112, 7, 2))
    net.add("pool1", pool(64, 56, 3, 2))
    shortcut, c_in = "pool1", 64
    stages = zip((56, 28, 14, 7), (64, 128, 256, 512), blocks, strict=True)
    for stage, (size, m, n) in enumerate(stages, 2):
        stride = 1 if stage == 2 else 2
        for i in range(n):
            first = i == 0
            net.add(f"conv{stage}_{i}_a", conv(c_in if first else 4 * m, m, size, 1,
                                               stride if first else 1))
            net.add(f"conv{stage}_{i}_b", conv(m, m, size, 3))
            net.add(f"conv{stage}_{i}_c", conv(m, 4 * m, size, 1))
            if first:
                net.add(f"conv{stage}_br", conv(c_in, 4 * m, size, 1, stride), (shortcut,))
                shortcut = f"conv{stage}_br"
            net.add(f"conv{stage}_{i}_res", eltwise(4 * m, size, 2),
                    (shortcut, f"conv{stage}_{i}_c"))
            shortcut = f"conv{stage}_{i}_res"
        c_in = 4 * m
    net.add("pool5", pool(2048, 1, 7))
    net.add("fc", fc(2048, 1000))
    return net


def _mlp(name: str, widths: tuple[int, ...]) -> Network:
    net = Network(name, Fmap(784, 1, 1))
    previous = 784
    for i, width in enumerate(widths, 1):
        net.add(f"fc{i}", fc(previous, width))
        previous = width
    return net


def _lstm_cell(net: Network, cell: str, size: int, x: str) -> str:
    """One LSTM cell with its own initial states; returns the name of its h output."""
    c_init, h_init = f"{cell}_cinit", f"{cell}_hinit"
    net.external[c_init] = Fmap(size, 1, 1)
    net.external[h_init] = Fmap(size, 1, 1)
    for gate in ("cand", "igate", "fgate", "ogate"):
        net.add(f"{cell}_{gate}", fc(2 * size, size), (h_init, x))
    net.add(f"{cell}_cout_f", eltwise(size, 1, 2), (c_init, f"{cell}_fgate"))
    net.add(f"{cell}_cout_i", eltwise(size, 1, 2), (f"{cell}_cand", f"{cell}_igate"))
    net.add(f"{cell}_cout", eltwise(size, 1, 2), (f"{cell}_cout_i", f"{cell}_cout_f"))
    net.add(f"{cell}_hout", eltwise(size, 1, 2), (f"{cell}_cout", f"{cell}_ogate"))
    return f"{cell}_hout"


def lstm_phoneme() -> Network:
    net = Network("PHONEME", Fmap(26, 1, 1))
    net.add("We", fc(26, 140), (INPUT,))
    h = _lstm_cell(net, "cell", 140, "We")
    net.add("Wd", fc(140, 61), (h,))
    return net


def lstm_showtell() -> Network:
    net = Network("ShowTell", Fmap(512, 1, 1))
    h = _lstm_cell(net, "cell", 512, INPUT)
    net.add("Wd", eltwise(512, 1, 1), (h,))
    return net


def lstm_gnmt() -> Network:
    net = Network("GNMT", Fmap(1000, 1, 1))
    x = INPUT
    for k in range(4):
        x = _lstm_cell(net, f"cell_l{k}", 1000, x)
    net.add("Wd", eltwise(1000, 1, 1), (x,))
    return net


ZOO = {
    "alex_net": alex_net,
    "zfnet": zfnet,
    "vgg_net": lambda: _vgg("VGG", (2, 2, 3, 3, 3)),
    "vgg19_net": lambda: _vgg("VGG19", (2, 2, 4, 4, 4)),
    "googlenet": googlenet,
    "resnet50": lambda: _resnet((3, 4, 6, 3)),
    "resnet152": lambda: _resnet((3, 8, 36, 3)),
    "mlp_l": lambda: _mlp("MLP-L", (1500, 1000, 500, 10)),
    "mlp_m": lambda: _mlp("MLP-M", (1000, 500, 250, 10)),
    "mlp_s": lambda: _mlp("MLP-S", (500, 250, 10)),
    "lstm_phoneme": lstm_phoneme,
    "lstm_showtell": lstm_showtell,
    "lstm_gnmt": lstm_gnmt,
}


def mobilenet_v1() -> Network:
    """MobileNet (width 1.0, 224x224), Howard et al. 2017, Table 1: a 3x3 convolution, 13
    depthwise-separable blocks (3x3 depthwise, then 1x1 pointwise), average pooling, FC.
    Layer names follow the authors' Caffe release (conv2_1/dw -> conv2_1_dw). Table 1 gives
    the 13th depthwise layer stride 2 on a 7x7 input with a 7x7 output; it is stride 1, as in
    the released model."""
    net = Network("MobileNet-v1", Fmap(3, 224, 224))
    net.add("conv1", conv(3, 32, 112, 3, 2))
    # (name, input channels, output channels, output size, depthwise stride)
    blocks = [("conv2_1", 32, 64, 112, 1), ("conv2_2", 64, 128, 56, 2),
              ("conv3_1", 128, 128, 56, 1), ("conv3_2", 128, 256, 28, 2),
              ("conv4_1", 256, 256, 28, 1), ("conv4_2", 256, 512, 14, 2),
              *((f"conv5_{i}", 512, 512, 14, 1) for i in range(1, 6)),
              ("conv5_6", 512, 1024, 7, 2), ("conv6", 1024, 1024, 7, 1)]
    for name, c_in, c_out, size, stride in blocks:
        net.add(f"{name}_dw", dwconv(c_in, size, 3, stride))
        net.add(f"{name}_sep", conv(c_in, c_out, size, 1))
    net.add("pool6", pool(1024, 1, 7))
    net.add("fc7", fc(1024, 1000))
    return net


def mobilenet_v2() -> Network:
    """MobileNetV2 (width 1.0, 224x224), Sandler et al. 2018, Table 2: a 3x3 convolution, 17
    inverted-residual bottlenecks (Table 1: 1x1 expansion by t, 3x3 depthwise of stride s, 1x1
    linear projection; a residual add when the input and output shapes agree), a 1x1
    convolution to 1280 channels, average pooling and the classifier (a 1x1 convolution on a
    1x1 fmap: an FC layer). The first bottleneck (t = 1) has no expansion layer, as in the
    authors' release."""
    net = Network("MobileNet-v2", Fmap(3, 224, 224))
    net.add("conv1", conv(3, 32, 112, 3, 2))
    # Table 2: expansion t, output channels c, repeats n, first stride s.
    rows = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1)]
    c_in, size, block = 32, 112, 0
    for t, c, n, s in rows:
        for i in range(n):
            block += 1
            stride = s if i == 0 else 1
            out = size // stride
            tag, src = f"block{block}", next(reversed(net.layers))
            hidden = c_in * t
            if t != 1:
                net.add(f"{tag}_expand", conv(c_in, hidden, size, 1))
            net.add(f"{tag}_dw", dwconv(hidden, out, 3, stride))
            net.add(f"{tag}_project", conv(hidden, c, out, 1))
            if stride == 1 and c_in == c:
                net.add(f"{tag}_add", eltwise(c, out, 2), (f"{tag}_project", src))
            c_in, size = c, out
    net.add("conv2", conv(c_in, 1280, size, 1))
    net.add("pool", pool(1280, 1, size))
    net.add("fc", fc(1280, 1000))
    return net


#: Networks beyond nn_dataflow's zoo, with where they come from.
EXTENSIONS = {
    "mobilenet_v1": (mobilenet_v1, "Howard et al. 2017 (arXiv:1704.04861), Table 1"),
    "mobilenet_v2": (mobilenet_v2, "Sandler et al. 2018 (CVPR), Table 2"),
}


def to_yaml(net: Network, module: str, source: str | None = None) -> str:
    """Network YAML with one flow-style line per layer."""
    first = (f"{net.name}: nn_dataflow's '{module}' network, same layer names."
             if source is None else f"{net.name}: from {source}; not in nn_dataflow's zoo.")
    return network_yaml(net, [
        first,
        f"{len(net)} layers, {net.total_ops():,} ops and {net.total_weights():,} weights per "
        "sample."])


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "nets"
    for module, build in ZOO.items():
        (out / f"{module}.yaml").write_text(to_yaml(build(), module))
        print(f"wrote nets/{module}.yaml")
    for module, (build, source) in EXTENSIONS.items():
        (out / f"{module}.yaml").write_text(to_yaml(build(), module, source))
        print(f"wrote nets/{module}.yaml")


if __name__ == "__main__":
    main()
