"""Inter-layer pipelining on TANGRAM's configuration: nnsolve before and after, and nn_dataflow 2.1.

Every zoo network from configs/tangram_pipeline/ (16x16 tiles, 2D memory, 8x8 PEs, 64 B
register files, 32 kB global buffers, hybrid + batch + ifmap partitioning, buffer sharing,
save-writeback, inter-layer pipelining, batch 64). For each: nnsolve's pipelined search
(nn_dataflow's beam of width 1 over segment chains, every layer solved exactly) with the
segment-selection bound, each solve in a fresh process (benchmarks/pipeline_run.py, so the
peak memory is the network's own and no cache carries over); with ``--before REV`` the same
solve by revision REV (checked out in a temporary git worktree) beside it; and nn_dataflow's
own search in a child process under a time limit (benchmarks/nnd_runner.py, killed at the
limit). Columns: wall seconds of the solve, CPU seconds (worker processes included),
peak resident memory (and the largest worker process's), total energy (cost units), total
time (cycles), nnsolve's proven bound and gap, segments, and energy / nn_dataflow's.

Both sides use nn_dataflow's element-wise rule (nnsolve: ``ModelRules(eltwise_ifmaps=
"nn_dataflow")``, docs/divergences.md section 2), so the energies are comparable.

    python benchmarks/pipelining.py                           # every nn_dataflow zoo network
    python benchmarks/pipelining.py --nets mlp_s,alex_net     # some
    python benchmarks/pipelining.py --before d8f1b83 --no-nnd # against an older revision
    python benchmarks/pipelining.py --limit 600 --no-nnd      # nn_dataflow limit, or none
    python benchmarks/pipelining.py --total-limit 30          # solver.total_time_limit_s
    python benchmarks/pipelining.py --nets alex_net --workers 1,2   # worker processes
    python benchmarks/pipelining.py --table rows.json --before d8f1b83   # reprint a table
    python benchmarks/pipelining.py --family tetris --nets mlp_s,mlp_m,lstm_phoneme

``--family tetris`` takes configs/tetris_4x4/ (4x4 nodes, 3D memory, hybrid partitioning,
batch 16) with pipelining and save-writeback switched on: a size on which nn_dataflow's
search finishes, so energies can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
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

FAMILIES = {"tangram": ("configs/tangram_pipeline/{net}.yaml", []),
            "tetris": ("configs/tetris_4x4/{net}.yaml",
                       ["search.interlayer=true", "search.save_writeback=true"])}


def solve_in(tree: Path, config: Path, overrides: list[str], total_limit: float | None,
             timeout: float) -> dict:
    """One solve by the nnsolve tree ``tree`` in a fresh process (pipeline_run.py): its
    row, or {"error": ...} when it fails or does not finish within ``timeout`` seconds."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "pipeline_run.py"), str(config),
           "--nnd-rules"]
    for o in overrides:
        cmd += ["--set", o]
    if total_limit is not None:
        cmd += ["--total-limit", str(total_limit)]
    env = dict(os.environ, PYTHONPATH=str(tree))
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                             cwd=tree)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:.0f} s"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"failed: {last[:60]}"}
    return json.loads(out.stdout)


@contextmanager
def worktree(rev: str | None):
    """A temporary git worktree of ``rev`` (None: nothing), removed afterwards."""
    if rev is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="nnsolve-before-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                        str(path), rev], check=True)
        try:
            yield path
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(path)], check=False)


def run(net: str, limit: float, nnd: bool, total_limit: float | None, family: str,
        before: Path | None, timeout: float, workers: int | None = None) -> dict:
    pattern, overrides = FAMILIES[family]
    config = ROOT / pattern.format(net=net)
    mine = overrides + ([f"solver.workers={workers}"] if workers is not None else [])
    row = {"net": net, "workers": workers,
           "after": solve_in(ROOT, config, mine, total_limit, timeout),
           "before": None, "nnd": None}
    if before is not None:
        row["before"] = solve_in(before, config, overrides, total_limit, timeout)
    if nnd:
        sc = load_scenario(config, overrides)
        args = nnd_args(sc)
        args["net"] = net
        out = run_nn_dataflow(**args, nprocesses=2, time_limit_s=limit)
        row["nnd"] = {"seconds": out["seconds"], "search": out["search_seconds"],
                      "energy": out["energy"], "time": out["time"],
                      "finished": out["finished"], "error": out["error"]}
    return row


