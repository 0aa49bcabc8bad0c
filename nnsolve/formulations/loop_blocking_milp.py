"""The loop-blocking model as a MILP: every quantity linear in 0-1 variables, exact integers.

    x[j,l,τ,a,b]   candidate j splits loop l as τ = (t0,t1,t2), with a = [λ0 = l], b = [λ1 = l]
                   (a ⇒ t0 ≥ 2, b ⇒ t1 ≥ 2); Σ_{τ,a,b} x = chosen[j] for each loop
    λ_k(l) = Σ x[..a or b = 1],  nt_k(l) = Σ_{t_k ≥ 2} y   (y: the split, Σ_{a,b} x)
    triv1(d) = ¬nt1(a) ∧ ¬nt1(b);   v = x ∧ triv1(d(l))   (AND, linearised)

Each x fixes the fetch counts of the category d whose unrelated loop is l: F0 = 1 if a else
t0, F1 = t0 if b else t0·t1 (ofmaps 2f - 1), or F1 = F0 when v = 1. (A depthwise layer's
ifmaps and ofmaps share the unrelated loop I, which runs once: they are fetched once and
enter the objective as constants, as every category of a local-region layer does.)
So F0, F1, the residency s_d = Σ_{x: F1 > F0} (x - v) (bypass permitted) and the energy
are linear in x and v with integer coefficients. Capacities multiply two loops' factors: each
buffer gets one joint indicator w over the tuples (a value of every loop, and in the global
buffer a residency of every category that may bypass) that fit, whose marginals are the value
indicators: the convex hull of the capacity row, exact and no weaker than any linearisation.

The order mode m = (λ0, λ1, which loops are non-trivial at level 1) decides each category's
level-1 triviality and residency (s_d = ¬triv1(d) ∧ (λ0 = u ∨ (λ1 ≠ u ∧ nt1(u)))), so a
one-hot z over the valid modes (≤ 40) holds them exactly: each is the sum of the z that imply
it. Measured on the benchmark layers, the LP relaxation of the whole model is no stronger
than the optimum without capacities (5-7 % below the optimum), while with one mode fixed it
is integral; highs_parts.py therefore solves mode by mode (``backend.partition``, each mode
with the variables its rows force to 0), and CBC solves the same model whole.

Rows, one family each (the comment above each ``be.add`` states its row):

    splits       Σ_j chosen[j] = 1;  Σ_τ y[j,l,τ] = chosen[j];  Σ_{a,b} x[j,l,τ,a,b] = y[j,l,τ]
    aggregates   nt_k(l), λ_k(l) and the value indicators: one 0-1 variable = Σ of its parts
    innermost    Σ_l λ_k(l) ≤ 1 and nt_k(l) ≤ Σ_l' λ_k(l'): λ_k is one non-trivial loop of
                 level k, or none when it has none (λ ⇒ nt by the domain of a, b); pins fix λ_k
    pruning      nn_dataflow's dominated schemes (layer spec §6.2): λ0(l) ∧ nt1(l) ⇒ λ1(l),
                 λ1(l) ⇒ ¬nt2(l), λ0(l) ∧ [λ1 = none] ⇒ ¬nt2(l)
    fetch counts no rows: each x carries its F0, F1 as constants; the rows are triv1(d) =
                 ¬nt1(a) ∧ ¬nt1(b) (a, b: d's own loops) and the AND v ≤ x, v ≤ triv1(d),
                 v ≥ x + triv1(d) - 1, which switches F1 to F0
    residency    s_d = Σ_{x: F1 > F0} (x - v) when d may bypass (else s_d ≡ 1); pins fix s_d
    capacity     per buffer: w over the fitting tuples (values of t2 for the register files,
                 of P = t1·t2 per candidate for the buffer, with a residency per category that
                 may bypass); Σ_{w: value(l) = v} w = [value(l) = v], in the buffer over
                 (value of l, s_{d(l)}) (= Σ of l's x (- v) with that P and residency), and
                 Σ_{w: s_d = 1} w = s_d ∧ chosen[j] for a category whose own loop is not in
                 the tuple; no rows at all when even the largest values fit
    modes        Σ_m z_m = 1; λ_k(l), nt1(l), triv1(d), s_d = Σ of the z_m that imply them
                 (valid modes only: λ1 = none iff nothing is non-trivial at level 1, λ1 is
                 non-trivial, λ0(l) ∧ nt1(l) ⇒ λ1(l); pins on λ drop modes)
    time         time ≥ Σ_j proc_j·chosen[j], dram_time, bus_time_d, with dram_time ≥
                 ⌈DRAM words / bandwidth⌉ and bus_time_d ≥ ⌈s_d·F1·buffer words / bus width⌉
                 (integer rows from ceil_row; each only when its rate is finite)
    rank         q ≥ λ_k(l) + nt_k(yes) - nt_k(no) - 1: the order-rank indicators (blocking_costs)
    objective    energy = Σ_j const_j·chosen[j] + Σ_x E(d, F0, F1, s)·x + Σ_v ΔE·v (+ idle·time)
                 scaled to integers; rank = split rank + weighted q and λ_k(l)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.dims import Data, Loop
from ..model.loop_order import canonical_positions
from ..model.pins import NONE
from ..model.schedule import Blocking
from .backend import Terms
from .blocking_costs import (
    ORDER_RANK_LAMBDA,
    ORDER_RANK_TERMS,
    ceil_row,
    choose_scaling,
    unrelated,
)
from .blocking_model import LoopBlockingFormulation


@dataclass
class Combo:
    """One x[j,l,τ,a,b], and the fetch counts it gives its data category."""

    var: Any
    cand: int
    loop: int
    tau: tuple[int, int, int]
    a: bool
    b: bool
    f0: int = 1
    f1: int = 1            # when the category's own loops are not all trivial at level 1
    triv_var: Any = None   # v = x ∧ triv1(d), when it changes F1


class MilpLoopBlocking(LoopBlockingFormulation):
    """The exact loop-blocking model of one layer, as a MILP (HiGHS or CBC through PuLP)."""

    kind = "milp"

    def _build(self) -> None:
        be = self.backend
        conv = self.candidates[0].nld.is_conv
        self._categories(conv)
        self.combos: list[Combo] = []
        self.y: dict[tuple, Any] = {}
        self._stored: dict[int, Terms | None] = {}
        self._own: dict[int, list] = {}      # candidate -> its split, order and w variables
        self._modes_of: list[tuple] = []     # (z_m, λ0, λ1, nt1, kept per data)
        self._w_keep: list[tuple] = []       # (w, candidate, residency per free data)
        for c in self.candidates:
            self.chosen[c.index] = be.bool_var(f"candidate_{c.index}")
            self._own[c.index] = [self.chosen[c.index]]
            for lp in Loop:
                for tau in c.triples[lp]:
                    y = be.bool_var(f"y{c.index}_{'iob'[lp]}_{'_'.join(map(str, tau))}")
                    self.y[c.index, lp, tau] = y
                    options = [(False, False)]
                    if conv:
                        options = [(a, b) for a in (False, True) for b in (False, True)
                                   if (not a or tau[0] > 1) and (not b or tau[1] > 1)]
                    xs = []
                    for a, b in options:
                        x = y if len(options) == 1 else be.bool_var(
                            f"x{c.index}_{'iob'[lp]}_{'_'.join(map(str, tau))}_{int(a)}{int(b)}")
                        self.combos.append(Combo(x, c.index, lp, tau, a, b))
                        xs.append(x)
                    self._own[c.index] += [y] + (xs if len(xs) > 1 else [])
                    if len(options) > 1:
                        # Σ_{a,b} x[j,l,τ,a,b] = y[j,l,τ]: the order choices of one split
                        be.add([(1, x) for x in xs] + [(-1, y)], "==", 0)
                # Σ_τ y[j,l,τ] = chosen[j]: the chosen candidate splits each loop once
                be.add([(1, self.y[c.index, lp, tau]) for tau in c.triples[lp]]
                       + [(-1, self.chosen[c.index])], "==", 0)
        # Σ_j chosen[j] = 1: exactly one candidate
        be.exactly_one(list(self.chosen.values()))
        self.vars = {"candidate": self.chosen, "split": self.y, "x": self.combos}
        self.nt = {}
        for k in range(3):
            for lp in Loop:
                ys = [y for (_, loop, tau), y in self.y.items() if loop == lp and tau[k] > 1]
                self.nt[k, lp] = self._aggregate(ys, f"nontrivial{k}_{'iob'[lp]}")
        self.vars["nontrivial"] = self.nt
        if conv:
            self._orders()
            self._fetch()
            self._modes()
        self._capacity()
        self._objective(conv)
        if conv and hasattr(be, "partition"):
            self._partition()

    def _categories(self, conv: bool) -> None:
        """Which loop's splits fix which category's fetch counts. A category whose unrelated
        loop is shared with another one (a depthwise layer's ifmaps and ofmaps: both I, which
        runs once) is fetched once whatever the scheme, and enters as a constant (as every
        category of a local-region layer does)."""
        self.unrelated: dict[int, int] = {}
        self.data_of_loop: dict[int, int] = {}
        self.fixed: tuple[int, ...] = tuple(Data)
        if not conv:
            return
        free = unrelated(self.candidates[0].nld)
        for d in Data:
            if sum(u == free[d] for u in free.values()) == 1:
                self.unrelated[d] = free[d]
                self.data_of_loop[free[d]] = d
            elif any(c.nld.loopcnt[free[d]] != 1 for c in self.candidates):
                raise AssertionError("categories share an unrelated loop that iterates")
        self.fixed = tuple(d for d in Data if d not in self.unrelated)

    def _fixed_value(self, c, value) -> float:
        """value(c, d, F0 = 1, F1 = 1, s) summed over the categories fetched once."""
        env = self.problem.env
        return sum(value(c, d, 1, 1, not env.bypass[d]) for d in self.fixed)

    def _aggregate(self, parts: list, name: str) -> Terms:
        """Terms for a 0/1 variable equal to the sum of ``parts`` (at most one of them 1)."""
        if not parts:
            return []
        if len(parts) == 1:
            return [(1, parts[0])]
        agg = self.backend.bool_var(name)
        # agg = Σ parts: nt_k(l), λ_k(l) or a value indicator as one 0-1 variable
        self.backend.add([(1, v) for v in parts] + [(-1, agg)], "==", 0)
        return [(1, agg)]

    def _orders(self) -> None:
        """λ_k(l): the innermost non-trivial loop of levels 0 and 1; nn_dataflow's pruning."""
        be, pins, nt = self.backend, self.pins, self.nt
        lam = {}
        for lp in Loop:
            lam[0, lp] = self._aggregate([x.var for x in self.combos if x.loop == lp and x.a],
                                         f"innermost0_{'iob'[lp]}")
            lam[1, lp] = self._aggregate([x.var for x in self.combos if x.loop == lp and x.b],
                                         f"innermost1_{'iob'[lp]}")
        for k in (0, 1):
            any_lam = [t for lp in Loop for t in lam[k, lp]]
            # Σ_l λ_k(l) ≤ 1: at most one innermost loop at level k (none: all 0)
            be.add(any_lam, "<=", 1)
            for lp in Loop:
                # nt_k(l) ≤ Σ_l' λ_k(l'): a level with a non-trivial loop has an innermost one
                be.add(nt[k, lp] + [(-c, v) for c, v in any_lam], "<=", 0)
            if k in pins.innermost:
                want = pins.innermost[k]
                if want == NONE:
                    for lp in Loop:
                        # pin λ_k = none: nt_k(l) = 0, every loop trivial at level k
                        be.add(nt[k, lp], "==", 0)
                else:
                    # pin: λ_k(want) = 1
                    be.add(lam[k, want], "==", 1)
        all_lam1 = [t for lp in Loop for t in lam[1, lp]]
        for lp in Loop:
            # λ0(l) + nt1(l) - λ1(l) ≤ 1: λ0(l) ∧ nt1(l) ⇒ λ1(l)  (nn_dataflow pruning)
            be.add(lam[0, lp] + nt[1, lp] + [(-1, v) for _, v in lam[1, lp]], "<=", 1)
            # nt2(l) + λ1(l) ≤ 1: λ1(l) ⇒ ¬nt2(l)
            be.add(nt[2, lp] + lam[1, lp], "<=", 1)
            # nt2(l) + λ0(l) - Σ_l' λ1(l') ≤ 1: λ0(l) ∧ [λ1 = none] ⇒ ¬nt2(l)
            be.add(nt[2, lp] + lam[0, lp] + [(-1, v) for _, v in all_lam1], "<=", 1)
        self.lam = lam
        self.vars["innermost"] = lam

    def _fetch(self) -> None:
        """triv1(d), the fetch counts F0, F1 of each x, v = x ∧ triv1(d), residency pins."""
        be, nt = self.backend, self.nt
        triv = {}
        for d in self.unrelated:
            own = [lp for lp in Loop if lp != self.unrelated[d]]
            t = be.bool_var(f"trivial1_{'wio'[d]}")
            for lp in own:
                # triv1(d) + nt1(l) ≤ 1 for d's own loops l: triv1(d) ⇒ ¬nt1(l)
                be.add([(1, t)] + nt[1, lp], "<=", 1)
            # triv1(d) + nt1(a) + nt1(b) ≥ 1: ¬nt1(a) ∧ ¬nt1(b) ⇒ triv1(d)
            be.add([(1, t)] + nt[1, own[0]] + nt[1, own[1]], ">=", 1)
            triv[d] = t
        self.vars["trivial1"] = triv
        for x in self.combos:
            if x.loop not in self.data_of_loop:
                continue                     # fixes no category's fetch counts
            d = self.data_of_loop[x.loop]
            raw0 = 1 if x.a else x.tau[0]
            raw1 = x.tau[0] if x.b else x.tau[0] * x.tau[1]
            x.f0, x.f1 = (2 * raw0 - 1, 2 * raw1 - 1) if d == Data.OFM else (raw0, raw1)
            if x.f1 != x.f0:
                tag = "_".join(map(str, x.tau))
                v = be.bool_var(f"v_{'iob'[x.loop]}_{tag}_{int(x.a)}{int(x.b)}")
                # v ≤ x
                be.add([(1, v), (-1, x.var)], "<=", 0)
                # v ≤ triv1(d)
                be.add([(1, v), (-1, triv[d])], "<=", 0)
                # v ≥ x + triv1(d) - 1: with the two rows above, v = x ∧ triv1(d)
                be.add([(1, v), (-1, x.var), (-1, triv[d])], ">=", -1)
                x.triv_var = v
        for d, kept in self.pins.resident.items():
            terms = self._stored_terms(d)
            if terms is None or not terms:
                if kept != (terms is None):
                    self.infeasible_reason = (f"{('weights', 'ifmaps', 'ofmaps')[d]} cannot be "
                                              f"{'kept' if kept else 'bypassed'}")
                continue
            # pin: s_d = 1 (kept in the global buffer) or 0 (bypassed)
            be.add(terms, "==", 1 if kept else 0)

    def _modes(self) -> None:
        """The order mode m = (λ0, λ1, nt1 of each loop) as one-hot z_m: λ_k(l), nt1(l),
        triv1(d) and s_d are each the sum of the z_m that imply them (exact: each is a
        function of the mode), which holds their joint values to the modes' convex hull."""
        be = self.backend
        env = self.problem.env
        options = list(Loop) + [NONE]
        rows: dict[tuple, list] = {}
        zs = []
        for l0, l1 in itertools.product(options, options):
            for nu in itertools.product((False, True), repeat=3):
                if (l1 == NONE) != (not any(nu)) or (l1 != NONE and not nu[l1]):
                    continue
                if l0 != NONE and nu[l0] and l1 != l0:
                    continue             # λ0(l) ∧ nt1(l) ⇒ λ1(l)
                if any(k in self.pins.innermost and self.pins.innermost[k] != want
                       for k, want in ((0, l0), (1, l1))):
                    continue
                z = be.bool_var(f"mode_{'iobn'[l0]}{'iobn'[l1]}_{''.join(map(str, map(int, nu)))}")
                zs.append(z)
                kept = {}
                for lp in Loop:
                    if l0 == lp:
                        rows.setdefault(("lam", 0, lp), []).append(z)
                    if l1 == lp:
                        rows.setdefault(("lam", 1, lp), []).append(z)
                    if nu[lp]:
                        rows.setdefault(("nt1", lp), []).append(z)
                for d, u in self.unrelated.items():
                    triv = not any(nu[lp] for lp in Loop if lp != u)
                    if triv:
                        rows.setdefault(("triv", d), []).append(z)
                    kept[d] = not env.bypass[d] or (not triv and (l0 == u or
                                                                  (l1 != u and nu[u])))
                    if env.bypass[d] and kept[d]:
                        rows.setdefault(("kept", d), []).append(z)
                self._modes_of.append((z, l0, l1, nu, kept))
        # Σ_m z_m = 1: one mode
        be.add([(1, z) for z in zs], "==", 1)
        for lp in Loop:
            for k in (0, 1):
                # λ_k(l) = Σ_{m: λ_k = l} z_m
                be.add(self.lam[k, lp] + [(-1, z) for z in rows.get(("lam", k, lp), [])],
                       "==", 0)
            # nt1(l) = Σ_{m: nt1(l)} z_m
            be.add(self.nt[1, lp] + [(-1, z) for z in rows.get(("nt1", lp), [])], "==", 0)
        for d in self.unrelated:
            # triv1(d) = Σ_{m: d's own loops trivial at level 1} z_m
            be.add([(1, self.vars["trivial1"][d])] +
                   [(-1, z) for z in rows.get(("triv", d), [])], "==", 0)
            terms = self._stored_terms(d)
            if terms:
                # s_d = Σ_{m: kept} z_m
                be.add(terms + [(-1, z) for z in rows.get(("kept", d), [])], "==", 0)
        self.vars["mode"] = zs

    def _partition(self) -> None:
        """Hand the modes to a backend that solves mode by mode (highs_parts.py), each with
        the variables its rows force to 0: the other modes, the combos (and their v) whose
        orders or level-1 triviality differ from the mode's, the v of a category that is
        not trivial at level 1 in it, and the buffer joints' w with another residency."""
        vid = self.backend.var_id
        xs = self.combos
        loop = np.asarray([x.loop for x in xs])
        a = np.asarray([x.a for x in xs])
        b = np.asarray([x.b for x in xs])
        nt1 = np.asarray([x.tau[1] > 1 for x in xs])
        x_id = np.asarray([vid(x.var) for x in xs])
        v_id = np.asarray([vid(x.triv_var) if x.triv_var is not None else -1 for x in xs])
        d_of = np.asarray([self.data_of_loop.get(x.loop, -1) for x in xs])
        y_of = {}
        for (_, lp, tau), y in self.y.items():
            y_of.setdefault((lp, tau[1] > 1), []).append(vid(y))
        z_ids = np.asarray([vid(z) for z, *_ in self._modes_of], dtype=np.int64)
        w_id = np.asarray([vid(w) for w, _, _ in self._w_keep], dtype=np.int64)
        # residency of each w per data: 1 kept, 0 bypassed, -1 not in its pattern
        w_pat = np.full((len(self._w_keep), len(Data)), -1, dtype=np.int8)
        for i, (_, _, keep) in enumerate(self._w_keep):
            for d, k in keep.items():
                w_pat[i, d] = k
        y_arr = {key: np.asarray(ids, dtype=np.int64) for key, ids in y_of.items()}
        parts = []
        for z, l0, l1, nu, kept in self._modes_of:
            nu_x = np.asarray(nu)[loop]
            off = (a != (loop == l0)) | (b != (loop == l1)) | (nt1 != nu_x)
            not_triv = [d for d, u in self.unrelated.items()
                        if any(nu[lp] for lp in Loop if lp != u)]
            no_v = np.isin(d_of, not_triv)
            zero = [x_id[off], v_id[(off | no_v) & (v_id >= 0)], z_ids[z_ids != vid(z)]]
            zero += [y_arr[lp, not nu[lp]] for lp in Loop if (lp, not nu[lp]) in y_arr]
            if len(w_id):
                want = np.asarray([int(kept.get(d, -1)) for d in Data], dtype=np.int8)
                clash = (w_pat >= 0) & (want >= 0) & (w_pat != want)
                zero.append(w_id[clash.any(axis=1)])
            parts.append((vid(z), np.unique(np.concatenate(zero)), l0))
        self.backend.partition = parts

    def fix_candidate(self, index: int):
        """Admit only candidate ``index``; a backend that takes them learns that the other
        candidates' variables are 0 while the row holds."""
        handle = super().fix_candidate(index)
        imply = getattr(self.backend, "imply_zero", None)
        if imply is not None:
            vid = self.backend.var_id
            others = [vid(v) for j, vs in self._own.items() if j != index for v in vs]
            others += [vid(x.triv_var) for x in self.combos
                       if x.cand != index and x.triv_var is not None]
            others += [vid(w) for w, j, _ in self._w_keep if j != index]
            imply(handle, np.asarray(others, dtype=np.int64))
        return handle

    def _state(self, x: Combo, triv: bool) -> tuple[int, int, bool]:
        """(F0, F1, kept in the global buffer) of d(loop) under this combo."""
        d = self.data_of_loop[x.loop]
        f1 = x.f0 if triv else x.f1
        stored = (f1 > x.f0) if self.problem.env.bypass[d] else True
        return x.f0, f1, stored

    def _stored_terms(self, d: int) -> Terms | None:
        """Terms summing to s_d; None when d is always kept, [] when never."""
        if d in self._stored:
            return self._stored[d]
        env = self.problem.env
        if not env.bypass[d]:
            terms = None
        elif d not in self.unrelated:
            terms = []                       # fetched once: never worth keeping
        else:
            parts: Terms = []
            for x in self.combos:
                if x.loop == self.unrelated[d] and x.f1 > x.f0:
                    parts.append((1, x.var))
                    if x.triv_var is not None:
                        parts.append((-1, x.triv_var))
            terms = []
            if parts:
                s = self.backend.bool_var(f"stored_{'wio'[d]}")
                # s_d = Σ_{x on u(d), F1 > F0} (x - v): kept exactly when F1 > F0
                self.backend.add(parts + [(-1, s)], "==", 0)
                terms = [(1, s)]
        self._stored[d] = terms
        self.vars.setdefault("stored", {})[d] = terms
        return terms

    def _values(self, cands, loop: int, value, name: str) -> dict[int, Any]:
        """Value indicators: per value v, [value(τ) = v] = Σ of the y of ``loop`` with it."""
        groups: dict[int, list] = {}
        for c in cands:
            for tau in c.triples[loop]:
                groups.setdefault(value(tau), []).append(self.y[c.index, loop, tau])
        return {v: self._aggregate(ys, f"{name}_{v}")[0][1] for v, ys in groups.items()}

    def _capacity(self) -> None:
        """Register files (t2, all candidates) and global buffer (P = t1·t2, per candidate)."""
        env = self.problem.env
        dims = self.candidates[0].nld.data_loops
        usize_regf = self.candidates[0].nld.usize_regf
        t2 = {lp: self._values(self.candidates, lp, lambda tau: tau[2], f"t2_{'iob'[lp]}")
              for lp in Loop}
        self._joint_capacity(t2, usize_regf, dims, env.regf_words, "regf", None)
        stored = {d: self._stored_terms(d) for d in Data}
        for c in self.candidates:
            p = {lp: self._values([c], lp, lambda tau: tau[1] * tau[2],
                                  f"p{c.index}_{'iob'[lp]}") for lp in Loop}
            self._joint_capacity(p, c.nld.usize_gbuf, dims, env.gbuf_words, f"gbuf{c.index}_",
                                 stored, c)

    def _kept_terms(self, c, lp: int, kept: bool, value=None) -> Terms:
        """Terms equal to [s_d = kept] ∧ chosen[c] (and P(lp) = value, when given), for
        d = d(lp) whose residency lp's combos decide: s_d = Σ_{x: F1 > F0} (x - v)."""
        terms: Terms = []
        for x in self.combos:
            if x.cand != c.index or x.loop != lp or \
                    (value is not None and x.tau[1] * x.tau[2] != value):
                continue
            if x.f1 > x.f0:
                if kept:
                    terms.append((1, x.var))
                    if x.triv_var is not None:
                        terms.append((-1, x.triv_var))
                elif x.triv_var is not None:
                    terms.append((1, x.triv_var))
            elif not kept:
                terms.append((1, x.var))
        return terms

    def _joint_capacity(self, ind, usize, dims, capacity: int, tag: str, stored,
                        cand=None) -> None:
        """Σ_d usize_d · [kept_d] · value(a_d) · value(b_d) ≤ capacity, as one joint
        indicator w over the tuples that fit (a value per loop, a residency per data that may
        bypass), whose marginals are the value indicators, or in the buffer the pairs (value
        of loop l, residency of d(l)): the convex hull of the capacity's feasible set."""
        be = self.backend
        active = []
        free = []
        for d in Data:
            kept = None if stored is None else stored[d]
            if usize[d] == 0 or kept == [] or not dims[d]:
                continue
            active.append(d)
            if kept is not None:
                free.append(d)
        loops = sorted({lp for d in active for lp in dims[d]})
        worst = sum(usize[d] * max(ind[dims[d][0]]) * max(ind[dims[d][1]]) for d in active)
        if worst <= capacity:
            return
        # A free d whose unrelated loop is one of the joint's loops: its residency is
        # decided by that loop's combos, so the marginal goes over (value, residency).
        paired = {self.unrelated[d]: d for d in free
                  if d in self.unrelated and self.unrelated[d] in loops}
        values = [sorted(ind[lp]) for lp in loops]
        pos = {lp: i for i, lp in enumerate(loops)}
        marg: dict[tuple, list] = {}
        kept_parts: dict[int, list] = {d: [] for d in free if d not in paired.values()}
        for vals in itertools.product(*values):
            sizes = {d: usize[d] * vals[pos[dims[d][0]]] * vals[pos[dims[d][1]]] for d in active}
            base = sum(sizes[d] for d in active if d not in free)
            if base > capacity:
                continue
            for pattern in itertools.product((0, 1), repeat=len(free)):
                if base + sum(sizes[d] for d, k in zip(free, pattern, strict=True) if k) \
                        > capacity:
                    continue
                w = be.bool_var(f"{tag}" + "_".join(map(str, vals)) + "_" +
                                "".join(map(str, pattern)))
                keep = dict(zip(free, pattern, strict=True))
                if cand is not None:
                    self._w_keep.append((w, cand.index, keep))
                for lp, v in zip(loops, vals, strict=True):
                    marg.setdefault((lp, v, keep.get(paired.get(lp))), []).append(w)
                for d, k in keep.items():
                    if k and d in kept_parts:
                        kept_parts[d].append(w)
        for lp in loops:
            for v in ind[lp]:
                for k in ((0, 1) if lp in paired else (None,)):
                    ws = marg.get((lp, v, k), [])
                    # Σ_{w: value(l) = v} w = [value(l) = v]: the marginal over loop l, or
                    # Σ_{w: value(l) = v, s_d = k} w = [value(l) = v ∧ s_d = k] (d = d(l))
                    rhs = [(1, ind[lp][v])] if k is None else \
                        self._kept_terms(cand, lp, bool(k), v)
                    be.add([(1, w) for w in ws] + [(-c, x) for c, x in rhs], "==", 0)
        for d, ws in kept_parts.items():
            # Σ_{w: s_d = 1} w = [s_d = 1] ∧ chosen[c]: d takes room only when kept
            be.add([(1, w) for w in ws] + [(-c, v) for c, v in
                                           self._kept_terms(cand, self.unrelated[d], True)],
                   "==", 0)

    def _objective(self, conv: bool) -> None:
        """Scaled energy, time (cycles) and enumeration rank as linear terms."""
        env = self.problem.env
        costs = env.costs
        floats: list[tuple[float, Any]] = []
        by_cand = {c.index: c for c in self.candidates}
        for c in self.candidates:
            const = c.const + self._fixed_value(
                c, lambda c, d, f0, f1, s: c.energy(d, f0, f1, s))
            floats.append((const, self.chosen[c.index]))
        # energy = Σ_j const_j·chosen[j] + Σ_x E(d, F0, F1, s)·x + Σ_v (E(triv) - E(x))·v
        if conv:
            for x in self.combos:
                if x.loop not in self.data_of_loop:
                    continue
                c = by_cand[x.cand]
                d = self.data_of_loop[x.loop]
                e_nt = c.energy(d, *self._state(x, False))
                floats.append((e_nt, x.var))
                if x.triv_var is not None:
                    floats.append((c.energy(d, *self._state(x, True)) - e_nt, x.triv_var))
        t_upper = self._time_upper()
        values = [k for k, _ in floats]
        worst = sum(abs(k) for k in values)
        if not self.time_fixed:
            values.append(costs.idle)
            worst += costs.idle * t_upper
        self.scaling = sc = choose_scaling(values, worst)
        self.energy_upper = math.ceil(worst * sc.scale) + 1
        self.energy = [(sc.coef(k), v) for k, v in floats if sc.coef(k)]
        self.energy_error = sum(sc.error(k) for k, _ in floats)
        if self.time_fixed:
            self.time = [(c.proc_time, self.chosen[c.index]) for c in self.candidates]
        else:
            self.time = self._variable_time(t_upper, conv)
            idle = sc.coef(costs.idle)
            self.energy_error += sc.error(costs.idle) * t_upper + \
                costs.idle * sc.scale * self.time_error
            if idle:
                self.energy += [(idle * k, v) for k, v in self.time]
        self.rank = self._rank_terms(conv)

    def _per_combo(self, conv: bool, value) -> list[tuple[float, Any]]:
        """Float terms of a per-category quantity value(candidate, d, F0, F1, s)."""
        by_cand = {c.index: c for c in self.candidates}
        terms: list[tuple[float, Any]] = []
        for c in self.candidates:
            fixed = self._fixed_value(c, value)
            if fixed or not conv:
                terms.append((fixed, self.chosen[c.index]))
        if not conv:
            return terms
        for x in self.combos:
            if x.loop not in self.data_of_loop:
                continue
            c, d = by_cand[x.cand], self.data_of_loop[x.loop]
            base = value(c, d, *self._state(x, False))
            terms.append((base, x.var))
            if x.triv_var is not None:
                terms.append((value(c, d, *self._state(x, True)) - base, x.triv_var))
        return terms

    def _variable_time(self, upper: int, conv: bool) -> Terms:
        """time ≥ max(processing, DRAM, array-bus time) as an integer variable."""
        be, env = self.backend, self.problem.env
        time = be.int_var(0, upper, "time")
        # time ≥ Σ_j proc_time_j·chosen[j]
        be.add([(1, time)] + [(-c.proc_time, self.chosen[c.index]) for c in self.candidates],
               ">=", 0)
        error = 0
        if not math.isinf(env.dram_bandwidth):
            words = self._per_combo(conv, lambda c, d, f0, f1, s: c.dram_access[d][0 if s else 1]
                                    * f0)
            row = ceil_row(words, env.dram_bandwidth, active=2 * len(Data))
            error = max(error, row.error)
            dram_time = be.int_var(0, upper, "dram_time")
            # dram_time ≥ ⌈Σ_d (s_d ? kept : streamed words)·F0 / bandwidth⌉, in integers
            be.add([(row.lhs, dram_time)] + [(-k, v) for k, v in row.terms], ">=", 0)
            # time ≥ dram_time
            be.add([(1, time), (-1, dram_time)], ">=", 0)
        if not math.isinf(env.array_bus_width):
            for d in Data:
                words = self._per_combo(
                    conv, lambda c, dd, f0, f1, s, d=d: c.gbuf_access[dd] * f1 * s if dd == d
                    else 0.0)
                row = ceil_row(words, env.array_bus_width, active=2)
                error = max(error, row.error)
                bus_time = be.int_var(0, upper, f"bus_time_{'wio'[d]}")
                # bus_time_d ≥ ⌈s_d·F1·buffer words of d / bus width⌉, in integers
                be.add([(row.lhs, bus_time)] + [(-k, v) for k, v in row.terms], ">=", 0)
                # time ≥ bus_time_d
                be.add([(1, time), (-1, bus_time)], ">=", 0)
        self.time_error = error
        self.vars["time"] = time
        return [(1, time)]

    def _rank_terms(self, conv: bool) -> Terms:
        """nn_dataflow's enumeration rank: candidate, splits of I, O, B, then the orders."""
        be = self.backend
        terms = self._split_rank_terms()
        if not conv:
            return terms
        for k, weight in ((0, 6), (1, 1)):
            for lam_loop, not_nt, yes_nt, w in ORDER_RANK_TERMS:
                q = be.bool_var(f"order_rank{k}_{'iob'[lam_loop]}")
                # q ≥ λ_k(l) + nt_k(yes) - nt_k(no) - 1: q ≥ [λ_k = l ∧ nt_k(yes) ∧ ¬nt_k(no)]
                be.add([(1, q)] + [(-1, v) for _, v in self.lam[k, lam_loop]]
                       + [(-1, v) for _, v in self.nt[k, yes_nt]]
                       + [(1, v) for _, v in self.nt[k, not_nt]], ">=", -1)
                terms.append((weight * w, q))
            for lp, w in ORDER_RANK_LAMBDA.items():
                terms += [(weight * w * c, v) for c, v in self.lam[k, lp]]
        return terms

    # -- reading solutions --------------------------------------------------------------------

    def _chosen_combos(self, values):
        vid = self.backend.var_id
        for c in self.candidates:
            if values.get(vid(self.chosen[c.index]), 0) == 1:
                return c, [x for x in self.combos
                           if x.cand == c.index and values.get(vid(x.var), 0) == 1]
        raise RuntimeError("the solution selects no candidate")

    def decode(self, values):
        c, chosen = self._chosen_combos(values)
        per_loop = {x.loop: x for x in chosen}
        factors = tuple(tuple(per_loop[lp].tau[k] for lp in Loop) for k in range(3))
        if not c.nld.is_conv:
            return c.index, Blocking.from_positions(factors, ((0, 1, 2), (0, 1, 2)))
        positions = []
        for k in (0, 1):
            lam = next((lp for lp in Loop if (per_loop[lp].a if k == 0 else per_loop[lp].b)),
                       NONE)
            positions.append(canonical_positions([factors[k][lp] > 1 for lp in Loop], lam))
        return c.index, Blocking.from_positions(factors, positions)

    def key_of(self, values):
        c, chosen = self._chosen_combos(values)
        if not c.nld.is_conv:
            return (c.index,)
        vid = self.backend.var_id
        key = [c.index]
        for x in sorted((x for x in chosen if x.loop in self.data_of_loop),
                        key=lambda x: self.data_of_loop[x.loop]):
            triv = x.triv_var is not None and values.get(vid(x.triv_var), 0) == 1
            key.append(self._state(x, triv))
        return tuple(key)

    def key_terms(self, key):
        terms: Terms = [(1, self.chosen[key[0]])]
        for state, d in zip(key[1:], sorted(self.unrelated), strict=False):
            for x in (x for x in self.combos
                      if x.cand == key[0] and x.loop == self.unrelated[d]):
                if x.triv_var is None:
                    if self._state(x, False) == state:
                        terms.append((1, x.var))
                    continue
                if self._state(x, False) == state:
                    terms += [(1, x.var), (-1, x.triv_var)]
                if self._state(x, True) == state:
                    terms.append((1, x.triv_var))
        return terms
