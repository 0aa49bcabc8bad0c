"""Loop blocking per layer: CP-SAT, MILP and exhaustive search vs nn_dataflow 2.1, side by side.

Every distinct CONV/FC layer of AlexNet, VGG-16 and ResNet-50 on the ISCA'16 node (16x16 PEs,
512 B register files, 128 kB global buffer, energies 1/200/6/2/1) at batch 16, with bypass
allowed (nn_dataflow's tool default, which its closed-form solver needs). Fast columns take the
least of three runs (this machine shares its CPUs). For each layer, in this process, one after
another: nnsolve's CP-SAT and MILP (HiGHS) models, nnsolve's
exhaustive search, nn_dataflow's exhaustive search (2 processes: the most this 2-core machine
gives it) and nn_dataflow's closed-form solver. Then whole AlexNet: nnsolve CP-SAT vs
nn_dataflow's solver (its NNDataflow driver).

    python benchmarks/loop_blocking.py              # all (about an hour: nn_dataflow's
                                                    # exhaustive VGG/ResNet layers dominate)
    python benchmarks/loop_blocking.py --quick      # AlexNet only
    python benchmarks/loop_blocking.py --no-nn-dataflow-exhaustive

``--engines`` instead times each exact engine (cpsat, milp, exhaustive, auto) through
``solve_layer``, as a solve does, on the same layers and prints each one's median and max per
layer; ``--before REV`` runs the same timings on a ``git archive`` of REV in a subprocess and
prints both side by side (methods REV does not have show "-"); the trees take turns for
``--rounds`` rounds (each layer keeps its least time). The exhaustive search and auto
start each run with the scheme-space caches cleared (a layer solved cold, as in a fresh
process); the fast engines take the least of three runs a round, MILP one run in the first
round only.

    python benchmarks/loop_blocking.py --engines --before dcfdece
    python benchmarks/loop_blocking.py --engines --before dcfdece --methods cpsat,exhaustive,auto \
        --clock cpu --rounds 3                      # CPU time: steadier on a shared machine
    python benchmarks/loop_blocking.py --threshold --clock cpu   # the data behind auto's rule
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
if "--tree" in sys.argv:      # --engines of another revision (a git archive): its nnsolve
    ROOT = Path(sys.argv[sys.argv.index("--tree") + 1]).resolve()
sys.path.insert(0, str(ROOT))

import ortools.sat.python.cp_model  # noqa: E402,F401  (import cost kept out of the timings)

from nnsolve.formats.network_yaml import load_zoo  # noqa: E402
from nnsolve.formats.scenario_yaml import load_scenario  # noqa: E402
from nnsolve.formulations.loop_blocking import build_cpsat, build_milp  # noqa: E402
from nnsolve.heuristics import exhaustive  # noqa: E402
from nnsolve.heuristics.exhaustive import search_layer, search_size  # noqa: E402
from nnsolve.methods import METHODS  # noqa: E402
from nnsolve.model.evaluate import LayerProblem  # noqa: E402
from nnsolve.model.pins import Pins  # noqa: E402
from nnsolve.search.layer_solve import solve_layer  # noqa: E402
from nnsolve.search.network_search import solve  # noqa: E402
from tests import oracle  # noqa: E402

SCENARIO = ROOT / "configs" / "eyeriss_isca16_alexnet.yaml"
OVERRIDES = ["search.bypass=[ifmap, ofmap, weight]"]


#: The clock of ``timed``: wall time, or with --clock cpu this process's CPU time (all its
#: threads; steadier than wall time when other jobs share the CPUs).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK = CLOCKS["wall"]


def timed(fn, repeat: int = 1):
    """(result, seconds): the least of ``repeat`` runs (this machine's CPU time is shared
    with other virtual machines, so the least is the best estimate of the cost)."""
    best = None
    for _ in range(repeat):
        start = CLOCK()
        out = fn()
        seconds = CLOCK() - start
        best = seconds if best is None else min(best, seconds)
    return out, best


def layers(networks):
    seen = {}
    for net in networks:
        for name, layer in load_zoo(net).layers.items():
            if layer.is_conv:
                seen.setdefault(layer, f"{net}/{name}")
    return seen


ENGINES = ("cpsat", "milp", "exhaustive", "auto")


def cold(fn):
    """``fn`` with the exhaustive search's scheme-space caches cleared first."""
    def run():
        exhaustive._SPACES.clear()
        exhaustive._COUNTS.clear()
        return fn()
    return run