def _seconds(side: dict) -> str:
    if "error" in side:
        return side["error"]
    limited = any("time limit" in n for n in side["notes"])
    return f"{side['seconds']:.1f}" + (" (limit)" if limited else "")


def _skipped(side: dict) -> str:
    for note in side.get("notes", []):
        if "segments skipped" in note:
            return note.split("(")[-1].split(" segments skipped")[0]
    return "-"


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
    parser.add_argument("--before", metavar="REV",
                        help="also solve with this git revision (e.g. d8f1b83, issue 16's "
                             "parent), side by side")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="wall-clock limit of each nnsolve solve, seconds")
    parser.add_argument("--workers", metavar="N,N,...",
                        help="solve each network once per solver.workers count (this tree "
                             "only; default: the config's)")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--table", metavar="JSON", help="only print the table of rows a "
                        "run wrote with --json (give the same --before to label it)")
    args = parser.parse_args()
    console = Console(width=220)
    rows = json.loads(Path(args.table).read_text()) if args.table else []
    with worktree(None if args.table else args.before) as before:
        counts = [int(c) for c in args.workers.split(",")] if args.workers else [None]
        for net in ([] if args.table else args.nets.split(",")):
            for count in counts:
                console.print(f"running {net}" + (f", {count} workers" if count else "")
                              + " ...")
                rows.append(run(net.strip(), args.limit, not args.no_nnd, args.total_limit,
                                args.family, before, args.timeout, count))
                if args.json:
                    Path(args.json).write_text(json.dumps(rows, indent=1))

    title = {"tangram": "TANGRAM 16x16", "tetris": "TETRIS 4x4"}[args.family]
    table = Table(title=f"{title} with pipelining, whole network: nnsolve (beam width 1, "
                        "exact layers, segment-selection bound)"
                        + (f", before = {args.before}" if args.before else "")
                        + (" vs nn_dataflow" if any(r["nnd"] for r in rows) else ""),
                  title_justify="left")
    cols = ["network"]
    if args.before:
        cols += ["before s", "before MB", "before energy", "before gap"]
    lanes = any(r.get("workers") for r in rows)
    if lanes:
        cols += ["workers"]
    cols += ["nnsolve s", "CPU s", "MB", "energy", "time", "bound", "gap", "segments",
             "skipped"]
    if args.before:
        cols += ["speed-up", "energy / before"]
    show_nnd = any(r["nnd"] is not None for r in rows)
    if show_nnd:
        cols += ["nn_dataflow s", "nn_dataflow energy", "energy / nn_dataflow"]
    for col in cols:
        table.add_column(col, justify="left" if col == "network" else "right")
    for r in rows:
        a, b, n = r["after"], r["before"], r["nnd"]
        cells = [r["net"]]
        if b is not None:
            cells += ([_seconds(b), "-", "-", "-"] if "error" in b else
                      [_seconds(b), f"{b['peak_mb']:,.0f}", f"{b['energy']:.6g}",
                       f"{b['gap']:.2%}" if b["gap"] is not None else "-"])
        if lanes:
            cells += [str(r.get("workers") or "-")]
        if "error" in a:
            cells += [_seconds(a)] + ["-"] * 8
        else:
            memory = f"{a['peak_mb']:,.0f}"
            if a.get("lane_peak_mb"):
                memory += f" + {a['lane_peak_mb']:,.0f}/lane"
            cells += [_seconds(a), f"{a['cpu_s']:.0f}" if "cpu_s" in a else "-", memory,
                      f"{a['energy']:.6g}",
                      f"{a['time']:.6g}",
                      f"{a['bound']:.6g}" if a["bound"] is not None else "none",
                      f"{a['gap']:.2%}" if a["gap"] is not None else "-",
                      str(a["segments"]), _skipped(a)]
        if b is not None:
            both = "error" not in a and "error" not in b
            cells += [f"{b['seconds'] / a['seconds']:.1f}x" if both else "-",
                      f"{a['energy'] / b['energy']:.6f}" if both else "-"]
        if not show_nnd:
            pass
        elif n is None:
            cells += ["not run", "-", "-"]
        elif n["finished"] and n["energy"] is not None:
            ratio = f"{a['energy'] / n['energy']:.6f}" if "error" not in a else "-"
            cells += [f"{n['seconds']:.1f}", f"{n['energy']:.6g}", ratio]
        else:
            why = "did not finish" if n["error"] == "timeout" else "failed"
            cells += [f"{why} in {n['seconds']:.0f}", "-", "-"]
        table.add_row(*cells)
    console.print(table)


if __name__ == "__main__":
    main()
