"""What one layer gets on a node array, and the per-node problem of each partition scheme.

A ``LayerSite`` is a layer placed on a processing region with its memory (DRAM channels),
where its ifmaps are (the producers' layout) and where its ofmaps go. Each partition scheme
turns it into a ``LayerProblem`` for loop blocking: the per-node layer and occupancy, the
nodes' shared-data groups (access forwarding, buffer sharing) and the NoC hops of one
top-level fetch of each data category (network spec §1-2).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

from ..hardware.regions import NodeRegion, memory_region, processing_region
from ..hardware.spec import Costs, Hardware
from .bufshr import share_groups
from .evaluate import BlockingEnv, LayerProblem
from .keys import field_hash, keyless_state
from .layer import Layer
from .layout import DataLayout, ifmap_frng
from .mapping import DEFAULT_RULES, ModelRules
from .noc import check_hop_range, filter_hops, ifmap_hops, ofmap_hops
from .partition import PartitionOptions, PartitionScheme, gen_partitions, part_layer
from .schedule import Region

#: The costs of ``LayerSite.geometry`` (NoC hops do not depend on costs).
NO_COSTS = Costs()


@dataclass(frozen=True)
class SharingOptions:
    """Access forwarding (nodes pass shared data on) and buffer sharing (implies it)."""

    forwarding: bool = False
    sharing: bool = False

    @property
    def forwards(self) -> bool:
        return self.forwarding or self.sharing


@dataclass(frozen=True)
class LayerSite:
    """A layer on a processing region. Its ifmaps lie as ``ifmap_layout`` says and are read
    from ``src`` (None: DRAM), its ofmaps go to ``dst`` (None: DRAM); inside a pipeline
    segment either may be a processing region (on-chip data, read or written once).
    ``no_time_mux``: the weights stay on chip for the whole run (network spec §1.4)."""

    __hash__ = field_hash
    __getstate__ = keyless_state

    layer: Layer
    batch: int
    hardware: Hardware
    costs: Costs
    bypass: tuple[bool, bool, bool]
    region: NodeRegion
    memory: NodeRegion
    ifmap_layout: DataLayout
    partitions: PartitionOptions = field(default_factory=PartitionOptions)
    sharing: SharingOptions = field(default_factory=SharingOptions)
    rules: ModelRules = DEFAULT_RULES
    src: NodeRegion | None = None
    dst: NodeRegion | None = None
    no_time_mux: bool = False

    def __post_init__(self) -> None:
        check_hop_range(self.layer, self.batch, self.hardware.nodes)

    @cached_property
    def unit(self) -> Layer:
        """The layer that is partitioned and blocked: one group of a grouped CONV (its
        groups run one after another on the region with the same scheme and blocking, so
        a choice's score is repeated ``groups`` times), the layer itself otherwise."""
        return self.layer.one_group()

    @property
    def groups(self) -> int:
        return self.layer.groups

    @property
    def source_nodes(self):
        """Where ifmaps may come from: the memory channels, or the on-chip source region."""
        return (self.memory if self.src is None else self.src).nodes

    @cached_property
    def schemes(self) -> list[PartitionScheme]:
        """The partition schemes to choose from, in nn_dataflow's order."""
        return gen_partitions(self.unit, self.batch, self.region.dims, self.partitions)

    def ofmap_layout(self, scheme: PartitionScheme) -> DataLayout:
        """Where the layer leaves its ofmaps: its destination, split as its own scheme
        projected there (a grouped layer: each group's ofmaps so, one after another)."""
        one = self.group_ofmap_layout(scheme)
        return one if self.groups == 1 else DataLayout.concat([one] * self.groups)

    def group_ofmap_layout(self, scheme: PartitionScheme) -> DataLayout:
        """Where one group (the ``unit``) leaves its ofmaps."""
        lay = self.unit
        return DataLayout.of(ifmap_frng(self.batch, lay.out_channels, lay.out_h, lay.out_w),
                             self.memory if self.dst is None else self.dst, scheme)

    def problem(self, scheme: PartitionScheme) -> LayerProblem:
        """The loop-blocking problem of the per-node layer under ``scheme``."""
        fil, ofm = self.fixed_hops(scheme)
        return self.with_hops(self.node_problem(scheme), (fil, self.ifmap_hops(scheme), ofm))

    @cached_property
    def placement(self) -> LayerSite:
        """This site without its ifmap layout: what the layout-free parts depend on (and
        the key they are cached on across sites)."""
        return replace(self, ifmap_layout=None)

    @cached_property
    def geometry(self) -> LayerSite:
        """This site without its ifmap layout and costs: what NoC hops depend on (the key
        they are cached on, shared by sites that price energy differently, such as the
        floors' static-free sites and the search's own)."""
        return replace(self, ifmap_layout=None, costs=NO_COSTS)

    def node_problem(self, scheme: PartitionScheme) -> LayerProblem:
        """``problem`` without NoC unit hops (all zero): what schemes with the same per-node
        layer and data groups share."""
        return _node_problem(self.placement, scheme)

    def _node_problem(self, scheme: PartitionScheme) -> LayerProblem:
        node_layer, node_batch, occupancy = part_layer(self.unit, self.batch, scheme)
        hw = self.hardware
        groups = share_groups(self.region, scheme, self.unit.data_loops) \
            if self.sharing.forwards else None
        accfwd = groups.sizes if groups is not None else (1, 1, 1)
        env = BlockingEnv(hw.regf_words, hw.gbuf_words, tuple(self.bypass), self.costs,
                          num_nodes=self.region.size, array_bus_width=hw.array_bus_width,
                          dram_bandwidth=hw.dram_bandwidth, accfwd=accfwd,
                          unit_nhops=(0.0, 0.0, 0.0),
                          src_is_dram=self.src is None or self.src.kind == "dram",
                          src_is_local=self.src == self.region,
                          dst_is_dram=self.dst is None or self.dst.kind == "dram",
                          dst_is_local=self.dst == self.region, no_time_mux=self.no_time_mux)
        if self.sharing.sharing:
            env = replace(env, sharing=groups)
        return LayerProblem(node_layer, node_batch, hw.pe_array, env, occupancy, self.rules)

    @staticmethod
    def with_hops(node_problem: LayerProblem, hops) -> LayerProblem:
        """A node problem with its (weight, ifmap, ofmap) unit hops."""
        return replace(node_problem, env=replace(node_problem.env,
                                                 unit_nhops=tuple(float(h) for h in hops)))

    def fixed_hops(self, scheme: PartitionScheme) -> tuple[int, int]:
        """(weight, ofmap) unit hops: they do not depend on where the ifmaps lie."""
        return _fixed_hops(self.geometry, scheme)

    def _fixed_hops(self, scheme: PartitionScheme) -> tuple[int, int]:
        eltwise_all = self.rules.eltwise_ifmaps == "all"
        return (filter_hops(self.unit, self.batch, self.region, scheme, self.memory.nodes,
                            self.sharing.forwards, eltwise_all),
                ofmap_hops(self.unit, self.batch, self.region, scheme,
                           self.group_ofmap_layout(scheme), self.sharing.forwards,
                           eltwise_all))

    def ifmap_hops(self, scheme: PartitionScheme) -> int | float:
        """Ifmap unit hops from where ``ifmap_layout`` stores them (a grouped layer: the
        mean over its groups, each reading its own channels of the layout)."""
        return ifmap_hops(self.unit, self.batch, self.region, scheme, self.ifmap_layout,
                          self.sharing.forwards, self.rules.eltwise_ifmaps == "all",
                          self.groups)

    @property
    def region_json(self) -> Region:
        return Region(self.region.origin, self.region.dims)


@lru_cache(maxsize=1 << 16)
def _node_problem(placement: LayerSite, scheme: PartitionScheme) -> LayerProblem:
    return placement._node_problem(scheme)


@lru_cache(maxsize=1 << 16)
def _fixed_hops(placement: LayerSite, scheme: PartitionScheme) -> tuple[int, int]:
    return placement._fixed_hops(scheme)


def check_layer_range(layer: Layer, batch: int, hardware: Hardware) -> None:
    """Raise TooLarge when ``batch`` samples of ``layer`` have counts beyond the cost
    model's exact range on one node of ``hardware`` (the layer's problem before
    partitioning) or NoC hops beyond it on the chip: what a scenario's loader checks.
    Partitioned per-node problems are checked again when they are built."""
    _ = LayerProblem.single_node(layer.one_group(), batch, hardware, Costs()).mapping
    check_hop_range(layer, batch, hardware.nodes)


def chip_regions(hardware: Hardware) -> tuple[NodeRegion, NodeRegion]:
    """(all processing nodes, DRAM channels) of the chip."""
    return processing_region(hardware.nodes), memory_region(hardware.nodes, hardware.memory)


def input_schemes(channels: int, h: int, w: int, batch: int, memory: NodeRegion,
                  options: PartitionOptions) -> list[PartitionScheme]:
    """How the network input (and the external inputs with it) may lie in DRAM: the input's
    partition schemes over the memory region, projected onto it (network spec §4.3), each
    distinct layout once."""
    fake = Layer.conv(channels, channels, (h, w), 1)   # stands for the input data
    frng = ifmap_frng(batch, channels, h, w)
    seen, out = set(), []
    for scheme in gen_partitions(fake, batch, memory.dims, options, network_input=True):
        projected = scheme.projection(memory, fmap=True)
        layout = DataLayout((frng,), (memory,), (projected,))
        if layout not in seen:
            seen.add(layout)
            out.append(projected)
    return out
