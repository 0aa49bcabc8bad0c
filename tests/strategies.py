"""Hypothesis strategies shared by the property tests: small random layers on small nodes."""

import math

from hypothesis import assume
from hypothesis import strategies as st

from nnsolve.hardware.spec import Costs
from nnsolve.model.evaluate import BlockingEnv, LayerProblem
from nnsolve.model.layer import Layer

UNIT = Costs(1, 200, 6, 2, 1, 0, 0)
PICO = Costs(2e-12, 460e-12, 15e-12, 4e-12, 1e-12, 0, 1.5e-10)
STATIC = Costs(1, 200, 6, 2, 1, 3, 40)


@st.composite
def layers(draw, kinds=("conv", "conv", "conv", "fc", "pool", "eltwise")):
    """A small CONV, FC, pooling, element-wise or (when asked for) depthwise layer."""
    kind = draw(st.sampled_from(kinds))
    out = draw(st.integers(1, 8))
    if kind == "conv":
        return Layer.conv(draw(st.integers(1, 12)), draw(st.integers(1, 12)), out,
                          draw(st.integers(1, 4)), draw(st.integers(1, 2)))
    if kind == "fc":
        return Layer.fc(draw(st.integers(1, 32)), draw(st.integers(1, 32)),
                        draw(st.integers(1, 3)))
    if kind == "pool":
        return Layer.pool(draw(st.integers(1, 16)), out, draw(st.integers(1, 3)))
    if kind == "dwconv":
        return Layer.dwconv(draw(st.integers(1, 24)), out, draw(st.integers(1, 4)),
                            draw(st.integers(1, 2)))
    return Layer.eltwise(draw(st.integers(1, 16)), out, draw(st.integers(1, 3)))


@st.composite
def layer_problems(draw, kinds=("conv", "conv", "conv", "fc", "pool", "eltwise"),
                   costs=(UNIT, UNIT, PICO, STATIC)):
    """A small layer on a small node: random capacities, bypass, bandwidths and costs."""
    layer = draw(layers(kinds))
    env = BlockingEnv(
        regf_words=draw(st.sampled_from([4, 8, 16, 32, 64])),
        gbuf_words=draw(st.sampled_from([64, 256, 1024, 4096, 65536])),
        bypass=tuple(draw(st.booleans()) for _ in range(3)),
        costs=draw(st.sampled_from(costs)),
        array_bus_width=draw(st.sampled_from([math.inf, math.inf, 1, 3])),
        dram_bandwidth=draw(st.sampled_from([math.inf, math.inf, 0.5, 4.0])))
    problem = LayerProblem(layer, draw(st.sampled_from([1, 2, 3, 4, 6, 8])),
                           (draw(st.integers(3, 8)), draw(st.integers(3, 8))), env)
    assume(problem.mapping.candidates)
    return problem


GOALS = st.sampled_from(["energy", "energy", "delay", "edp"])


NOC = Costs(1, 200, 6, 2, 1, 10, 0)


