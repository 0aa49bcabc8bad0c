"""Tables for the terminal (rich) of solve results: per layer, per segment, per method.
The tables of networks (the zoo, one network's layers) are in ``networks.py``."""

from __future__ import annotations

from collections import Counter

from ..model.dims import LOOP_NAMES
from ..model.goals import goal_value
from ..model.schedule import LayerSchedule
from ..results import BREAKDOWN_KEYS, NetworkResult
from .fit import Col, Fitted, Grid
from .networks import si


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
    that holds only some of the network's layers (Ctrl-C) says which share its totals cover,
    and one of method auto how many layers each engine proved."""
    done, layers = result.coverage
    line = f"status {result.status}"
    if done < layers:
        line += f": the totals cover {done} of {layers} layers"
    line += f"; goal {result.goal} = {num(result.value)}"
    if result.bound is not None:
        line += f"; bound {num(result.bound)}; gap {result.gap:.2%}"
    line += f"; solved in {result.solve_seconds:.2f} s"
    engines = Counter(lo.engine for lo in result.layers if lo.engine)
    if engines:
        # Method auto: which exact engine proved how many layers.
        line += "; engines: " + ", ".join(f"{e} {n} layer{'s' * (n != 1)}"
                                          for e, n in engines.most_common())
    return line


UNITS_NOTE = "energy in cost units, time in cycles"
SCHEDULE_NOTE = ("loops i/o/b split as DRAM/GBUF/REGF factors; in: innermost loop at levels "
                 "0|1; gbuf: weights/ifmaps/ofmaps kept")


def result_table(result: NetworkResult) -> Fitted:
    """Per-layer energy (with breakdown), time and schedule, and the network totals. When
    narrow: breakdown columns that are 0 in every layer are left out (and named), then the
    schedules move to a table of their own, then the rules go."""
    piped = result.segments is not None
    bd = result.breakdown
    zero = [k for k in BREAKDOWN_KEYS
            if bd[k] == 0 and all(lo.result.breakdown[k] == 0 for lo in result.layers)]
    title = f"{result.scenario}: {result.method}"
    status = status_line(result)
    seg_note = "seg: pipeline segment and the layer's node region"
    total_note = "the total's time overlaps pipelined layers and its static energy follows it"

    def numbers(lo) -> list[str]:
        r = lo.result
        return [num(r.energy), *(num(r.breakdown[k]) for k in BREAKDOWN_KEYS), num(r.time)]

    def segment(lo) -> list[str]:
        return [f"{lo.schedule.segment} {_hw(*lo.schedule.region.dims)}"] if piped else []

    def schedule(lo) -> str:
        return schedule_summary(lo.schedule, lo.result.gbuf_resident, lo.layer.has_weights)

    totals = [num(result.energy), *(num(bd[k]) for k in BREAKDOWN_KEYS), num(result.time)]
    number_cols = [Col(c, "right") for c in ("energy", *BREAKDOWN_KEYS, "time")]

    def without(values: list, dropped: list[str]) -> list:
        keys = ("energy", *BREAKDOWN_KEYS, "time")
        return [v for k, v in zip(keys, values, strict=True) if k not in dropped]

    def zero_note(dropped: list[str]) -> str:
        return f"; {', '.join(dropped)}: 0 in every layer" if dropped else ""

    def one_table(dropped: list[str]) -> list:
        caption = f"{UNITS_NOTE}{zero_note(dropped)}; {SCHEDULE_NOTE}.\n{status}"
        if piped:
            caption += f"\n{seg_note}; {total_note}"
        grid = Grid([Col("layer"), *([Col("seg")] if piped else []),
                     *without(number_cols, dropped), Col("schedule")],
                    title=title, caption=caption)
        for lo in result.layers:
            grid.add_row(lo.name, *segment(lo), *without(numbers(lo), dropped), schedule(lo))
        grid.add_section()
        grid.add_row("total", *([""] if piped else []), *without(totals, dropped), "")
        return [grid]

    def two_tables(compact: bool) -> list:
        top = Grid([Col("layer"), *without(number_cols, zero)], title=title, compact=compact,
                   caption=UNITS_NOTE + zero_note(zero) + (f"; {total_note}" if piped else ""))
        bottom = Grid([Col("layer"), *([Col("seg")] if piped else []),
                       Col("schedule", wrap=True)], title="Schedules", compact=compact,
                      caption=(f"{seg_note}; " if piped else "") + f"{SCHEDULE_NOTE}.\n{status}")
        for lo in result.layers:
            top.add_row(lo.name, *without(numbers(lo), zero))
            bottom.add_row(lo.name, *segment(lo), schedule(lo))
        top.add_section()
        top.add_row("total", *without(totals, zero))
        return [top, bottom]

    return Fitted(lambda: one_table([]), lambda: one_table(zero), lambda: two_tables(False),
                  lambda: two_tables(True))


def segment_table(result: NetworkResult) -> Fitted:
    """One row per pipeline segment: its spatial entries (temporal layers joined by '>'),
    node regions and timing (two-line headers and no rules when narrow)."""
    caption = ("time = max(node time, DRAM time); critical: the longest entry from its first "
               "start to its last end; overhead: against the same layers run one after "
               "another")
    rows = [(str(i), " | ".join(" > ".join(entry) for entry in seg.layers),
             " ".join(_hw(*r.dims) for r in seg.regions), num(seg.time),
             num(seg.critical_time), num(seg.dram_time), str(seg.batch_groups),
             f"{seg.overhead:.1%}") for i, seg in enumerate(result.segments or [])]

    def layout(compact: bool) -> list:
        grid = Grid([Col("seg", "right"), Col("spatial entries", wrap=True),
                     Col("regions", wrap=True), Col("time", "right"),
                     Col("critical", "right"), Col("dram", "right"),
                     Col("batch\ngroups" if compact else "batch groups", "right"),
                     Col("overhead", "right")],
                    title="Pipeline segments", caption=caption, compact=compact)
        for row in rows:
            grid.add_row(*row)
        return [grid]

    return Fitted(lambda: layout(False), lambda: layout(True))


def _loss(loss: float | None) -> str:
    """A loss against the optimum as shown beside a value: '' for none or zero."""
    return "" if not loss else f"{loss:+.2%}"


def _total_loss(cmp, value: float, optimum: float | None) -> str:
    """A method's loss on the whole network: against the optimum, or at most the excess over
    the best bound when no optimum is proven."""
    loss = cmp.loss(value, optimum)
    if loss is not None:
        return f"{loss:.2%}"
    at_most = cmp.loss_at_most(value)
    return f"≤{at_most:.2%}" if at_most is not None else "-"


def comparison_tables(cmp) -> list[Fitted]:
    """Per-layer goal values of each method with its loss, and a per-method summary. When
    narrow, the losses go under the values, and the summary leaves out the value column when
    it repeats energy or time."""
    methods = list(cmp.results)
    first = cmp.results[methods[0]]
    cells = []
    for i, lo in enumerate(first.layers):
        opt = cmp.layer_optimum(i)
        row = []
        for m in methods:
            x = cmp.results[m].layers[i]
            value = goal_value(x.result.energy, x.result.time, cmp.goal)
            row.append((num(value), _loss(cmp.loss(value, opt))))
        cells.append((lo.name, row))
    title = f"{cmp.scenario}: {cmp.goal} per layer (loss vs the proven optimum)"
    why = cmp.layer_losses_note()

    def per_layer(stacked: bool, compact: bool) -> list:
        grid = Grid([Col("layer"), *(Col(m, "right") for m in methods)], title=title,
                    compact=compact, caption=why)
        for name, row in cells:
            sep = "\n" if stacked else " "
            grid.add_row(name, *(v + (f"{sep}({loss})" if loss else "") for v, loss in row))
        return [grid]

    optimum = cmp.optimum()
    summary_rows = []
    for m in methods:
        r = cmp.results[m]
        summary_rows.append({
            "method": m, "status": str(r.status), "energy": num(r.energy), "time": num(r.time),
            "value": num(r.value), "bound": num(r.bound) if r.bound is not None else "-",
            "gap": f"{r.gap:.2%}" if r.gap is not None else "-",
            "loss": _total_loss(cmp, r.value, optimum),
            "seconds": f"{r.solve_seconds:.2f}"})
    for m in cmp.failures:
        summary_rows.append({"method": m, "status": "not applicable"})
    failures = "".join(f"\n{m}: not applicable: {why}" for m, why in cmp.failures.items())

    def summary(compact: bool) -> list:
        keys = ["method", "status", "energy", "time", "value", "bound", "gap", "loss",
                "seconds"]
        caption = ("value: the goal over the whole network; bound: proven lower bound; loss: "
                   "excess over the best proven optimum")
        if compact and cmp.goal in ("energy", "delay"):
            keys.remove("value")
            caption = (f"bound: proven lower bound on the goal ({cmp.goal}) over the whole "
                       f"network; loss: excess over the best proven optimum")
        if optimum is None and cmp.best_bound() is not None:
            caption += (f" (none proven here; ≤: at most, against the best bound "
                        f"{num(cmp.best_bound())})")
        caption += "."
        grid = Grid([Col(k, "left" if k in ("method", "status") else "right") for k in keys],
                    title="Totals", caption=caption + failures, compact=compact)
        for row in summary_rows:
            grid.add_row(*(row.get(k, "") for k in keys))
        return [grid]

    return [Fitted(lambda: per_layer(False, False), lambda: per_layer(False, True),
                   lambda: per_layer(True, True)),
            Fitted(lambda: summary(False), lambda: summary(True))]
