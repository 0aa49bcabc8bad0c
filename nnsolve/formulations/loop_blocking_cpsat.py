"""The loop-blocking model for CP-SAT: splits as Booleans, fetch counts as integer variables.

Per candidate j and loop l, one Boolean y[j,l,τ] per allowed split τ = (t0, t1, t2); the
factors t_k(l), t0·t1 and P = t1·t2 are integer variables equal to linear sums of the y's (one
set for all candidates: only the chosen one's y's are 1). Then, as in layer spec §10.3:

    λ[k, ·]      ExactlyOne over {I, O, B, none}: the innermost non-trivial loop of level k
    F0[d] = 1 if λ[0,u] else t0(u);  F1[d] = F0 if triv1[d] elif λ[1,u]: t0(u) else t0·t1(u)
                 (enforcement literals; ofmaps 2f - 1)
    s[d] ⇒ F1 ≥ F0 + 1,  ¬s[d] ⇒ F1 ≤ F0        (bypass permitted; else s[d] = 1)
    G1 = s·F1,  H0 = s·F0                      (enforcement literals)
    Σ_d usize_regf[d] · t2(a)·t2(b) ≤ regf,    Σ_d usize_gbuf[d] · s·P(a)·P(b) ≤ gbuf
                 (AddMultiplicationEquality)
    energy = const + Σ_d kI·F1 + kN·F0 + kG·G1 + kD·H0 + kGD·(F0 - H0)   (scaled to integers)

u is d's unrelated loop (blocking_costs.unrelated): B, O, I for CONV/FC; B, I, I for a
depthwise layer, whose I runs once, so its ifmaps and ofmaps get F0 = F1 = 1.

Splits that cannot fit even with every other factor at 1 are removed before the model is
built (an exact reduction: no feasible scheme uses them).
"""

from __future__ import annotations

import math

from ..model.dims import Data, Loop
from ..model.loop_order import canonical_positions
from ..model.pins import NONE
from ..model.schedule import Blocking
from .blocking_costs import (
    ORDER_RANK_LAMBDA,
    ORDER_RANK_TERMS,
    UNRELATED,
    ceil_row,
    choose_scaling,
    fetch_max,
    unrelated,
)
from .blocking_model import LoopBlockingFormulation