def engine_times(nets, methods) -> dict:
    """Per method: per layer seconds (least of three runs; MILP one), objective and engine."""
    sc = load_scenario(SCENARIO, OVERRIDES)
    hw, costs, bypass = sc.hardware, sc.costs, sc.search.bypass_mask
    warm = LayerProblem.single_node(load_zoo("mlp_s")["fc3"], 1, hw, costs, bypass)
    methods = [m for m in methods if m in METHODS]
    for m in methods:
        solve_layer("warm", warm, m)
    out = {m: [] for m in methods}
    for layer, where in layers(nets).items():
        problem = LayerProblem.single_node(layer, sc.batch, hw, costs, bypass)
        for m in methods:
            got, seconds = timed(cold(lambda p=problem, m=m, w=where: solve_layer(w, p, m)),
                                 repeat=1 if m == "milp" else 3)
            out[m].append({"layer": where, "seconds": seconds, "energy": got.result.energy,
                           "status": str(got.status), "engine": getattr(got, "engine", None),
                           "schemes": search_size(problem, Pins())})
        print(where, " ".join(f"{m} {out[m][-1]['seconds'] * 1e3:.1f} ms" for m in methods),
              file=sys.stderr, flush=True)
    return out


def engines_main(args, console) -> None:
    nets = ["alex_net"] if args.quick else ["alex_net", "vgg_net", "resnet50"]
    methods = args.methods.split(",")
    if args.tree:                  # the child of --before: this revision's numbers only
        Path(args.json).write_text(json.dumps(engine_times(nets, methods)))
        return
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": ROOT}
        if args.before:
            tree = Path(tmp) / "before"
            tree.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before],
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
            trees = {args.before: tree, **trees}
        # Rounds alternate the trees, and each layer keeps its least time over the rounds:
        # this machine's CPUs are shared, and load that drifts would favour one tree.
        for round_ in range(args.rounds):
            # MILP takes seconds a layer: timed in the first round only.
            wanted = [m for m in methods if m != "milp" or round_ == 0]
            if not wanted:
                break
            for label, tree in trees.items():
                rows = Path(tmp) / "rows.json"
                cmd = [sys.executable, str(Path(__file__).resolve()), "--engines", "--tree",
                       str(tree), "--json", str(rows), "--methods", ",".join(wanted)]
                subprocess.run(cmd + (["--quick"] if args.quick else []) +
                               ["--clock", args.clock], check=True)
                got = json.loads(rows.read_text())
                if label not in runs:
                    runs[label] = got
                    continue
                for m, layer_rows in got.items():
                    for old, new in zip(runs[label][m], layer_rows, strict=True):
                        old["seconds"] = min(old["seconds"], new["seconds"])
    table = Table(title=f"Per-layer {args.clock} time of each exact engine over the distinct "
                        f"CONV/FC layers of {', '.join(nets)} (batch 16, ISCA'16 node, bypass "
                        "allowed)",
                  title_justify="left")
    for col in ("method", *(f"{r} {k}" for r in runs for k in ("median", "max")),
                *(["speed-up (median)"] if len(runs) == 2 else [])):
        table.add_column(col, justify="left" if col == "method" else "right")
    energies = {}
    for m in methods:
        cells, medians = [], []
        for rows in runs.values():
            if m not in rows:
                cells += ["-", "-"]
                medians.append(None)
                continue
            secs = [r["seconds"] for r in rows[m]]
            medians.append(statistics.median(secs))
            cells += [f"{medians[-1] * 1e3:.1f} ms", f"{max(secs) * 1e3:.1f} ms"]
            for r in rows[m]:
                energies.setdefault(r["layer"], set()).add(r["energy"])
        if len(runs) == 2:
            cells.append(f"{medians[0] / medians[1]:.2f}x" if None not in medians else "-")
        table.add_row(m, *cells)
    console.print(table)
    mine = runs["this tree"]
    if "auto" in mine:
        picks = [r["engine"] for r in mine["auto"]]
        console.print("auto's engines: " + ", ".join(f"{e} {picks.count(e)}"
                                                     for e in sorted(set(picks))))
    for m in mine:
        total = sum(r["seconds"] for r in mine[m])
        console.print(f"{m}: {total:.2f} s over {len(mine[m])} layers, all optimal: "
                      f"{all(r['status'] == 'optimal' for r in mine[m])}")
    console.print("every engine, both trees, the same energy on every layer: "
                  f"{all(len(e) == 1 for e in energies.values())}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))


def threshold_main(console) -> None:
    """Exhaustive (cold and warm caches) and CP-SAT per layer against the space size, zoo
    layers at batches 1 to 256: the data behind search/portfolio.py's threshold."""
    sc = load_scenario(SCENARIO, OVERRIDES)
    hw, costs, bypass = sc.hardware, sc.costs, sc.search.bypass_mask
    nets = ["alex_net", "vgg_net", "resnet50", "googlenet", "mobilenet_v1", "mlp_l"]
    rows = []
    for batch in (1, 16, 64, 256):
        for layer in layers(nets):
            problem = LayerProblem.single_node(layer, batch, hw, costs, bypass)
            size = search_size(problem, Pins())
            if not problem.mapping.candidates or size > 2_000_000:
                continue
            _, t_cold = timed(cold(lambda p=problem: search_layer(p)))
            _, t_warm = timed(lambda p=problem: search_layer(p))
            _, t_cp = timed(lambda p=problem: build_cpsat(p).solve(workers=1))
            rows.append((size, t_cold, t_warm, t_cp))
    table = Table(title="exhaustive vs CP-SAT by space size", title_justify="left")
    for col in ("schemes", "layers", "exhaustive cold", "exhaustive warm", "CP-SAT",
                "CP-SAT faster than cold"):
        table.add_column(col, justify="right")
    edges = [0, 10_000, 30_000, 60_000, 100_000, 200_000, 500_000, 2_000_000]
    for lo, hi in itertools.pairwise(edges):
        group = [r for r in rows if lo < r[0] <= hi]
        if not group:
            continue
        med = [statistics.median(r[k] for r in group) * 1e3 for k in (1, 2, 3)]
        table.add_row(f"{lo:,}-{hi:,}", str(len(group)), *(f"{x:.1f} ms" for x in med),
                      f"{sum(r[3] < r[1] for r in group)}/{len(group)}")
    console.print(table)
    # The rule: enumerate up to T schemes, else CP-SAT; its total over the layers.
    cpsat_all = sum(r[3] for r in rows)
    console.print(f"{len(rows)} layers; all CP-SAT {cpsat_all:.2f} s, all enumerated cold "
                  f"{sum(r[1] for r in rows):.2f} s / warm {sum(r[2] for r in rows):.2f} s; "
                  "auto with threshold T (cold / warm):")
    for threshold in (10_000, 20_000, 40_000, 50_000, 60_000, 80_000, 100_000, 200_000):
        cold_sum, warm_sum = (sum(r[k] if r[0] <= threshold else r[3] for r in rows)
                              for k in (1, 2))
        console.print(f"  T = {threshold:>7,}: {cold_sum:.2f} s / {warm_sum:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="AlexNet only")
    parser.add_argument("--no-nn-dataflow-exhaustive", action="store_true",
                        help="skip nn_dataflow's exhaustive search (the slow column)")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--engines", action="store_true",
                        help="time each exact engine per layer (see the module doc)")
    parser.add_argument("--methods", default=",".join(ENGINES),
                        help="with --engines: the methods to time")
    parser.add_argument("--before", metavar="REV",
                        help="with --engines: the same timings on git revision REV too")
    parser.add_argument("--rounds", type=int, default=2,
                        help="with --engines: rounds (alternating the trees; least kept)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="with --engines: wall time, or CPU time of the process (steadier "
                             "on a shared machine)")
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--threshold", action="store_true",
                        help="exhaustive vs CP-SAT by space size (auto's rule)")
    args = parser.parse_args()
    global CLOCK
    CLOCK = CLOCKS[args.clock]
    console = Console(width=200)
    if args.engines:
        return engines_main(args, console)
    if args.threshold:
        return threshold_main(console)
    sc = load_scenario(SCENARIO, OVERRIDES)
    hw, costs, bypass = sc.hardware, sc.costs, sc.search.bypass_mask
    nets = ["alex_net"] if args.quick else ["alex_net", "vgg_net", "resnet50"]
    # Warm up each solver once (lazy initialisation is not part of a layer's time).
    warm = LayerProblem.single_node(load_zoo("mlp_s")["fc3"], 1, hw, costs, bypass)
    build_cpsat(warm).solve(workers=1)
    build_milp(warm).solve(workers=1)
    rows = []
    for layer, where in layers(nets).items():
        problem = LayerProblem.single_node(layer, sc.batch, hw, costs, bypass)
        cp, t_cp = timed(lambda p=problem: build_cpsat(p).solve(workers=1), repeat=3)
        mi, t_mi = timed(lambda p=problem: build_milp(p).solve(workers=1))
        ex, t_ex = timed(lambda p=problem: search_layer(p), repeat=3)
        nds, t_nds = timed(lambda lyr=layer: oracle.search_layer(lyr, sc.batch, hw, costs,
                                                                  bypass, solve=True), repeat=3)
        row = {"layer": where, "cpsat_s": t_cp, "milp_s": t_mi, "exhaustive_s": t_ex,
               "nnd_solver_s": t_nds, "energy": ex.best.result.energy,
               "cpsat_energy": cp.objective, "milp_energy": mi.objective,
               "cpsat_status": cp.status, "milp_status": mi.status,
               "nnd_solver_energy": nds["cost"] if nds else None}
        if not args.no_nn_dataflow_exhaustive:
            nde, t_nde = timed(lambda lyr=layer: oracle.search_layer(
                lyr, sc.batch, hw, costs, bypass, nprocesses=2))
            row.update(nnd_exhaustive_s=t_nde, nnd_exhaustive_energy=nde["cost"])
        rows.append(row)
        console.print(f"{where}: cpsat {t_cp * 1e3:.0f} ms, milp {t_mi:.2f} s, exhaustive "
                      f"{t_ex * 1e3:.0f} ms" + (f", nn_dataflow exhaustive "
                                                f"{row['nnd_exhaustive_s']:.1f} s"
                                                if "nnd_exhaustive_s" in row else ""))

    table = Table(title=f"Loop blocking per layer (batch {sc.batch}, ISCA'16 node, bypass "
                        "allowed): seconds, and energy", title_justify="left")
    cols = ["layer", "CP-SAT", "MILP", "exhaustive", "nn_dataflow exhaustive",
            "nn_dataflow solver", "optimal energy", "all equal", "solver loss"]
    for col in cols:
        table.add_column(col, justify="left" if col == "layer" else "right")
    for r in rows:
        equal = r["cpsat_energy"] == r["milp_energy"] == r["energy"] and \
            r.get("nnd_exhaustive_energy", r["energy"]) == r["energy"]
        loss = (r["nnd_solver_energy"] / r["energy"] - 1) if r["nnd_solver_energy"] else None
        table.add_row(r["layer"], f"{r['cpsat_s'] * 1e3:.0f} ms", f"{r['milp_s']:.2f} s",
                      f"{r['exhaustive_s'] * 1e3:.0f} ms",
                      f"{r['nnd_exhaustive_s']:.1f} s" if "nnd_exhaustive_s" in r else "-",
                      f"{r['nnd_solver_s'] * 1e3:.0f} ms", f"{r['energy']:.6g}",
                      "yes" if equal else "NO", f"{loss:.2%}" if loss is not None else "-")
    console.print(table)

    def med(key):
        return statistics.median(r[key] for r in rows if key in r)

    console.print(f"medians over {len(rows)} layers: CP-SAT {med('cpsat_s') * 1e3:.0f} ms "
                  f"(max {max(r['cpsat_s'] for r in rows) * 1e3:.0f} ms, all proven optimal: "
                  f"{all(r['cpsat_status'] == 'optimal' for r in rows)}), MILP "
                  f"{med('milp_s'):.2f} s, exhaustive {med('exhaustive_s') * 1e3:.0f} ms, "
                  f"nn_dataflow solver {med('nnd_solver_s') * 1e3:.0f} ms"
                  + (f", nn_dataflow exhaustive {med('nnd_exhaustive_s'):.1f} s"
                     if not args.no_nn_dataflow_exhaustive else ""))

    # Whole AlexNet: exact CP-SAT vs nn_dataflow's closed-form solver, same run.
    ours, t_ours = timed(lambda: solve(sc, "cpsat"), repeat=3)
    theirs, t_theirs = timed(lambda: oracle.search_network("alex_net", sc.batch, hw, costs,
                                                           bypass, solve=True), repeat=3)
    console.print(f"whole AlexNet: nnsolve CP-SAT {t_ours:.2f} s, energy {ours.energy:.6g} "
                  f"({ours.status}, gap {ours.gap:.0%}); nn_dataflow --solve-loopblocking "
                  f"{t_theirs:.2f} s, energy {theirs.total_cost:.6g} "
                  f"(+{theirs.total_cost / ours.energy - 1:.2%})")
    if args.json:
        Path(args.json).write_text(json.dumps({"layers": rows, "alexnet": {
            "cpsat_s": t_ours, "cpsat_energy": ours.energy, "nnd_solver_s": t_theirs,
            "nnd_solver_energy": theirs.total_cost}}, indent=1))


if __name__ == "__main__":
    main()
