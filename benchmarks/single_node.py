"""Whole networks on one node: nnsolve's exhaustive search vs nn_dataflow 2.1, side by side.

For each case, three solves of the same problem in this process, one after another:
nnsolve's exhaustive search (one process), nn_dataflow's exhaustive search (its NNDataflow
driver, 2 processes: the most this 2-core machine gives it), and nn_dataflow's closed-form
`--solve-loopblocking`. Bypass is allowed for all data (nn_dataflow's tool default), because
its solver needs it. Prints wall seconds, total energy, and the ratios to nn_dataflow's
exhaustive search.

    python benchmarks/single_node.py                # all cases (about an hour, most of it
                                                    # nn_dataflow's exhaustive VGG-16)
    python benchmarks/single_node.py --quick        # AlexNet only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nnsolve.formats.scenario_yaml import load_scenario  # noqa: E402
from nnsolve.search.network_search import solve  # noqa: E402
from tests import oracle  # noqa: E402

CASES = [
    ("AlexNet, ISCA'16 node, b16", "configs/eyeriss_isca16_alexnet.yaml", []),
    ("AlexNet, ISSCC'16 chip, b4", "configs/eyeriss_isscc16_alexnet.yaml", []),
    ("VGG-16, ISCA'16 node, b16", "configs/eyeriss_isca16_alexnet.yaml",
     ["network=vgg_net", "name=eyeriss-isca16-vgg16"]),
]
ALL_BYPASS = ["search.bypass=[ifmap, ofmap, weight]"]


def run_case(label: str, config: str, overrides: list[str]) -> dict:
    sc = load_scenario(ROOT / config, overrides + ALL_BYPASS)
    net_module = {"AlexNet": "alex_net", "VGG": "vgg_net"}[sc.network.name]
    bypass = sc.search.bypass_mask
    row = {"case": label}

    start = time.perf_counter()
    ours = solve(sc, "exhaustive")
    row["nnsolve_s"] = time.perf_counter() - start
    row["nnsolve_energy"] = ours.energy

    for key, solver, procs in (("nnd_exh", False, 2), ("nnd_solver", True, 1)):
        start = time.perf_counter()
        top = oracle.search_network(net_module, sc.batch, sc.hardware, sc.costs, bypass,
                                    solve=solver, nprocesses=procs)
        row[f"{key}_s"] = time.perf_counter() - start
        row[f"{key}_energy"] = top.total_cost if top is not None else float("nan")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="AlexNet cases only")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    cases = [c for c in CASES if not (args.quick and "VGG" in c[0])]
    rows = []
    console = Console(width=200)
    for case in cases:
        console.print(f"running {case[0]} ...")
        rows.append(run_case(*case))

    table = Table(title="Single node, whole network: wall seconds and total energy "
                        "(cost units)", title_justify="left")
    for col in ("case", "nnsolve exhaustive", "nn_dataflow exhaustive (2 proc)",
                "nn_dataflow solver", "speed-up vs exhaustive", "energy / exhaustive",
                "solver energy / exhaustive"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        table.add_row(
            r["case"],
            f"{r['nnsolve_s']:.2f} s  {r['nnsolve_energy']:.6g}",
            f"{r['nnd_exh_s']:.1f} s  {r['nnd_exh_energy']:.6g}",
            f"{r['nnd_solver_s']:.2f} s  {r['nnd_solver_energy']:.6g}",
            f"{r['nnd_exh_s'] / r['nnsolve_s']:.0f}x",
            f"{r['nnsolve_energy'] / r['nnd_exh_energy']:.9f}",
            f"{r['nnd_solver_energy'] / r['nnd_exh_energy']:.4f}")
    console.print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
