"""Tables for the terminal (rich): the network zoo, one network's layers, and solve results."""

from __future__ import annotations

from rich.table import Table

from ..model.dims import LOOP_NAMES
from ..model.goals import goal_value
from ..model.network import INPUT, Network
from ..model.schedule import LayerSchedule
from ..results import BREAKDOWN_KEYS, NetworkResult


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


def num(value: float) -> str:
    """An energy or count for a table: SI suffix when large, 4 significant digits otherwise."""
    if value is None:
        return "-"
    if abs(value) >= 1e3 or value != value or value in (float("inf"), float("-inf")):
        return si(value)
    return f"{value:.4g}"


def schedule_summary(schedule: LayerSchedule, resident: tuple[bool, bool, bool],
                     has_weights: bool = True) -> str:
    """A layer's schedule in one short line: candidate, factors per loop over DRAM/GBUF/REGF,
    innermost non-trivial loop of levels 0 and 1, and what is kept in the global buffer."""
    b = schedule.blocking
    loops = " ".join(f"{n}{b.factors[0][lp]}/{b.factors[1][lp]}/{b.factors[2][lp]}"
                     for lp, n in enumerate(LOOP_NAMES))
    inner = []
    for level in (0, 1):
        nontrivial = [lp for lp in b.orders[level] if b.factors[level][lp] > 1]
        inner.append(LOOP_NAMES[nontrivial[-1]] if nontrivial else "-")
    kept = "".join(c for c, r in zip("wio", resident, strict=True)
                   if r and (c != "w" or has_weights)) or "-"
    return f"#{schedule.mapping_index} {loops} in:{'|'.join(inner)} gbuf:{kept}"


def status_line(result: NetworkResult) -> str:
    """The result's status, goal value, bound and gap, and solve time in one line; a result
    that holds only some of the network's layers (Ctrl-C) says which share its totals cover."""
    done, layers = result.coverage
    line = f"status {result.status}"
    if done < layers:
        line += f": the totals cover {done} of {layers} layers"
    line += f"; goal {result.goal} = {num(result.value)}"
    if result.bound is not None:
        line += f"; bound {num(result.bound)}; gap {result.gap:.2%}"
    return line + f"; solved in {result.solve_seconds:.2f} s"


def result_table(result: NetworkResult) -> Table:
    """Per-layer energy (with breakdown), time and schedule, and the network totals."""
    caption = (f"energy in cost units, time in cycles; loops i/o/b split as DRAM/GBUF/REGF "
               f"factors; in: innermost loop at levels 0|1; gbuf: weights/ifmaps/ofmaps kept.\n"
               f"{status_line(result)}")
    piped = result.segments is not None
    if piped:
        caption += ("\nseg: pipeline segment and the layer's node region; the total's time "
                    "overlaps pipelined layers and its static energy follows it")
    table = Table(title=f"{result.scenario}: {result.method}", title_justify="left",
                  caption=caption, caption_justify="left")
    table.add_column("layer")
    if piped:
        table.add_column("seg")
    for col in ("energy", *BREAKDOWN_KEYS, "time"):
        table.add_column(col, justify="right")
    table.add_column("schedule")
    for lo in result.layers:
        r = lo.result
        seg = [f"{lo.schedule.segment} {_hw(*lo.schedule.region.dims)}"] if piped else []
        table.add_row(lo.name, *seg, num(r.energy),
                      *(num(r.breakdown[k]) for k in BREAKDOWN_KEYS),
                      num(r.time), schedule_summary(lo.schedule, r.gbuf_resident, lo.layer.is_conv))
    table.add_section()
    bd = result.breakdown
    table.add_row("total", *([""] if piped else []), num(result.energy),
                  *(num(bd[k]) for k in BREAKDOWN_KEYS), num(result.time), "")
    return table


def segment_table(result: NetworkResult) -> Table:
    """One row per pipeline segment: its spatial entries (temporal layers joined by '>'),
    node regions and timing."""
    table = Table(title="Pipeline segments", title_justify="left",
                  caption="time = max(node time, DRAM time); critical: the longest entry "
                          "from its first start to its last end; overhead: against the "
                          "same layers run one after another", caption_justify="left")
    for col, just in (("seg", "right"), ("spatial entries", "left"), ("regions", "left"),
                      ("time", "right"), ("critical", "right"), ("dram", "right"),
                      ("batch groups", "right"), ("overhead", "right")):
        table.add_column(col, justify=just)
    for i, seg in enumerate(result.segments or []):
        table.add_row(str(i), " | ".join(" > ".join(entry) for entry in seg.layers),
                      " ".join(_hw(*r.dims) for r in seg.regions), num(seg.time),
                      num(seg.critical_time), num(seg.dram_time), str(seg.batch_groups),
                      f"{seg.overhead:.1%}")
    return table


def comparison_tables(cmp) -> list[Table]:
    """Per-layer goal values of each method with its loss, and a per-method summary."""
    methods = list(cmp.results)
    first = cmp.results[methods[0]]
    layers = Table(title=f"{cmp.scenario}: {cmp.goal} per layer (loss vs the proven optimum)",
                   title_justify="left")
    layers.add_column("layer")
    for m in methods:
        layers.add_column(m, justify="right")
    for i, lo in enumerate(first.layers):
        opt = cmp.layer_optimum(i)
        cells = []
        for m in methods:
            x = cmp.results[m].layers[i]
            value = goal_value(x.result.energy, x.result.time, cmp.goal)
            loss = cmp.loss(value, opt)
            cells.append(num(value) + ("" if not loss else f" (+{loss:.2%})"))
        layers.add_row(lo.name, *cells)
    summary = Table(title="Totals", title_justify="left",
                    caption="value: the goal over the whole network; bound: proven lower bound;"
                            " loss: excess over the best proven optimum.",
                    caption_justify="left")
    for col, just in (("method", "left"), ("status", "left"), ("energy", "right"),
                      ("time", "right"), ("value", "right"), ("bound", "right"),
                      ("gap", "right"), ("loss", "right"), ("seconds", "right")):
        summary.add_column(col, justify=just)
    optimum = cmp.optimum()
    for m in methods:
        r = cmp.results[m]
        loss = cmp.loss(r.value, optimum)
        summary.add_row(m, r.status, num(r.energy), num(r.time), num(r.value),
                        num(r.bound) if r.bound is not None else "-",
                        f"{r.gap:.2%}" if r.gap is not None else "-",
                        f"{loss:.2%}" if loss is not None else "-", f"{r.solve_seconds:.2f}")
    for m, why in cmp.failures.items():
        summary.add_row(m, "not applicable", "", "", "", "", "", "", "", end_section=False)
        summary.add_row("", why, "", "", "", "", "", "", "")
    return [layers, summary]