@st.composite
def layer_sites(draw, kinds=("conv", "conv", "conv", "fc", "pool", "eltwise"),
                sharing=(False,)):
    """A small layer on a small node array (2D or 3D memory), its ifmaps left in DRAM by a
    random producer scheme, with random partitioning options."""
    from nnsolve.hardware.spec import Hardware
    from nnsolve.model.layout import DataLayout, ifmap_frng
    from nnsolve.model.partition import PartitionOptions, gen_partitions
    from nnsolve.model.resources import LayerSite, SharingOptions, chip_regions

    layer = draw(layers(kinds))
    batch = draw(st.sampled_from([1, 2, 4]))
    nodes = draw(st.sampled_from([(1, 2), (2, 2), (2, 3), (3, 2)]))
    hw = Hardware(nodes, (draw(st.integers(3, 6)), draw(st.integers(3, 6))),
                  draw(st.sampled_from([8, 16, 32, 64])),
                  draw(st.sampled_from([64, 256, 1024, 4096])),
                  memory=draw(st.sampled_from(["2D", "3D"])),
                  dram_bandwidth=draw(st.sampled_from([math.inf, math.inf, 4.0])))
    proc, mem = chip_regions(hw)
    fake = Layer.conv(layer.in_channels, layer.in_channels, (layer.in_h, layer.in_w), 1)
    producer = draw(st.sampled_from(gen_partitions(
        fake, batch, (draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2]))),
        PartitionOptions(batch=True))))
    layout = DataLayout.of(ifmap_frng(batch, layer.in_channels, layer.in_h, layer.in_w), mem,
                           producer)
    hybrid = draw(st.booleans())
    options = PartitionOptions(hybrid, draw(st.booleans()), hybrid and draw(st.booleans()))
    share = draw(st.sampled_from(sharing))
    return LayerSite(layer, batch, hw, draw(st.sampled_from([NOC, UNIT, STATIC])),
                     tuple(draw(st.booleans()) for _ in range(3)), proc, mem, layout, options,
                     SharingOptions(forwarding=draw(st.booleans()), sharing=share))


#: Costs at the extremes the loader accepts (any number >= 0): DRAM a million times a MAC,
#: nanojoule-like fractions, mixed magnitudes with static energy.
DRAM_1E6 = Costs(1, 1e6, 6, 2, 1, 0, 0)
TINY = Costs(1e-9, 2e-7, 6e-9, 2e-9, 1e-9, 0, 0)
EXTREME_COSTS = (UNIT, PICO, DRAM_1E6, TINY, Costs(1, 1e6, 6, 2, 1, 3, 40),
                 Costs(0.3, 1e6 / 3, 1 / 7, 2, 1e-9, 0, 0))


@st.composite
def extreme_layers(draw):
    """A layer at the large end of what the loader accepts along one axis at a time: many
    channels, a large fmap, or a small layer (for the largest batches)."""
    kind = draw(st.sampled_from(["small", "small", "channels", "fmap"]))
    if kind == "small":
        return draw(layers())
    if kind == "channels":
        if draw(st.booleans()):
            return Layer.fc(draw(st.sampled_from([1024, 4096, 2**16])),
                            draw(st.sampled_from([1000, 4096, 2**14])))
        return Layer.conv(draw(st.sampled_from([512, 1024, 2048])),
                          draw(st.sampled_from([512, 1024])), draw(st.integers(1, 4)),
                          draw(st.sampled_from([1, 3])))
    return Layer.conv(draw(st.integers(1, 4)), draw(st.integers(1, 8)),
                      draw(st.sampled_from([224, 512, 1024, 4096])),
                      draw(st.sampled_from([1, 3, 5])))


@st.composite
def extreme_problems(draw):
    """Layers, batches (up to the loader's 2^20), capacities (up to 2^30 words), bandwidths
    and costs at the extremes: the exact models must agree with the exhaustive search or
    refuse clearly."""
    layer = draw(extreme_layers())
    env = BlockingEnv(
        regf_words=draw(st.sampled_from([4, 16, 64, 256, 2**20])),
        gbuf_words=draw(st.sampled_from([64, 1024, 65536, 2**20, 2**30])),
        bypass=tuple(draw(st.booleans()) for _ in range(3)),
        costs=draw(st.sampled_from(EXTREME_COSTS)),
        array_bus_width=draw(st.sampled_from([math.inf, math.inf, 1, 3, 64])),
        dram_bandwidth=draw(st.sampled_from([math.inf, math.inf, 0.5, 4.0, 1e4])))
    batch = draw(st.sampled_from([1, 1000, 3**12, 2**19, 2**20, 2**20]))
    pe = (draw(st.sampled_from([3, 8, 12, 16, 64])), draw(st.sampled_from([3, 8, 14, 16, 64])))
    problem = LayerProblem(layer, batch, pe, env)
    assume(problem.mapping.candidates)
    return problem
