"""Tables for the terminal (rich): the network zoo, one network's layers, and solve results."""

from __future__ import annotations

from rich.table import Table

from .model.network import INPUT, Network


def si(value: float, digits: int = 3) -> str:
    """A number with an SI suffix (k, M, G, T), e.g. 1.69G."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def zoo_table(networks: dict[str, Network]) -> Table:
    """One row per shipped network."""
    table = Table(title="Shipped networks (nets/)", title_justify="left")
    for col, just in (("name", "left"), ("network", "left"), ("layers", "right"),
                      ("conv/fc", "right"), ("external inputs", "right"),
                      ("ops / sample", "right"), ("weights", "right")):
        table.add_column(col, justify=just)
    for key, net in networks.items():
        n_conv = sum(1 for layer in net.layers.values() if layer.is_conv)
        table.add_row(key, net.name, str(len(net)), str(n_conv), str(len(net.external)),
                      f"{net.total_ops():,}", f"{net.total_weights():,}")
    return table


def network_table(net: Network, batch: int = 1) -> Table:
    """One row per layer: shape, predecessors, ops, weights and fmap sizes (words)."""
    table = Table(title=f"{net.name}: {len(net)} layers, batch {batch}", title_justify="left",
                  caption=f"input {net.input.channels}x{net.input.h}x{net.input.w}"
                  + "".join(f"; {n} {e.channels}x{e.h}x{e.w}" for n, e in net.external.items())
                  + ". Sizes in words (k = 1e3, M = 1e6, G = 1e9); fmaps for the whole batch.",
                  caption_justify="left")
    for col, just in (("layer", "left"), ("type", "left"), ("in", "right"), ("out", "right"),
                      ("kernel", "right"), ("stride", "right"), ("prevs", "left"),
                      ("ops", "right"), ("weights", "right"), ("ifmaps", "right"),
                      ("ofmaps", "right")):
        table.add_column(col, justify=just)
    previous = INPUT
    for name, layer in net.layers.items():
        prevs = net.prevs[name]
        shown_prevs = "" if prevs == (previous,) else ", ".join(prevs)
        kernel = "" if layer.kind == "eltwise" else _hw(layer.kernel_h, layer.kernel_w)
        stride = "" if layer.kind in ("eltwise", "fc") else _hw(layer.stride_h, layer.stride_w)
        merged = f"{layer.inputs}x{layer.out_channels}" if layer.kind == "eltwise" else \
            str(layer.in_channels)
        table.add_row(
            name, layer.kind,
            f"{merged}x{_hw(layer.in_h, layer.in_w)}",
            f"{layer.out_channels}x{_hw(layer.out_h, layer.out_w)}",
            kernel, stride, shown_prevs,
            si(layer.ops(batch)), si(layer.weight_words()),
            si(layer.ifmap_words(batch)), si(layer.ofmap_words(batch)))
        previous = name
    table.add_section()
    table.add_row("total", "", "", "", "", "", "", si(net.total_ops(batch)),
                  si(net.total_weights()), "", "")
    return table


def _hw(h: int, w: int) -> str:
    return f"{h}x{w}"
