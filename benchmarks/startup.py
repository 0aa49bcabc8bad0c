"""Start-up of the `nnsolve` command: wall time of the commands that solve nothing (and of a
small solve), for an earlier revision and for this tree, in one run.

Each command runs as `python -m nnsolve.cli ...` in a fresh interpreter, the two trees
alternating, ``--runs`` times each; the table gives the median and the fastest run. The
earlier revision is exported with `git archive` into a temporary folder and put first on
PYTHONPATH (the runs start in another temporary folder, so the working directory does not
shadow it). Then `python -X importtime` of each command, once per tree: where the import time
goes, summed per top-level package (self times), and which heavy packages were loaded.

    python benchmarks/startup.py                    # against aa596fc (before issue 18.4)
    python benchmarks/startup.py --before HEAD~3 --runs 20
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent

NET = """\
name: tiny
input: {channels: 3, size: 8}
layers:
  - {name: conv, type: conv, out_channels: 8, out_size: 6, kernel: 3}
  - {name: fc, type: fc, out_channels: 4}
"""
SCENARIO = """\
network: net.yaml
batch: 2
hardware: {{nodes: [1, 1], pe_array: [4, 4], regf_bytes: 256, gbuf_bytes: 16384{extra}}}
"""

#: (label, arguments) of each command timed.
COMMANDS = [
    ("--help", ["--help"]),
    ("nets", ["nets"]),
    ("net alex_net", ["net", "alex_net"]),
    ("schema", ["schema"]),
    ("solve, a typo in the YAML", ["solve", "typo.yaml"]),
    ("solve tiny, exhaustive", ["solve", "s.yaml", "--method", "exhaustive"]),
    ("solve tiny, cpsat", ["solve", "s.yaml", "--method", "cpsat"]),
    ("solve tiny, milp", ["solve", "s.yaml", "--method", "milp"]),
]
HEAVY = ("ortools", "pandas", "pulp", "highspy", "numpy", "networkx", "matplotlib", "rich")


def run_once(tree: Path, args: list[str], cwd: Path, *flags: str) -> tuple[float, str]:
    """Wall seconds of one ``python -m nnsolve.cli ARGS`` with ``tree`` first on the path,
    and its stderr."""
    env = {"PYTHONPATH": str(tree), "COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *flags, "-m", "nnsolve.cli", *args], cwd=cwd,
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    return time.perf_counter() - start, proc.stderr


def import_profile(stderr: str) -> tuple[dict[str, float], float]:
    """Self import time (ms) per top-level package from ``-X importtime`` output, and the
    total."""
    per: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:"):].split("|")
        per[name.strip().split(".")[0]] += int(self_us) / 1000
    return dict(per), sum(per.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="aa596fc",
                        help="the earlier revision (default aa596fc)")
    parser.add_argument("--runs", type=int, default=10, help="runs per command and tree")
    parser.add_argument("--top", type=int, default=8, help="packages shown per profile")
    args = parser.parse_args()
    console = Console(width=200)

    with tempfile.TemporaryDirectory() as before_dir, tempfile.TemporaryDirectory() as work:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before, "nnsolve",
                                  "nets"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", before_dir], input=archive, check=True)
        cwd = Path(work)
        (cwd / "net.yaml").write_text(NET)
        (cwd / "s.yaml").write_text(SCENARIO.format(extra=""))
        (cwd / "typo.yaml").write_text(SCENARIO.format(extra=", gbuf_byts: 3"))
        trees = {"before": Path(before_dir), "after": ROOT}

        walls: dict[tuple[str, str], list[float]] = defaultdict(list)
        for label, argv in COMMANDS:
            console.print(f"timing {label} ...")
            for _ in range(args.runs):
                for name, tree in trees.items():        # alternating: the same load on both
                    walls[label, name].append(run_once(tree, argv, cwd)[0])
        profiles = {(label, name): import_profile(run_once(tree, argv, cwd, "-X",
                                                           "importtime")[1])
                    for label, argv in COMMANDS for name, tree in trees.items()}

    table = Table(title=f"Start-up: wall seconds, median (fastest) of {args.runs} runs; "
                        f"before = {args.before}, after = this tree", title_justify="left")
    for col in ("command", "before", "after", "speed-up", "heavy packages before",
                "heavy packages after"):
        table.add_column(col, justify="left" if col == "command" or "heavy" in col
                         else "right")
    for label, _ in COMMANDS:
        cells = []
        for name in trees:
            ts = walls[label, name]
            cells.append(f"{statistics.median(ts):.3f} ({min(ts):.3f})")
        speed = statistics.median(walls[label, "before"]) / statistics.median(
            walls[label, "after"])
        heavy = [", ".join(h for h in HEAVY if h in profiles[label, name][0]) or "-"
                 for name in trees]
        table.add_row(label, *cells, f"{speed:.1f}x", *heavy)
    console.print(table)

    for label in ("nets", "solve, a typo in the YAML", "solve tiny, cpsat"):
        console.print(f"\n-X importtime of {label}: self ms per top-level package")
        table = Table()
        for name in trees:
            table.add_column(f"{name}: package", justify="left")
            table.add_column("ms", justify="right")
        columns = []
        for name in trees:
            per, total = profiles[label, name]
            top = sorted(per.items(), key=lambda kv: -kv[1])[:args.top]
            columns.append([(k, f"{v:.0f}") for k, v in top] + [("total", f"{total:.0f}")])
        for i in range(max(map(len, columns))):
            row = []
            for col in columns:
                row += list(col[i]) if i < len(col) else ["", ""]
            table.add_row(*row)
        console.print(table)


if __name__ == "__main__":
    main()
