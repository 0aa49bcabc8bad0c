"""Inter-layer pipelining on TANGRAM's configuration: nnsolve vs nn_dataflow 2.1.

Every zoo network from configs/tangram_pipeline/ (16x16 tiles, 2D memory, 8x8 PEs, 64 B
register files, 32 kB global buffers, hybrid + batch + ifmap partitioning, buffer sharing,
save-writeback, inter-layer pipelining, batch 64). For each: nnsolve's pipelined search
(nn_dataflow's beam of width 1 over segment chains, every layer solved exactly) with the
segment-selection bound, and nn_dataflow's own search in a child process under a time limit
(benchmarks/nnd_runner.py, killed at the limit). Columns: wall seconds, total energy (cost
units), total time (cycles), nnsolve's proven bound and gap, and energy / nn_dataflow's.

Both sides use nn_dataflow's element-wise rule (nnsolve: ``ModelRules(eltwise_ifmaps=
"nn_dataflow")``, docs/divergences.md section 2), so the energies are comparable.

    python benchmarks/pipelining.py                           # every nn_dataflow zoo network
    python benchmarks/pipelining.py --nets mlp_s,alex_net     # some
    python benchmarks/pipelining.py --limit 600 --no-nnd      # nn_dataflow limit, or none
    python benchmarks/pipelining.py --family tetris --nets mlp_s,mlp_m,lstm_phoneme

``--family tetris`` takes configs/tetris_4x4/ (4x4 nodes, 3D memory, hybrid partitioning,
batch 16) with pipelining and save-writeback switched on: a size on which nn_dataflow's
search finishes, so energies can be compared.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from multi_node import nnd_args  # noqa: E402
from nnd_runner import run_nn_dataflow  # noqa: E402

from nnsolve.formats.network_yaml import load_zoo, zoo_names  # noqa: E402
from nnsolve.formats.scenario_yaml import load_scenario  # noqa: E402
from nnsolve.model.mapping import ModelRules  # noqa: E402
from nnsolve.search.network_search import solve  # noqa: E402

NND_RULES = ModelRules(eltwise_ifmaps="nn_dataflow")
FAMILIES = {"tangram": ("configs/tangram_pipeline/{net}.yaml", []),
            "tetris": ("configs/tetris_4x4/{net}.yaml",
                       ["search.interlayer=true", "search.save_writeback=true"])}


def run(net: str, limit: float, nnd: bool, total_limit: float | None,
        family: str = "tangram") -> dict:
    config, overrides = FAMILIES[family]
    sc = load_scenario(ROOT / config.format(net=net), overrides)
    if total_limit is not None:
        sc = replace(sc, solver=replace(sc.solver, total_time_limit_s=total_limit))
    start = time.perf_counter()
    res = solve(sc, rules=NND_RULES)
    row = {"net": net, "seconds": time.perf_counter() - start, "energy": res.energy,
           "time": res.time, "bound": res.bound, "gap": res.gap,
           "segments": len(res.segments or []),
           "timed_out": any("time limit" in n for n in res.notes), "nnd": None}
    if nnd:
        args = nnd_args(sc)
        args["net"] = net
        out = run_nn_dataflow(**args, nprocesses=2, time_limit_s=limit)
        row["nnd"] = {"seconds": out["seconds"], "search": out["search_seconds"],
                      "energy": out["energy"], "time": out["time"],
                      "finished": out["finished"], "error": out["error"]}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # nn_dataflow has no depthwise layer: the MobileNets run only with --no-nnd.
    expressible = [n for n in zoo_names()
                   if all(layer.kind != "dwconv" for layer in load_zoo(n).layers.values())]
    parser.add_argument("--nets", default=",".join(expressible),
                        help="comma-separated zoo networks (default: all that nn_dataflow "
                             "can express)")
    parser.add_argument("--limit", type=float, default=600.0,
                        help="nn_dataflow wall-clock limit per network, seconds")
    parser.add_argument("--total-limit", type=float, default=None,
                        help="nnsolve's solver.total_time_limit_s (default: the config's)")
    parser.add_argument("--no-nnd", action="store_true", help="skip nn_dataflow")
    parser.add_argument("--family", choices=sorted(FAMILIES), default="tangram",
                        help="tangram: configs/tangram_pipeline; tetris: configs/tetris_4x4 "
                             "with pipelining on")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    console = Console(width=200)
    rows = []
    for net in args.nets.split(","):
        console.print(f"running {net} ...")
        rows.append(run(net.strip(), args.limit, not args.no_nnd, args.total_limit,
                        args.family))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))

    title = {"tangram": "TANGRAM 16x16", "tetris": "TETRIS 4x4"}[args.family]
    table = Table(title=f"{title} with pipelining, whole network: nnsolve (beam width 1, "
                        "exact layers, segment-selection bound) vs nn_dataflow",
                  title_justify="left")
    for col in ("network", "nnsolve s", "energy", "time", "bound gap", "segments",
                "nn_dataflow s", "nn_dataflow energy", "nn_dataflow time",
                "energy / nn_dataflow"):
        table.add_column(col, justify="left" if col == "network" else "right")
    for r in rows:
        n = r["nnd"]
        if n is None:
            nnd_cells = ["not run", "-", "-", "-"]
        elif n["finished"] and n["energy"] is not None:
            nnd_cells = [f"{n['seconds']:.1f}", f"{n['energy']:,.0f}", f"{n['time']:,.0f}",
                         f"{r['energy'] / n['energy']:.6f}"]
        else:
            why = "did not finish" if n["error"] == "timeout" else "failed"
            nnd_cells = [f"{why} in {n['seconds']:.0f}", "-", "-", "-"]
        gap = f"{r['gap']:.2%}" if r["gap"] is not None else "-"
        seconds = f"{r['seconds']:.1f}" + (" (limit)" if r["timed_out"] else "")
        table.add_row(r["net"], seconds, f"{r['energy']:,.0f}", f"{r['time']:,.0f}", gap,
                      str(r["segments"]), *nnd_cells)
    console.print(table)


if __name__ == "__main__":
    main()
