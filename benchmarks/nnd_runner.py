"""nn_dataflow 2.1's whole-network search on a multi-node chip, under a wall-clock limit.

The problem is set up the way nn_dataflow's own command-line tool
(`nn_dataflow/tools/nn_dataflow_search.py`) sets it up: the same node regions for 2D and 3D
memory, unlimited array bus and DRAM bandwidth, time multiplexing allowed, the best schedule
only; inter-layer pipelining and save-writeback only when asked for. The search runs in a
forked child that leads its own process group, so at the limit the child and every pool
worker it forked are killed together.

    python benchmarks/nnd_runner.py alex_net --nodes 4 4 --array 14 14 --regf 512 \\
        --gbuf 65536 --batch 16 --mem 3D --hybrid --limit 60

Buffer sizes here are in words (the tool takes bytes). Prints the result dict as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import signal
import time
import traceback

# nn_dataflow's tool defaults: (mac, (dram, gbuf, itcn, regf), noc hop, idle per cycle).
DEFAULT_COSTS = {"mac": 1.0, "mem_hier": (200.0, 6.0, 2.0, 1.0), "noc_hop": 10.0, "idle": 0.0}
ALL_BYPASS = (True, True, True)
POLL_S = 0.5


def _regions(nd, nodes: tuple[int, int], memory: str):
    """(proc, dram) node regions as the tool builds them.

    2D memory: a 2x2 grid of DRAM nodes at the chip's corners, `dist` = (H-1, W-1) apart. When
    H or W is 1 the tool does not special-case it: `dist` has a zero and corners coincide
    (on a single node all four DRAM nodes sit at the origin). We do the same.
    """
    dim_nodes = nd.PhyDim2(*nodes)
    proc = nd.NodeRegion(dim=dim_nodes, origin=nd.PhyDim2(0, 0), type=nd.NodeRegion.PROC)
    if memory == "2D":
        dram = nd.NodeRegion(dim=nd.PhyDim2(2, 2), origin=nd.PhyDim2(0, 0),
                             dist=dim_nodes - nd.PhyDim2(1, 1), type=nd.NodeRegion.DRAM)
        assert dram.rel2abs(nd.PhyDim2(1, 1)) + nd.PhyDim2(1, 1) == proc.dim
    elif memory == "3D":
        dram = nd.NodeRegion(dim=dim_nodes, origin=nd.PhyDim2(0, 0), type=nd.NodeRegion.DRAM)
    else:
        raise ValueError(f"memory must be '2D' or '3D', not {memory!r}")
    return proc, dram


def _problem(spec: dict):
    """(NNDataflow, Option) for a spec holding run_nn_dataflow's arguments."""
    import nn_dataflow.core as nd
    from nn_dataflow.core import DataCategoryEnum as de
    from nn_dataflow.core import MemHierEnum as me
    from nn_dataflow.nns import import_network

    proc, dram = _regions(nd, spec["nodes"], spec["memory"])
    res = nd.Resource(proc_region=proc, dram_region=dram, src_data_region=dram,
                      dst_data_region=dram, dim_array=nd.PhyDim2(*spec["pe_array"]),
                      size_gbuf=spec["gbuf_words"], size_regf=spec["regf_words"],
                      array_bus_width=float("inf"), dram_bandwidth=float("inf"),
                      no_time_mux=False)

    costs = spec["costs"]
    hier = [0.0] * me.NUM
    for level, value in zip((me.DRAM, me.GBUF, me.ITCN, me.REGF), costs["mem_hier"],
                            strict=True):
        hier[level] = value
    cost = nd.Cost(mac_op=costs["mac"], mem_hier=tuple(hier), noc_hop=costs["noc_hop"],
                   idl_unit=costs["idle"])

    bypass = [True] * de.NUM
    for cat, value in zip((de.FIL, de.IFM, de.OFM), spec["bypass"], strict=True):
        bypass[cat] = bool(value)
    options = nd.Option(sw_gbuf_bypass=tuple(bypass),
                        sw_solve_loopblocking=spec["solve_loopblocking"],
                        hw_access_forwarding=spec["access_forwarding"],
                        hw_gbuf_sharing=spec["gbuf_sharing"],
                        partition_hybrid=spec["hybrid"],
                        partition_batch=spec["batch_partition"],
                        partition_ifmaps=spec["ifmap_partition"],
                        partition_interlayer=spec["interlayer"],
                        hw_gbuf_save_writeback=spec["save_writeback"],
                        layer_pipeline_time_ovhd=spec["time_overhead"],
                        layer_pipeline_max_degree=spec["max_degree"],
                        layer_pipeline_opt=spec["interlayer_opt"],
                        opt_goal=spec["goal"].lower(),
                        ntops=1,
                        nprocesses=spec["nprocesses"])

    network = import_network(spec["net"])
    search = nd.NNDataflow(network, spec["batch"], res, cost, nd.MapStrategyEyeriss)
    return search, options