class CpSatLoopBlocking(LoopBlockingFormulation):
    """The exact loop-blocking model of one layer, for CP-SAT."""

    kind = "cpsat"

    def _build(self) -> None:
        self._prune_splits()
        if not self.candidates:
            self.infeasible_reason = "no split of the loops fits the buffers"
            return
        be = self.backend
        m = be.model
        cands = self.candidates
        conv = cands[0].nld.is_conv
        self.f0, self.f1, self.s, self.g1, self.h0, self.triv = {}, {}, {}, {}, {}, {}
        lmax = self._lmax = [max(c.nld.loopcnt[lp] for c in cands) for lp in Loop]

        # Candidate and splits.
        for c in cands:
            self.chosen[c.index] = be.bool_var(f"candidate_{c.index}")
        m.add_exactly_one(list(self.chosen.values()))
        self.y = {}
        for c in cands:
            for lp in Loop:
                ys = []
                for tau in c.triples[lp]:
                    v = be.bool_var(f"y{c.index}_{'iob'[lp]}_{tau[0]}_{tau[1]}_{tau[2]}")
                    self.y[c.index, lp, tau] = v
                    ys.append(v)
                m.add(be.linear([(1, v) for v in ys]) == self.chosen[c.index])

        def linear(lp, value):
            pairs = [(value(tau), self.y[c.index, lp, tau]) for c in cands
                     for tau in c.triples[lp]]
            return be.linear([(k, v) for k, v in pairs if k])

        def values(lp, value):
            return {value(tau) for c in cands for tau in c.triples[lp]}

        # Each factor's domain is the values its splits give (not 1..max): tighter domains
        # propagate through the products and fetch counts below.
        t = {}
        for k in range(3):
            for lp in Loop:
                t[k, lp] = be.int_var_in(values(lp, lambda tau, k=k: tau[k]),
                                         f"t{k}_{'iob'[lp]}")
                m.add(t[k, lp] == linear(lp, lambda tau, k=k: tau[k]))
        t01, big_p = {}, {}
        self._values = {}
        for lp in Loop:
            self._values["t0", lp] = values(lp, lambda tau: tau[0])
            self._values["t01", lp] = values(lp, lambda tau: tau[0] * tau[1])
            self._values["t2", lp] = values(lp, lambda tau: tau[2])
            self._values["P", lp] = values(lp, lambda tau: tau[1] * tau[2])
            t01[lp] = be.int_var_in(self._values["t01", lp], f"t01_{'iob'[lp]}")
            m.add(t01[lp] == linear(lp, lambda tau: tau[0] * tau[1]))
            big_p[lp] = be.int_var_in(self._values["P", lp], f"P_{'iob'[lp]}")
            m.add(big_p[lp] == linear(lp, lambda tau: tau[1] * tau[2]))
        self.vars = {"candidate": self.chosen, "split": self.y, "factor": t,
                     "t0t1": t01, "gbuf_block": big_p}
        nt = {}
        for k in range(3):
            for lp in Loop:
                nt[k, lp] = be.bool_var(f"nontrivial{k}_{'iob'[lp]}")
                m.add(nt[k, lp] == linear(lp, lambda tau, k=k: int(tau[k] > 1)))
        self.vars["nontrivial"] = nt
        if conv:
            self._orders(nt)
            self._fetch(t, t01, nt, lmax)
        self._capacity(t, big_p)
        self._objective(conv, lmax)

    # -- pieces -------------------------------------------------------------------------------

    def _prune_splits(self) -> None:
        """Drop splits that overflow a buffer with every other factor at 1 (exact)."""
        env = self.problem.env
        kept_always = [not env.bypass[d] or self.pins.resident.get(d) is True for d in Data]
        survivors = []
        for c in self.candidates:
            nld = c.nld
            dims = nld.data_loops
            for lp in Loop:
                # The least use is linear in the loop's factor: sizes of the data it indexes
                # times the factor, plus the sizes of the others (whole numbers of words).
                regf_in = sum(nld.usize_regf[d] for d in Data if lp in dims[d])
                regf_out = sum(nld.usize_regf[d] for d in Data if lp not in dims[d])
                gbuf_in = sum(nld.usize_gbuf[d] for d in Data if kept_always[d] and
                              lp in dims[d])
                gbuf_out = sum(nld.usize_gbuf[d] for d in Data if kept_always[d] and
                               lp not in dims[d])
                c.triples[lp] = [
                    tau for tau in c.triples[lp]
                    if regf_in * tau[2] + regf_out <= env.regf_words
                    and gbuf_in * tau[1] * tau[2] + gbuf_out <= env.gbuf_words]
            if all(c.triples[lp] for lp in Loop):
                survivors.append(c)
        self.candidates = survivors

    def _orders(self, nt) -> None:
        """λ: the innermost non-trivial loop per level; nn_dataflow's pruning."""
        be, m, pins = self.backend, self.backend.model, self.pins
        lam = {}
        for k in (0, 1):
            for x in range(4):
                lam[k, x] = be.bool_var(f"innermost{k}_{'iobn'[x]}")
            m.add_exactly_one([lam[k, x] for x in range(4)])
            for lp in Loop:
                m.add_implication(lam[k, lp], nt[k, lp])
                m.add_implication(lam[k, NONE], ~nt[k, lp])
            m.add_bool_or([lam[k, NONE]] + [nt[k, lp] for lp in Loop])
            if k in pins.innermost:
                m.add(lam[k, pins.innermost[k]] == 1)
        for lp in Loop:
            # The innermost loop of level 0 is non-trivial at level 1 only as its innermost.
            m.add_bool_or([~lam[0, lp], lam[1, lp], ~nt[1, lp]])
            # The innermost loop of the nearest outer level with one is trivial at level 2.
            m.add_implication(lam[1, lp], ~nt[2, lp])
            m.add_bool_or([~lam[1, NONE], ~lam[0, lp], ~nt[2, lp]])
        self.lam = lam
        self.vars["innermost"] = lam

    def _fetch(self, t, t01, nt, lmax) -> None:
        """Fetch counts F0, F1, residency s, and the products s·F1, s·F0."""
        be, m, env = self.backend, self.backend.model, self.problem.env
        free = unrelated(self.candidates[0].nld)
        for d in Data:
            u = free[d]
            own = [lp for lp in Loop if lp != u]
            triv = be.bool_var(f"trivial1_{'wio'[d]}")
            m.add_bool_and([~nt[1, own[0]], ~nt[1, own[1]]]).only_enforce_if(triv)
            m.add_bool_or([nt[1, own[0]], nt[1, own[1]]]).only_enforce_if(~triv)
            self.triv[d] = triv
            ofm = d == Data.OFM
            # F0 is 1 or t0(u), F1 one of those or t0·t1(u) (ofmaps 2f - 1).
            counts0 = {2 * x - 1 if ofm else x for x in {1} | self._values["t0", u]}
            counts1 = counts0 | {2 * x - 1 if ofm else x for x in self._values["t01", u]}
            f0 = be.int_var_in(counts0, f"F0_{'wio'[d]}")
            f1 = be.int_var_in(counts1, f"F1_{'wio'[d]}")
            lam0, lam1 = self.lam[0, u], self.lam[1, u]
            raw0 = 2 * t[0, u] - 1 if ofm else t[0, u]
            raw01 = 2 * t01[u] - 1 if ofm else t01[u]
            m.add(f0 == raw0).only_enforce_if(~lam0)
            m.add(f0 == 1).only_enforce_if(lam0)
            m.add(f1 == f0).only_enforce_if(triv)
            m.add(f1 == raw0).only_enforce_if([~triv, lam1])
            m.add(f1 == raw01).only_enforce_if([~triv, ~lam1])
            s = be.bool_var(f"stored_{'wio'[d]}")
            if env.bypass[d]:
                m.add(f1 >= f0 + 1).only_enforce_if(s)
                m.add(f1 <= f0).only_enforce_if(~s)
                g1 = be.int_var_in({0} | counts1, f"sF1_{'wio'[d]}")
                h0 = be.int_var_in({0} | counts0, f"sF0_{'wio'[d]}")
                m.add(g1 == f1).only_enforce_if(s)
                m.add(g1 == 0).only_enforce_if(~s)
                m.add(h0 == f0).only_enforce_if(s)
                m.add(h0 == 0).only_enforce_if(~s)
            else:
                m.add(s == 1)
                g1, h0 = f1, f0
            if d in self.pins.resident:
                m.add(s == int(self.pins.resident[d]))
            self.f0[d], self.f1[d], self.s[d], self.g1[d], self.h0[d] = f0, f1, s, g1, h0
        self.vars.update(fetch0=self.f0, fetch1=self.f1, stored=self.s)

    def _stored(self, d: int):
        """s_d as a literal, or True/False when fixed (local-region layers)."""
        if d in self.s:
            return self.s[d]
        return not self.problem.env.bypass[d]

    def _products(self, what: str, a: int, b: int) -> set[int]:
        """Every product of a value of ``what`` (a factor's domain) of loops a and b."""
        return {x * y for x in self._values[what, a] for y in self._values[what, b]}

    def _capacity(self, t, big_p) -> None:
        """Register-file and global-buffer capacity."""
        be, m, env = self.backend, self.backend.model, self.problem.env
        cands = self.candidates
        dims = cands[0].nld.data_loops
        # Register files: the same unit sizes for every candidate.
        usize = cands[0].nld.usize_regf
        terms = []
        for d in Data:
            if not dims[d] or usize[d] == 0:
                continue
            a, b = dims[d]
            prod = be.int_var_in(self._products("t2", a, b), f"regf_units_{'wio'[d]}")
            m.add_multiplication_equality(prod, [t[2, a], t[2, b]])
            terms.append(int(usize[d]) * prod)
        if terms:
            m.add(sum(terms) <= env.regf_words)
        # Global buffer: per candidate unit sizes, data kept only.
        kept_units = {}
        for d in Data:
            stored = self._stored(d)
            if not dims[d] or stored is False:
                continue
            a, b = dims[d]
            products = self._products("P", a, b)
            hi = max(products)
            prod = be.int_var_in(products, f"gbuf_units_{'wio'[d]}")
            m.add_multiplication_equality(prod, [big_p[a], big_p[b]])
            if stored is True:
                kept_units[d] = prod
                continue
            kept = be.int_var(0, hi, f"gbuf_kept_{'wio'[d]}")
            m.add(kept == prod).only_enforce_if(stored)
            m.add(kept == 0).only_enforce_if(~stored)
            kept_units[d] = kept
        for c in cands:
            total = sum(int(c.nld.usize_gbuf[d]) * v for d, v in kept_units.items())
            if isinstance(total, int):
                continue
            ct = m.add(total <= env.gbuf_words)
            if len(cands) > 1:
                ct.only_enforce_if(self.chosen[c.index])

    def _objective(self, conv: bool, lmax) -> None:
        """Scaled energy, time (cycles) and enumeration rank as linear terms."""
        be, m, env = self.backend, self.backend.model, self.problem.env
        cands = self.candidates
        costs = env.costs
        time_fixed = self.time_fixed
        # Per candidate: float coefficients of (F1, G1, H0, F0) per data, and a constant.
        per_cand = []
        fmax = {}
        for c in cands:
            coefs = []
            const = c.const
            for d in Data:
                if conv:
                    coefs += [(c.k_itcn[d], ("f1", d)), (c.k_gbuf[d], ("g1", d)),
                              (c.k_dram[d] - c.k_dram_streamed[d], ("h0", d)),
                              (c.k_dram_streamed[d] + c.k_noc[d], ("f0", d))]
                else:
                    const += c.energy(d, 1, 1, not env.bypass[d])
            if not time_fixed and not conv:
                # Local-region layers fetch everything once: their time is a constant.
                const += costs.idle * self._constant_time(c)
            per_cand.append((c, const, coefs))
        free = unrelated(cands[0].nld) if conv else UNRELATED
        for d in Data:
            fmax[d] = fetch_max(lmax[free[d]], d == Data.OFM)
        self._fmax = fmax
        worst = max(abs(const) + sum(abs(k) * fmax[ref[1]] for k, ref in coefs)
                    for _, const, coefs in per_cand)
        t_upper = self._time_upper()
        if not time_fixed and conv:
            worst += costs.idle * t_upper
        values = [x for _, const, coefs in per_cand for x in [const] + [k for k, _ in coefs]]
        if not time_fixed and conv:
            values.append(costs.idle)
        self.scaling = sc = choose_scaling(values, worst)
        self.energy_upper = math.ceil(worst * sc.scale) + 1
        var_of = {"f1": self.f1, "g1": self.g1, "h0": self.h0, "f0": self.f0}
        error = 0.0
        energy_terms = []
        for c, const, coefs in per_cand:
            lin = [(sc.coef(k), var_of[ref[0]][ref[1]]) for k, ref in coefs if sc.coef(k)]
            error_c = sc.error(const) + sum(sc.error(k) * fmax[ref[1]] for k, ref in coefs)
            error = max(error, error_c)
            if len(cands) == 1:
                energy_terms += lin + [(sc.coef(const), self.chosen[c.index])]
                continue
            hi = math.ceil(sc.scale * (abs(const) + sum(abs(k) * fmax[ref[1]]
                                                            for k, ref in coefs))) + 1
            e = be.int_var(0, hi, f"energy_{c.index}")
            m.add(e == sum(a * v for a, v in lin) + sc.coef(const)).only_enforce_if(
                self.chosen[c.index])
            m.add(e == 0).only_enforce_if(~self.chosen[c.index])
            energy_terms.append((1, e))
        # Time.
        if time_fixed:
            self.time = [(c.proc_time, self.chosen[c.index]) for c in cands]
        elif not conv:
            self.time = [(self._constant_time(c), self.chosen[c.index]) for c in cands]
        else:
            self.time = self._variable_time(t_upper)
            idle = sc.coef(costs.idle)
            error += sc.error(costs.idle) * t_upper + costs.idle * sc.scale * self.time_error
            if idle:
                energy_terms += [(idle * k, v) for k, v in self.time]
        self.energy = energy_terms
        self.energy_error = error
        self.rank = self._rank_terms(conv)

    def _constant_time(self, c) -> int:
        """Time of a local-region candidate (every fetch count 1), as the evaluator counts it."""
        env = self.problem.env
        dram = [(c.dram_access[d][0] if not env.bypass[d] else c.dram_access[d][1]) * 1
                for d in Data]
        dram_time = 0 if math.isinf(env.dram_bandwidth) else \
            math.ceil(((dram[0] + dram[1]) + dram[2]) / env.dram_bandwidth)
        bus_time = 0
        if not math.isinf(env.array_bus_width):
            gbuf = max(c.gbuf_access[d] * 1 * (not env.bypass[d]) for d in Data)
            bus_time = -(-math.ceil(1.0 * gbuf) // int(env.array_bus_width))
        return max(c.proc_time, bus_time, dram_time)

    def _variable_time(self, upper: int):
        """time = max(processing, DRAM, array-bus time) as an integer variable."""
        be, m, env = self.backend, self.backend.model, self.problem.env
        cands = self.candidates
        time = be.int_var(0, upper, "time")
        m.add(time >= sum(c.proc_time * self.chosen[c.index] for c in cands))
        error = 0
        if not math.isinf(env.dram_bandwidth):
            dram_time = be.int_var(0, upper, "dram_time")
            for c in cands:
                # DRAM words: kept data at DRAM granularity, streamed data at the buffer's.
                words, maxima = [], []
                for d in Data:
                    kept, streamed = c.dram_access[d]
                    words += [(kept - streamed, self.h0[d]), (streamed, self.f0[d])]
                    maxima += [self._fmax[d]] * 2
                row = ceil_row(words, env.dram_bandwidth, maxima)
                error = max(error, row.error)
                ct = m.add(row.lhs * dram_time >= sum(k * v for k, v in row.terms))
                if len(cands) > 1:
                    ct.only_enforce_if(self.chosen[c.index])
            m.add(time >= dram_time)
            self.vars["dram_time"] = dram_time
        if not math.isinf(env.array_bus_width):
            for d in Data:
                bus_time = be.int_var(0, upper, f"bus_time_{'wio'[d]}")
                for c in cands:
                    row = ceil_row([(c.gbuf_access[d], self.g1[d])], env.array_bus_width,
                                   [self._fmax[d]])
                    error = max(error, row.error)
                    ct = m.add(row.lhs * bus_time >= sum(k * v for k, v in row.terms))
                    if len(cands) > 1:
                        ct.only_enforce_if(self.chosen[c.index])
                m.add(time >= bus_time)
        self.time_error = error
        self.vars["time"] = time
        return [(1, time)]

    def _rank_terms(self, conv: bool):
        """nn_dataflow's enumeration rank: candidate, splits of I, O, B, then the orders."""
        be, m = self.backend, self.backend.model
        terms = self._split_rank_terms()
        if not conv:
            return terms
        nt = self.vars["nontrivial"]
        for k, weight in ((0, 6), (1, 1)):
            for lam_loop, not_nt, yes_nt, w in ORDER_RANK_TERMS:
                q = be.bool_var(f"order_rank{k}_{'iob'[lam_loop]}")
                m.add(q >= self.lam[k, lam_loop] + nt[k, yes_nt] - nt[k, not_nt] - 1)
                terms.append((weight * w, q))
            for lp, w in ORDER_RANK_LAMBDA.items():
                terms.append((weight * w, self.lam[k, lp]))
        return terms

    # -- reading solutions --------------------------------------------------------------------

    def _chosen(self, values):
        vid = self.backend.var_id
        for c in self.candidates:
            if values.get(vid(self.chosen[c.index]), 0) == 1:
                return c
        raise RuntimeError("the solution selects no candidate")

    def decode(self, values):
        vid = self.backend.var_id
        c = self._chosen(values)
        taus = [next(tau for tau in c.triples[lp] if values[vid(self.y[c.index, lp, tau])])
                for lp in Loop]
        factors = tuple(tuple(taus[lp][k] for lp in Loop) for k in range(3))
        if not c.nld.is_conv:
            return c.index, Blocking.from_positions(factors, ((0, 1, 2), (0, 1, 2)))
        positions = []
        for k in (0, 1):
            lam = next(x for x in range(4) if values[vid(self.lam[k, x])])
            positions.append(canonical_positions([factors[k][lp] > 1 for lp in Loop], lam))
        return c.index, Blocking.from_positions(factors, positions)

    def key_of(self, values):
        c = self._chosen(values)
        if not c.nld.is_conv:
            return (c.index,)
        vid = self.backend.var_id
        return (c.index,) + tuple((values[vid(self.f0[d])], values[vid(self.f1[d])],
                                   bool(values[vid(self.s[d])])) for d in Data)

    def key_terms(self, key):
        """One literal per data category, equal to [F0, F1, s take the key's values]."""
        terms = [(1, self.chosen[key[0]])]
        for d, (f0, f1, stored) in zip(Data, key[1:], strict=False):
            terms.append((1, self._state_literal(d, f0, f1, stored)))
        return terms

    def _state_literal(self, d: int, f0: int, f1: int, stored: bool):
        """A literal equivalent to F0[d] = f0 ∧ F1[d] = f1 ∧ s[d] = stored (cached)."""
        cache = self.__dict__.setdefault("_state_lits", {})
        if (d, f0, f1, stored) in cache:
            return cache[d, f0, f1, stored]
        be, m = self.backend, self.backend.model
        parts = [self._equal_literal(self.f0[d], f0, f"F0{'wio'[d]}"),
                 self._equal_literal(self.f1[d], f1, f"F1{'wio'[d]}"),
                 self.s[d] if stored else ~self.s[d]]
        lit = be.bool_var(f"state_{'wio'[d]}_{f0}_{f1}_{int(stored)}")
        m.add_bool_and(parts).only_enforce_if(lit)
        m.add_bool_or([~p for p in parts] + [lit])
        cache[d, f0, f1, stored] = lit
        return lit

    def _equal_literal(self, var, value: int, name: str):
        """A literal equivalent to var == value (cached)."""
        cache = self.__dict__.setdefault("_eq_lits", {})
        key = (var.index, value)
        if key not in cache:
            lit = self.backend.bool_var(f"{name}_is_{value}")
            self.backend.model.add(var == value).only_enforce_if(lit)
            self.backend.model.add(var != value).only_enforce_if(~lit)
            cache[key] = lit
        return cache[key]
