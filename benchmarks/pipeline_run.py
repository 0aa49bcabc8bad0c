"""One pipelined solve in its own process, for benchmarks/pipelining.py.

Run with the nnsolve tree to measure first on PYTHONPATH (this file only uses the API that
every revision since the layout issue has: ``load_scenario``, ``network_search.solve`` and
``ModelRules``), so the same runner times the current tree and an older revision's worktree.
Prints one JSON object: wall seconds of the solve, peak resident memory of the process and
of its largest worker process (if any), CPU seconds of all of them, and the result's energy,
time, bound, gap, segments and notes.

    PYTHONPATH=TREE python benchmarks/pipeline_run.py CONFIG [--set KEY=VALUE ...]
        [--total-limit S] [--nnd-rules]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import replace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[], help="scenario override")
    parser.add_argument("--total-limit", type=float, default=None)
    parser.add_argument("--nnd-rules", action="store_true",
                        help="nn_dataflow's element-wise rule (docs/divergences.md section 2)")
    args = parser.parse_args()

    import nnsolve
    from nnsolve.formats.scenario_yaml import load_scenario
    from nnsolve.model.mapping import ModelRules
    from nnsolve.search.network_search import solve

    sc = load_scenario(args.config, args.set)
    if args.total_limit is not None:
        sc = replace(sc, solver=replace(sc.solver, total_time_limit_s=args.total_limit))
    rules = ModelRules(eltwise_ifmaps="nn_dataflow") if args.nnd_rules else ModelRules()
    start = time.perf_counter()
    res = solve(sc, rules=rules)
    seconds = time.perf_counter() - start
    me = resource.getrusage(resource.RUSAGE_SELF)
    lanes = resource.getrusage(resource.RUSAGE_CHILDREN)    # worker processes, if any
    cpu = me.ru_utime + me.ru_stime + lanes.ru_utime + lanes.ru_stime
    json.dump({"seconds": seconds, "peak_mb": me.ru_maxrss / 1024,
               "lane_peak_mb": lanes.ru_maxrss / 1024, "cpu_s": cpu, "energy": res.energy,
               "time": res.time, "bound": res.bound, "gap": res.gap,
               "segments": len(res.segments or []), "notes": list(res.notes),
               "tree": str(nnsolve.__file__)}, sys.stdout)


if __name__ == "__main__":
    main()
