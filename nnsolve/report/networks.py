"""Tables for the terminal (rich) of networks: the shipped zoo, and one network's layers.

Apart from ``tables.py`` (results) so that ``nnsolve nets`` and ``nnsolve net`` load neither
the result types nor numpy."""

from __future__ import annotations

from ..model.network import INPUT, Network
from .fit import Col, Fitted, Grid


def si(value: float, digits: int = 3) -> str:
    """A number with an SI suffix (k, M, G, T), e.g. 1.69G."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def zoo_table(networks: dict[str, Network]) -> Fitted:
    """One row per shipped network (two-line headers and no rules when narrow)."""
    rows = []
    for key, net in networks.items():
        n_conv = sum(1 for layer in net.layers.values() if layer.is_conv)
        rows.append((key, net.name, str(len(net)), str(n_conv), str(len(net.external)),
                     f"{net.total_ops():,}", f"{net.total_weights():,}"))

    def layout(narrow: bool, compact: bool, with_name: bool = True) -> list:
        heads = [("name", "left"), ("network", "left"), ("layers", "right"),
                 ("conv/fc", "right"),
                 ("external\ninputs" if narrow else "external inputs", "right"),
                 ("ops /\nsample" if narrow else "ops / sample", "right"),
                 ("weights", "right")]
        keep = [i for i in range(len(heads)) if with_name or i != 1]
        grid = Grid([Col(heads[i][0], heads[i][1]) for i in keep],
                    title="Shipped networks (nets/)", compact=compact,
                    caption=None if with_name else "`nnsolve net NAME` gives a network's full "
                                                   "name")
        for row in rows:
            grid.add_row(*(row[i] for i in keep))
        return [grid]

    return Fitted(lambda: layout(False, False), lambda: layout(True, False),
                  lambda: layout(True, True), lambda: layout(True, True, with_name=False))


def network_table(net: Network, batch: int = 1) -> Fitted:
    """One row per layer: shape, predecessors, ops, weights and fmap sizes (words). When
    narrow, the predecessors move to a table of their own and then shapes and sizes split."""
    title = f"{net.name}: {len(net)} layers, batch {batch}"
    inputs = (f"input {net.input.channels}x{net.input.h}x{net.input.w}"
              + "".join(f"; {n} {e.channels}x{e.h}x{e.w}" for n, e in net.external.items()))
    sizes_note = "Sizes in words (k = 1e3, M = 1e6, G = 1e9); fmaps for the whole batch."
    if any(layer.groups > 1 for layer in net.layers.values()):
        sizes_note += " conv gN: N groups (ops and weights count them all)."
    shapes, sizes, prevs = [], [], {}
    previous = INPUT
    for name, layer in net.layers.items():
        kernel = "" if layer.kind == "eltwise" else _hw(layer.kernel_h, layer.kernel_w)
        stride = "" if layer.kind in ("eltwise", "fc") else _hw(layer.stride_h, layer.stride_w)
        merged = f"{layer.inputs}x{layer.out_channels}" if layer.kind == "eltwise" else \
            str(layer.in_channels)
        kind = f"{layer.kind} g{layer.groups}" if layer.groups > 1 else layer.kind
        shapes.append((name, kind, f"{merged}x{_hw(layer.in_h, layer.in_w)}",
                       f"{layer.out_channels}x{_hw(layer.out_h, layer.out_w)}", kernel, stride))
        sizes.append((si(layer.ops(batch)), si(layer.weight_words()),
                      si(layer.ifmap_words(batch)), si(layer.ofmap_words(batch))))
        if net.prevs[name] != (previous,):
            prevs[name] = ", ".join(net.prevs[name])
        previous = name
    shape_cols = [Col("layer"), Col("type"), Col("in", "right"), Col("out", "right"),
                  Col("kernel", "right"), Col("stride", "right")]
    size_cols = [Col("ops", "right"), Col("weights", "right"), Col("ifmaps", "right"),
                 Col("ofmaps", "right")]
    totals = (si(net.total_ops(batch)), si(net.total_weights()), "", "")

    def whole(split_prevs: bool) -> list:
        cols = shape_cols + ([] if split_prevs else [Col("prevs", wrap=True)]) + size_cols
        caption = inputs + ". " + sizes_note
        if split_prevs and prevs:
            caption = inputs + "; each layer's input is the layer above it, except as listed " \
                               "below. " + sizes_note
        grid = Grid(cols, title=title, caption=caption)
        for i, name in enumerate(net.layers):
            grid.add_row(*shapes[i], *([] if split_prevs else [prevs.get(name, "")]), *sizes[i])
        grid.add_section()
        grid.add_row("total", *[""] * (len(cols) - 1 - len(totals)), *totals)
        return [grid, *(_prevs_grid(prevs, False) if split_prevs else [])]

    def stacked(compact: bool) -> list:
        top = Grid(shape_cols, title=title, compact=compact,
                   caption=inputs + ("; each layer's input is the layer above it, except as "
                                     "listed below." if prevs else "."))
        bottom = Grid([Col("layer"), *size_cols], title="Sizes", caption=sizes_note,
                      compact=compact)
        for i, name in enumerate(net.layers):
            top.add_row(*shapes[i])
            bottom.add_row(name, *sizes[i])
        bottom.add_section()
        bottom.add_row("total", *totals)
        return [top, bottom, *_prevs_grid(prevs, compact)]

    return Fitted(lambda: whole(False), lambda: whole(True), lambda: stacked(False),
                  lambda: stacked(True))


def _prevs_grid(prevs: dict[str, str], compact: bool) -> list:
    if not prevs:
        return []
    grid = Grid([Col("layer"), Col("inputs", wrap=True)], title="Inputs (where not the layer "
                "above)", compact=compact)
    for name, names in prevs.items():
        grid.add_row(name, names)
    return [grid]


def _hw(h: int, w: int) -> str:
    return f"{h}x{w}"
