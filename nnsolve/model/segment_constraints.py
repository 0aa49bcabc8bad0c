"""Scheduling constraints of a pipeline segment: the top-level loop factors that let layers
forward fmaps to each other or make them buffer whole fmaps (network spec §3.7).

Each layer gets ``topbat``/``topifm``/``topofm`` (0 = free) for its DRAM-level batch, IFM
and OFM factors, or a *lazy* rule copying a CONV layer's chosen top OFM factor. The rules
walk the segment once; the walk leaves fields that depend on one open choice, whether the
segment's first CONV layer buffers its whole ofmaps (``fbofm_init``), and on shared integer
variables. The fields are normalised (fully buffered means factor 1, a variable used once is
free), the choice is made (fewest fully buffered hand-overs on the longest forwarding chain,
then the smallest buffered size), and the remaining variables are enumerated. The rules,
names and orders are nn_dataflow 2.1's, as the constraints' order decides ties later.

A field's value is held as a pair (value if fbofm_init is false, value if true); values are
booleans, integers or ``Var``s.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .network import Network
from .segment import MEMORY, Segment, SegmentFlow


@dataclass(frozen=True)
class Var:
    """A shared integer variable, named as nn_dataflow names it (names fix the order)."""

    name: str


INIT = Var("fbofm_init")        # the open choice; its pair is (False, True)


@dataclass(frozen=True)
class LayerConstraint:
    """Top-level factors of one layer (0 = free); ``lazy_from``: copy that CONV layer's top
    OFM factor once it is scheduled."""

    topbat: int = 0
    topifm: int = 0
    topofm: int = 0
    lazy_from: str | None = None


@dataclass(frozen=True)
class SegmentConstraints:
    """The variables left to enumerate (sorted by name, values ascending) and the layer
    fields over them; ``fb_handovers``: fully buffered hand-overs on the forwarding chain."""

    fields: tuple[tuple[dict[str, Any], ...], ...]
    variables: dict[Var, list]
    fb_handovers: int

    def enumerate(self, max_time_overhead: float = float("inf")):
        """(constraint per layer, hints) for every value combination, last variable fastest.
        The batch-group count is at least ``fb_handovers / max_time_overhead``."""
        names = list(self.variables)
        values = [sorted(v) for v in self.variables.values()]
        bat = Var("topbat_shr")
        if bat in self.variables:
            least = self.fb_handovers / max_time_overhead
            values[names.index(bat)] = [t for t in values[names.index(bat)] if t >= least]
        for combo in itertools.product(*values):
            given = dict(zip(names, combo, strict=True))
            out = []
            for entry in self.fields:
                row = []
                for a in entry:
                    v = {k: _value(_subs(a.get(k, (0, 0)), given))
                         for k in ("topbat", "fbifm", "topifm", "fbofm", "topofm")}
                    row.append(LayerConstraint(int(v["topbat"]),
                                               1 if v["fbifm"] else int(v["topifm"]),
                                               1 if v["fbofm"] else int(v["topofm"]),
                                               a.get("lazy_from")))
                out.append(tuple(row))
            hints = (1,) if None in combo else combo
            yield tuple(out), hints


def _c(value) -> tuple:
    return (value, value)


def _eq(pair: tuple, target: bool) -> tuple:
    return tuple(v is target for v in pair)


def _pick(then: tuple, cond: tuple, other: tuple) -> tuple:
    return tuple(t if c else o for t, c, o in zip(then, cond, other, strict=True))


def _value(pair: tuple):
    return pair[0]


def _mentions(pair: tuple) -> set[Var]:
    out = {v for v in pair if isinstance(v, Var)}
    if pair[0] != pair[1] or type(pair[0]) is not type(pair[1]):
        out.add(INIT)
    return out


def _subs(pair: tuple, given: dict) -> tuple:
    if INIT in given and given[INIT] is not None:
        side = pair[1] if given[INIT] else pair[0]
        pair = (side, side)
    return tuple(given.get(v, v) if isinstance(v, Var) else v for v in pair)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def segment_constraints(network: Network, seg: Segment, flow: SegmentFlow, batch: int,
                        gbuf_words: int, region_nodes: list[int], with_opt: bool = True
                        ) -> SegmentConstraints | None:
    """The constraints of a segment whose entries have ``region_nodes`` nodes of
    ``gbuf_words`` each; None when no choice of ``fbofm_init`` fits the buffers."""

    def ofm_values(name: str) -> list[int]:
        layer = network.layers[name]
        most = layer.out_channels * layer.out_h * layer.out_w * batch / (0.05 * gbuf_words)
        return [t for t in _divisors(layer.out_channels) if t <= most or t == 1]

    def ifm_values(name: str) -> list[int]:
        layer = network.layers[name]
        most = layer.in_channels * layer.in_h * layer.in_w * batch / (0.05 * gbuf_words)
        return [t for t in _divisors(layer.in_channels) if t <= most or t == 1]

    variables: dict[Var, list] = {Var("topbat_shr"): _divisors(batch), INIT: [False, True]}
    args: list[list[dict]] = [[{"topbat": _c(Var("topbat_shr"))} for _ in e] for e in seg]
    chains: set[tuple[int, ...]] = set()
    chains.add((0,))
    last_conv = (-1, 0)
    pending = None                    # the fbofm the last group's end still owes (a pair)
    for sp, entry in enumerate(seg):
        current = Var(f"topofm_{sp}_s")
        variables[current] = ofm_values(entry[0])
        current = _c(current)
        for tm, name in enumerate(entry):
            here = args[sp][tm]
            source = None
            src = flow.src[sp][tm]
            if src and src[0] != MEMORY:
                nsp, ntm = src[0]
                source = args[nsp][ntm]
                grown = {chain + (sp,) for chain in chains if chain[-1] == nsp}
                chains |= grown
            if network.layers[name].is_conv:
                if pending is not None:
                    before = args[sp][tm - 1] if last_conv[0] == sp else args[last_conv[0]][-1]
                    before["fbofm"] = pending
                pending = None
                var = Var(f"topofm_{sp}_{tm}")
                variables[var] = ofm_values(name)
                current = _c(var)
                here["topofm"] = current
                if sp == last_conv[0]:
                    here["fbifm"] = _c(True)
                    args[sp][last_conv[1]]["fbofm"] = _c(True)
                    args[sp][tm - 1]["fbofm"] = _c(True)
                elif source is not None:
                    if not with_opt:
                        source["fbofm"] = _c(True)
                    fb = source.get("fbofm", _c(False))
                    here["fbifm"] = _eq(fb, True)
                    here["fbofm"] = _eq(fb, False)
                    pending = _eq(fb, False)
                    here["topifm"] = _pick(source["topofm"], _eq(fb, False),
                                           here.get("topifm", _c(0)))
                elif last_conv < (0, 0):
                    here["fbofm"] = (False, True)
                    pending = (False, True)
                last_conv = (sp, tm)
            else:
                if source is not None:
                    fb = source.get("fbofm", _c(False))
                    current = _pick(source["topofm"], _eq(fb, False), current)
                    for back in range(last_conv[1], tm):
                        args[sp][back]["topofm"] = current
                here["topofm"] = current
            if tm == len(entry) - 1 and all(d == MEMORY for d in flow.dst[sp][tm]):
                here.pop("fbofm", None)

    _simplify(args, variables)
    chain = max(chains, key=len)
    best, best_key, handovers = None, (float("inf"),) * 2, 0
    for choice in variables.get(INIT, [False]):
        largest = fb = 0
        for sp, (entry, row) in enumerate(zip(seg, args, strict=True)):
            given = {INIT: choice}
            sizes = [0]
            for name, a in zip(entry, row, strict=True):
                layer = network.layers[name]
                size = 0
                if _value(_subs(a.get("fbofm", _c(False)), given)):
                    size += layer.out_channels * layer.out_h * layer.out_w
                if _value(_subs(a.get("fbifm", _c(False)), given)):
                    size += layer.in_channels * layer.in_h * layer.in_w
                sizes.append(size)
            if max(sizes) > region_nodes[sp] * gbuf_words:
                break
            largest = max(largest, max(sizes))
            if sp in chain and _value(_subs(row[-1].get("fbofm", _c(False)), given)):
                fb += 1
        else:
            if (fb, largest) < best_key:
                best, best_key, handovers = choice, (fb, largest), fb
    if best is None:
        return None
    variables[INIT] = [best]
    _simplify(args, variables)

    for readers in flow.ifmap_forwarding.values():
        fetch_sp = readers[0][0]
        shared = [args[s][0] for s, _ in readers]
        if any(_value(a.get("fbofm", _c(False))) or _value(a.get("topofm", _c(0)))
               for a in shared):
            update = {"fbifm": _c(True)}
        else:
            var = Var(f"topifm_{fetch_sp}")
            variables[var] = ifm_values(seg[fetch_sp][0])
            update = {"topifm": _c(var)}
        for a in shared:
            a.update(update)
    _simplify(args, variables)
    _lazify(network, seg, args, variables)
    variables = dict(sorted(variables.items(), key=lambda item: item[0].name))
    if not variables:
        variables = {Var("_dummy"): [None]}
    return SegmentConstraints(tuple(tuple(row) for row in args), variables, handovers)


def _simplify(args: list[list[dict]], variables: dict[Var, list]) -> None:
    """Normalise to a fixed point (see the module docstring)."""
    while True:
        for a in itertools.chain.from_iterable(args):
            for fb, top in (("fbifm", "topifm"), ("fbofm", "topofm")):
                value = a.get(fb)
                if value is not None and all(v is True for v in value):
                    a.pop(top, None)
                if value is not None and all(v is False for v in value):
                    a.pop(fb)
        subs: dict[Var, Any] = {v: vals[0] for v, vals in variables.items() if len(vals) == 1}
        counts = Counter(v for a in itertools.chain.from_iterable(args)
                         for value in a.values() if isinstance(value, tuple)
                         for v in _mentions(value))
        subs.update((v, None) for v in variables if v not in counts)
        subs.update((v, 0 if v.name.startswith("top") else False)
                    for v in counts if counts[v] <= 1)
        for a in itertools.chain.from_iterable(args):
            for key, value in a.items():
                if isinstance(value, tuple):
                    a[key] = _subs(value, subs)
        for v in subs:
            variables.pop(v, None)
        if not subs:
            return


def _lazify(network: Network, seg: Segment, args: list[list[dict]],
            variables: dict[Var, list]) -> None:
    """A variable that is the top OFM factor of exactly one CONV layer and of some
    pooling/element-wise layers becomes a rule: those layers copy the CONV's choice."""
    to_conv: dict[Var, str] = {}
    to_lrs: dict[Var, list[str]] = {}
    spoiled: set[Var] = set()
    names = [name for entry in seg for name in entry]
    flat = list(itertools.chain.from_iterable(args))
    for name, a in zip(names, flat, strict=True):
        topofm = _value(a.get("topofm", _c(0)))
        if network.layers[name].is_conv:
            topifm = _value(a.get("topifm", _c(0)))
            for v in {x for x in (topofm, topifm) if isinstance(x, Var)}:
                if v in spoiled:
                    continue
                if v in to_conv:
                    del to_conv[v]
                    to_lrs.pop(v, None)
                    spoiled.add(v)
                elif topofm == v:
                    to_conv[v] = name
        elif isinstance(topofm, Var) and topofm in to_conv:
            to_lrs.setdefault(topofm, []).append(name)
    # nn_dataflow 2.1 also lazifies a variable that another field still names (a pooling
    # layer earlier in the walk, or the CONV's own top IFM factor); its enumeration then
    # fails on the unbound symbol. Such a variable stays a variable here.
    uses = Counter(v for a in flat for key, value in a.items() if isinstance(value, tuple)
                   for v in _mentions(value))
    for v in [v for v in to_conv if uses[v] != 1 + len(to_lrs.get(v, []))]:
        del to_conv[v]
        to_lrs.pop(v, None)
    lr_to_conv = {lr: to_conv[v] for v in to_conv for lr in to_lrs.get(v, [])}
    convs = set(lr_to_conv.values())
    for name, a in zip(names, flat, strict=True):
        if name in convs:
            del a["topofm"]
        elif name in lr_to_conv:
            del a["topofm"]
            a["lazy_from"] = lr_to_conv[name]
    for v in to_conv:
        del variables[v]
