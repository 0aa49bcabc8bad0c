"""Whole networks on node arrays: nnsolve vs nn_dataflow 2.1, side by side in one run.

Rows (no inter-layer pipelining; every layer on the whole array):
(a) AlexNet b16, TETRIS 4x4 (3D memory), hybrid partitioning: nnsolve cpsat, exhaustive and
    analytical vs nn_dataflow's --solve-loopblocking and its exhaustive search;
(b) MLP-S, MLP-M, LSTM-phoneme b16 on the same 4x4 array with buffer sharing: nnsolve cpsat
    (exact branch and bound under sharing) vs nn_dataflow's exhaustive search;
(c) AlexNet and VGG-16 on TANGRAM 16x16 (2D memory, hybrid + batch + ifmap partitioning):
    nnsolve exhaustive and cpsat vs nn_dataflow's exhaustive search under a time limit.

nn_dataflow runs in a child process (benchmarks/nnd_runner.py) with 2 processes, killed at
the limit ("did not finish in N s"). Prints wall seconds and total energy (cost units). Its
wall time includes forking and importing nn_dataflow and the network; the speed-up divides its
search time alone (``search_seconds``) by nnsolve's solve time (scenario already loaded).

The comparison is on nn_dataflow's own model: nnsolve solves under
``ModelRules(eltwise_ifmaps="nn_dataflow")``, which counts one input per element-wise pass as
2.1 does (docs/divergences.md section 2). Where a network has element-wise layers (the LSTMs),
the last column also gives nnsolve's energy under its default rule, which reads every input.

    python benchmarks/multi_node.py                  # all rows (about an hour)
    python benchmarks/multi_node.py --limit 300      # nn_dataflow time limit per run (s)
    python benchmarks/multi_node.py --rows a         # some rows only
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from nnd_runner import run_nn_dataflow  # noqa: E402

from nnsolve.formats.scenario_yaml import load_scenario  # noqa: E402
from nnsolve.model.layer import ELTWISE  # noqa: E402
from nnsolve.model.mapping import ModelRules  # noqa: E402
from nnsolve.search.network_search import solve  # noqa: E402

NND_RULES = ModelRules(eltwise_ifmaps="nn_dataflow")

TETRIS = "configs/tetris_4x4/{net}.yaml"
TANGRAM = "configs/tangram_16x16/{net}.yaml"

# (row, label, config, overrides, nnsolve methods, nn_dataflow runs (label, solver?))
CASES = [
    ("a", "AlexNet b16, 4x4 3D, hybrid", TETRIS.format(net="alex_net"), [],
     ["cpsat", "exhaustive", "analytical"], [("solver", True), ("exhaustive", False)]),
    ("b", "MLP-S b16, 4x4 3D, buffer sharing", TETRIS.format(net="mlp_s_bufshr"), [],
     ["cpsat"], [("exhaustive", False)]),
    ("b", "MLP-M b16, 4x4 3D, buffer sharing", TETRIS.format(net="mlp_m_bufshr"), [],
     ["cpsat"], [("exhaustive", False)]),
    ("b", "LSTM-phoneme b16, 4x4 3D, buffer sharing",
     TETRIS.format(net="lstm_phoneme_bufshr"), [], ["cpsat"], [("exhaustive", False)]),
    ("c", "AlexNet b64, 16x16 2D, hybrid+batch+ifmaps", TANGRAM.format(net="alex_net"), [],
     ["exhaustive", "cpsat"], [("exhaustive", False)]),
    ("c", "VGG-16 b64, 16x16 2D, hybrid+batch+ifmaps", TANGRAM.format(net="vgg_net"), [],
     ["exhaustive", "cpsat"], [("exhaustive", False)]),
]


def nnd_args(sc) -> dict:
    hw, s, c = sc.hardware, sc.search, sc.costs
    return dict(batch=sc.batch, nodes=tuple(hw.nodes), pe_array=tuple(hw.pe_array),
                regf_words=hw.regf_words, gbuf_words=hw.gbuf_words, memory=hw.memory,
                costs={"mac": c.mac, "mem_hier": tuple(c.mem_hier), "noc_hop": c.noc_hop,
                       "idle": c.idle},
                bypass=tuple(s.bypass_mask), hybrid=s.partition == "hybrid",
                batch_partition=s.batch_partition, ifmap_partition=s.ifmap_partition,
                access_forwarding=s.access_forwarding, gbuf_sharing=s.gbuf_sharing,
                interlayer=s.interlayer, save_writeback=s.save_writeback,
                time_overhead=s.pipeline_time_overhead, max_degree=s.pipeline_max_degree,
                interlayer_opt=s.interlayer_opt, goal={"energy": "e", "delay": "d",
                                                       "edp": "ed"}[s.goal])


def run_case(label, config, overrides, methods, nnd_runs, limit) -> dict:
    sc = load_scenario(ROOT / config, overrides)
    row = {"case": label, "nnsolve": {}, "nnd": {}, "own_rules": None}
    for method in methods:
        start = time.perf_counter()
        res = solve(sc, method, rules=NND_RULES)
        row["nnsolve"][method] = {"seconds": time.perf_counter() - start,
                                  "energy": res.energy, "status": res.status,
                                  "gap": res.gap}
    if any(layer.kind == ELTWISE for layer in sc.network.layers.values()):
        row["own_rules"] = solve(sc, methods[0]).energy
    args = nnd_args(sc)
    args["net"] = Path(config).stem.removesuffix("_bufshr")
    for name, solver in nnd_runs:
        out = run_nn_dataflow(**args, solve_loopblocking=solver, nprocesses=2,
                              time_limit_s=limit)
        row["nnd"][name] = {"seconds": out["seconds"], "search": out["search_seconds"],
                            "energy": out["energy"], "finished": out["finished"]}
    return row


def _ours(method: str, v: dict) -> str:
    text = f"{method}: {v['seconds']:.1f} s  {v['energy']:.6g}"
    if v["gap"] is not None:
        text += f"  (bound gap {v['gap']:.2%})"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=float, default=900.0,
                        help="nn_dataflow wall-clock limit per run, seconds")
    parser.add_argument("--rows", default="abc", help="which rows: a, b, c")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    console = Console(width=200)
    rows = []
    for row_id, label, config, overrides, methods, nnd in CASES:
        if row_id not in args.rows:
            continue
        console.print(f"running {label} ...")
        rows.append(run_case(label, config, overrides, methods, nnd, args.limit))

    table = Table(title="Node arrays, whole network: wall seconds and total energy (cost "
                        "units); speed-up and energy ratio vs nn_dataflow's exhaustive search",
                  title_justify="left")
    for col in ("case", "nnsolve", "nn_dataflow solver", "nn_dataflow exhaustive (2 proc)",
                "speed-up", "energy / nn_dataflow exhaustive",
                "nnsolve, all element-wise inputs read"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        ours = "\n".join(_ours(m, v) for m, v in r["nnsolve"].items())
        solver = r["nnd"].get("solver")
        exh = r["nnd"].get("exhaustive")
        fast = min(v["seconds"] for m, v in r["nnsolve"].items() if m != "analytical")
        best = min(v["energy"] for m, v in r["nnsolve"].items() if m != "analytical")
        if exh and exh["finished"]:
            exh_s = f"{exh['seconds']:.1f} s ({exh['search']:.1f} s search)  {exh['energy']:.6g}"
            speed = f"{exh['search'] / fast:.0f}x"
            ratio = f"{best / exh['energy']:.6f}"
        else:
            exh_s = f"did not finish in {exh['seconds']:.0f} s" if exh else "-"
            speed = f"> {exh['seconds'] / fast:.0f}x" if exh else "-"
            ratio = "-"
        sol = (f"{solver['seconds']:.1f} s ({solver['search']:.1f} s search)  "
               f"{solver['energy']:.6g}") if solver else "-"
        own = f"{r['own_rules']:.6g}" if r["own_rules"] is not None else "same"
        table.add_row(r["case"], ours, sol, exh_s, speed, ratio, own)
    console.print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
