"""The MILP per layer, before and after its reformulation, beside CP-SAT (issue 18, item 3).

Every distinct CONV/FC layer of AlexNet, VGG-16 and ResNet-50 on the ISCA'16 node at batch
16, bypass allowed (the setting of benchmarks/loop_blocking.py). For each layer: CP-SAT and
the MILP (HiGHS) of this tree, and the MILP of an earlier revision (default dcfdece, before
the reformulation), run from a temporary ``git worktree`` in a child process. Build and solve
are timed together; this tree's columns take the least of three runs (shared CPUs), the
earlier MILP one run (seconds per layer). Every solve must agree on the optimum.

    python benchmarks/milp.py                  # all 39 layers (about 6 minutes)
    python benchmarks/milp.py --quick          # AlexNet only
    python benchmarks/milp.py --before none    # without the earlier revision
    python benchmarks/milp.py --cbc            # add a CBC column (this tree)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "configs" / "eyeriss_isca16_alexnet.yaml"
OVERRIDES = ["search.bypass=[ifmap, ofmap, weight]"]


def timed(fn, repeat: int = 1):
    """(result, least seconds of ``repeat`` runs)."""
    best, out = None, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
        best = seconds if best is None else min(best, seconds)
    return out, best


def measure(tree: str, nets: list[str], engines: list[str], repeat: int) -> list[dict]:
    """Time each engine on each distinct layer, importing nnsolve from ``tree``."""
    sys.path.insert(0, tree)
    import ortools.sat.python.cp_model  # noqa: F401  (import cost kept out of the timings)

    from nnsolve.formats.network_yaml import load_zoo
    from nnsolve.formats.scenario_yaml import load_scenario
    from nnsolve.formulations.loop_blocking import build_cpsat, build_milp
    from nnsolve.model.evaluate import LayerProblem

    sc = load_scenario(SCENARIO, OVERRIDES)
    hw, costs, bypass = sc.hardware, sc.costs, sc.search.bypass_mask
    build = {"cpsat": build_cpsat, "milp": build_milp,
             "cbc": lambda p: build_milp(p, solver="cbc")}
    warm = LayerProblem.single_node(load_zoo("mlp_s")["fc3"], 1, hw, costs, bypass)
    for engine in engines:
        build[engine](warm).solve(workers=1)
    seen: dict = {}
    for net in nets:
        for name, layer in load_zoo(net).layers.items():
            if layer.is_conv:
                seen.setdefault(layer, f"{net}/{name}")
    rows = []
    for layer, where in seen.items():
        problem = LayerProblem.single_node(layer, sc.batch, hw, costs, bypass)
        row = {"layer": where}
        for engine in engines:
            sol, seconds = timed(lambda p=problem, e=engine: build[e](p).solve(workers=1),
                                 repeat=repeat)
            row[engine] = {"s": seconds, "energy": sol.objective, "status": sol.status}
        rows.append(row)
        print(where, "  ".join(f"{e} {row[e]['s']:.3f} s" for e in engines), file=sys.stderr,
              flush=True)
    return rows


def before_rows(rev: str, nets: list[str]) -> list[dict]:
    """The MILP of revision ``rev``, from a temporary worktree, in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "tree")
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", tree, rev],
                       check=True, capture_output=True)
        try:
            out = os.path.join(tmp, "rows.json")
            subprocess.run([sys.executable, __file__, "--worker", tree, "--engines", "milp",
                            "--repeat", "1", "--nets", ",".join(nets), "--json", out],
                           check=True)
            return json.loads(Path(out).read_text())
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", tree],
                           check=False, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="AlexNet only")
    parser.add_argument("--before", default="dcfdece",
                        help="earlier revision for the 'before' column, or none")
    parser.add_argument("--cbc", action="store_true", help="also time CBC (this tree)")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--engines", default="cpsat,milp", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--nets", help=argparse.SUPPRESS)
    args = parser.parse_args()
    nets = args.nets.split(",") if args.nets else \
        (["alex_net"] if args.quick else ["alex_net", "vgg_net", "resnet50"])
    if args.worker:
        rows = measure(args.worker, nets, args.engines.split(","), args.repeat)
        Path(args.json).write_text(json.dumps(rows))
        return
    engines = ["cpsat", "milp"] + (["cbc"] if args.cbc else [])
    rows = measure(str(ROOT), nets, engines, args.repeat)
    if args.before != "none":
        for row, old in zip(rows, before_rows(args.before, nets), strict=True):
            assert row["layer"] == old["layer"]
            row["before"] = old["milp"]
    from rich.console import Console
    from rich.table import Table

    cols = ["cpsat", "milp"] + (["cbc"] if args.cbc else []) + \
        (["before"] if args.before != "none" else [])
    heads = {"cpsat": "CP-SAT", "milp": "MILP (HiGHS)", "cbc": "MILP (CBC)",
             "before": f"MILP {args.before}"}
    table = Table(title="Loop blocking per layer (batch 16, ISCA'16 node, bypass allowed): "
                        "seconds, build + solve", title_justify="left")
    table.add_column("layer")
    for c in cols:
        table.add_column(heads[c], justify="right")
    table.add_column("MILP / CP-SAT", justify="right")
    table.add_column("all equal", justify="right")
    for r in rows:
        energies = {r[c]["energy"] for c in cols}
        table.add_row(r["layer"], *(f"{r[c]['s']:.3f}" for c in cols),
                      f"{r['milp']['s'] / r['cpsat']['s']:.1f}x",
                      "yes" if len(energies) == 1 and all(r[c]["status"] == "optimal"
                                                          for c in cols) else "NO")
    table.add_section()
    for label, agg in (("median", statistics.median), ("max", max)):
        value = {c: agg(r[c]["s"] for r in rows) for c in cols}
        table.add_row(label, *(f"{value[c]:.3f}" for c in cols),
                      f"{value['milp'] / value['cpsat']:.1f}x", "")
    Console(width=160).print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