def _layers(top) -> dict:
    """Per-layer numbers of a schedule, as plain Python values."""
    out = {}
    for name, result in top.res_dict.items():
        part = result.scheme["part"]
        out[name] = {
            "cost": float(result.total_cost),
            "time": float(result.total_time),
            "part": {"order": [int(p) for p in part.order],
                     "pdims": [[int(d.h), int(d.w)] for d in part.pdims]},
            "nhops": float(result.total_noc_hops),
            "sched_seq": [int(v) for v in result.sched_seq],
            "factors": [[int(v) for v in result.scheme[k]] for k in ("ti", "to", "tb")],
        }
    return out


def _child(spec: dict, conn) -> None:
    """Body of the search process: lead a new process group, search, send plain values."""
    os.setsid()
    try:
        search, options = _problem(spec)
        start = time.perf_counter()
        tops, _ = search.schedule_search(options)
        message = {"search_seconds": time.perf_counter() - start, "energy": None,
                   "time": None, "layers": None, "error": None}
        if tops:
            top = tops[0]
            message.update(energy=float(top.total_cost), time=float(top.total_time),
                           layers=_layers(top),
                           segments=[float(t.time) for t in top.segment_timing_list])
    except BaseException:  # whatever it is, the parent gets the traceback
        message = {"error": traceback.format_exc()}
    conn.send(message)
    conn.close()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_nn_dataflow(net: str, batch: int, nodes: tuple[int, int], pe_array: tuple[int, int],
                    regf_words: int, gbuf_words: int, memory: str = "2D",
                    costs: dict | None = None, bypass: tuple[bool, bool, bool] = ALL_BYPASS,
                    hybrid: bool = False, batch_partition: bool = False,
                    ifmap_partition: bool = False, access_forwarding: bool = False,
                    gbuf_sharing: bool = False, solve_loopblocking: bool = False,
                    nprocesses: int = 1, time_limit_s: float = math.inf,
                    goal: str = "e", interlayer: bool = False, save_writeback: bool = False,
                    time_overhead: float = math.inf, max_degree: float = math.inf,
                    interlayer_opt: bool = True) -> dict:
    """Run nn_dataflow's whole-network search in a child process, at most `time_limit_s`.

    `net` names a module of `nn_dataflow.nns`; `costs` has keys mac, mem_hier
    (dram, gbuf, itcn, regf), noc_hop and idle (default: the tool's defaults); `bypass` is
    (weight, ifmap, ofmap), True meaning the data may bypass the global buffer.

    Returns {finished, seconds, energy, time, layers, search_seconds, error}. `finished` is
    False when the limit was hit or the search failed (`error` then holds the traceback or
    "timeout"); `energy`/`time`/`layers` are None unless a schedule was found. `seconds` is
    the parent's wall time (fork and network import included); `search_seconds` times
    `schedule_search` alone. `layers` maps each layer to its cost, time, partition
    ({"order": [...], "pdims": [[h, w], ...]}, ParallelEnum order OUTP, OFMP, BATP, INPP)
    and total NoC hops.
    """
    spec = {
        "net": net, "batch": int(batch), "nodes": tuple(nodes), "pe_array": tuple(pe_array),
        "regf_words": int(regf_words), "gbuf_words": int(gbuf_words), "memory": memory,
        "costs": dict(DEFAULT_COSTS if costs is None else costs), "bypass": tuple(bypass),
        "hybrid": hybrid, "batch_partition": batch_partition,
        "ifmap_partition": ifmap_partition, "access_forwarding": access_forwarding,
        "gbuf_sharing": gbuf_sharing, "solve_loopblocking": solve_loopblocking,
        "nprocesses": int(nprocesses), "goal": goal, "interlayer": interlayer,
        "save_writeback": save_writeback, "time_overhead": time_overhead,
        "max_degree": max_degree, "interlayer_opt": interlayer_opt,
    }
    out = {"finished": False, "seconds": None, "energy": None, "time": None, "layers": None,
           "search_seconds": None, "error": None}

    ctx = multiprocessing.get_context("fork")
    recv_conn, send_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(spec, send_conn), daemon=False)
    start = time.perf_counter()
    proc.start()
    send_conn.close()  # so a child that dies without sending shows as EOF here
    message = None
    try:
        # Poll in short steps: the limit is checked against our own clock.
        while True:
            left = start + time_limit_s - time.perf_counter()
            if left <= 0:
                break
            if recv_conn.poll(min(left, POLL_S)):
                try:
                    message = recv_conn.recv()
                except EOFError:
                    message = {"error": "search process died"}
                break
        out["seconds"] = time.perf_counter() - start
    finally:
        # The child is the leader of its own group (os.setsid), pool workers included.
        _kill_group(proc.pid)
        if proc.is_alive():  # killed before it could call setsid
            proc.kill()
        proc.join()
        recv_conn.close()

    if message is None:
        out["error"] = "timeout"
        return out
    if message["error"] == "search process died":
        message["error"] += f" (exit code {proc.exitcode})"
    out.update(message)
    out["finished"] = out["error"] is None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("net", help="a module of nn_dataflow.nns, e.g. alex_net, vgg_net")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--nodes", type=int, nargs=2, required=True, metavar=("H", "W"))
    parser.add_argument("--array", type=int, nargs=2, required=True, metavar=("H", "W"))
    parser.add_argument("--regf", type=int, required=True, help="register file, words per PE")
    parser.add_argument("--gbuf", type=int, required=True, help="global buffer, words per node")
    parser.add_argument("--mem", default="2D", choices=["2D", "3D"])
    parser.add_argument("--op-cost", type=float, default=DEFAULT_COSTS["mac"])
    parser.add_argument("--hier-cost", type=float, nargs=4, default=DEFAULT_COSTS["mem_hier"],
                        metavar=("DRAM", "GBUF", "ITCN", "REGF"))
    parser.add_argument("--hop-cost", type=float, default=DEFAULT_COSTS["noc_hop"])
    parser.add_argument("--idle-cost", type=float, default=DEFAULT_COSTS["idle"])
    parser.add_argument("--disable-bypass", nargs="*", default=[], choices=["f", "i", "o"],
                        help="data that may not bypass the gbuf: f(ilter), i(fmap), o(fmap)")
    parser.add_argument("--hybrid", action="store_true")
    parser.add_argument("--batch-partition", action="store_true")
    parser.add_argument("--ifmap-partition", action="store_true")
    parser.add_argument("--access-forwarding", action="store_true")
    parser.add_argument("--gbuf-sharing", action="store_true")
    parser.add_argument("--solve-loopblocking", action="store_true")
    parser.add_argument("-p", "--processes", type=int, default=1)
    parser.add_argument("-g", "--goal", default="e", choices=["e", "d", "ed"])
    parser.add_argument("--limit", type=float, default=math.inf, help="wall seconds")
    args = parser.parse_args()

    costs = {"mac": args.op_cost, "mem_hier": tuple(args.hier_cost), "noc_hop": args.hop_cost,
             "idle": args.idle_cost}
    bypass = tuple(c not in args.disable_bypass for c in "fio")
    result = run_nn_dataflow(
        args.net, args.batch, tuple(args.nodes), tuple(args.array), args.regf, args.gbuf,
        args.mem, costs, bypass, hybrid=args.hybrid, batch_partition=args.batch_partition,
        ifmap_partition=args.ifmap_partition, access_forwarding=args.access_forwarding,
        gbuf_sharing=args.gbuf_sharing, solve_loopblocking=args.solve_loopblocking,
        nprocesses=args.processes, time_limit_s=args.limit, goal=args.goal)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
