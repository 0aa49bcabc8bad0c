"""The ``nnsolve`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import MAX_SHOWN, NnsolveError, clip, quote
from ..methods import COMPARE_METHODS, METHOD_NAMES
from ..version import __version__
from .common import EXIT_INTERRUPTED, EXIT_USER_ERROR, overrides, scenario_ready, wrote

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

# Each handler imports what its subcommand needs when it runs: `--help`, `nets`, `net` and
# `schema` never load the search, numpy or a solver engine (tests/cli/test_startup.py).


def _cmd_nets(args: argparse.Namespace, out: Console) -> int:
    from ..formats.network_yaml import load_zoo, zoo_names
    from ..report.networks import zoo_table

    out.print(zoo_table({name: load_zoo(name) for name in zoo_names()}))
    return 0


def _cmd_net(args: argparse.Namespace, out: Console) -> int:
    from ..formats.network_yaml import resolve_network
    from ..report.networks import network_table

    net = resolve_network(args.name)
    out.print(network_table(net, args.batch))
    return 0


def _cmd_solve(args: argparse.Namespace, out: Console) -> int:
    scenario = scenario_ready(args, overrides(args))
    from .solving import cli_solve  # the search: only once the inputs are known to be good

    return cli_solve(args, out, scenario)


def _cmd_compare(args: argparse.Namespace, out: Console) -> int:
    methods = tuple(m.strip() for m in args.methods.split(",")) if args.methods \
        else COMPARE_METHODS
    for m in methods:
        if m not in METHOD_NAMES:
            raise NnsolveError(f"--methods: {quote(m)} is not a method; available: "
                               f"{', '.join(METHOD_NAMES)}")
    scenario = scenario_ready(args, overrides(args))
    from .solving import cli_compare

    return cli_compare(args, out, scenario, methods)


def _cmd_evaluate(args: argparse.Namespace, out: Console) -> int:
    scenario_ready(args, args.set or [], [("the result JSON", args.schedule)])
    from .solving import cli_evaluate

    return cli_evaluate(args, out)


def _cmd_explain(args: argparse.Namespace, out: Console) -> int:
    from .explain import cli_explain

    return cli_explain(args, out)


def _cmd_schema(args: argparse.Namespace, out: Console) -> int:
    from ..formats.files import check_outputs, write_text
    from ..formats.schema import scenario_schema

    text = json.dumps(scenario_schema(), indent=2) + "\n"
    if args.output:
        check_outputs([("-o", args.output)])
        write_text(text, args.output)
        wrote(out, [args.output])
    else:
        sys.stdout.write(text)
    return 0


def _cmd_import(args: argparse.Namespace, out: Console) -> int:
    from .import_onnx import cli_import

    return cli_import(args, out)


def _cmd_sweep(args: argparse.Namespace, out: Console) -> int:
    from .sweep import cli_sweep

    return cli_sweep(args, out)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="nnsolve",
        description="Energy-optimal dataflow schedules for neural networks on tiled "
                    "Eyeriss-style accelerators.")
    parser.add_argument("--version", action="version", version=f"nnsolve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("nets", help="list the shipped networks")
    p.set_defaults(run=_cmd_nets)

    p = sub.add_parser("net", help="describe one network's layers")
    p.add_argument("name", help="a shipped network (see `nnsolve nets`), a network YAML or "
                                "an ONNX file")
    p.add_argument("--batch", type=_positive_int, default=1,
                   help="batch size for the ops and fmap sizes (default 1)")
    p.set_defaults(run=_cmd_net)

    def scenario_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a scenario field, e.g. hardware.gbuf_bytes=65536 "
                            "(repeatable)")
        p.add_argument("--json", metavar="OUT", help="write the result JSON here")
        p.add_argument("--plot", metavar="OUT.png", help="draw the result to a picture: PNG, "
                       "or the format its suffix names (.svg, .pdf, ...); needs the plot "
                       "extra (matplotlib)")

    p = sub.add_parser("solve", help="schedule every layer of a scenario's network")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--method", choices=METHOD_NAMES, help="override solver.method")
    p.add_argument("--time-limit", type=float, metavar="S", help="override solver.time_limit_s")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="send a pipelined search's independent solves to the Dask cluster "
                        "at ADDRESS (tcp://host:port), or 'local' for a LocalCluster of "
                        "solver.workers processes (needs the dask extra)")
    scenario_args(p)
    p.set_defaults(run=_cmd_solve)

    p = sub.add_parser("compare", help="solve a scenario with several methods, side by side")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--methods", metavar="M,M,...",
                   help=f"comma-separated methods (default {','.join(COMPARE_METHODS)}); "
                        f"available: {', '.join(METHOD_NAMES)}")
    p.add_argument("--time-limit", type=float, metavar="S", help="override solver.time_limit_s")
    scenario_args(p)
    p.set_defaults(run=_cmd_compare)

    p = sub.add_parser("evaluate", help="re-score the schedules of a result JSON (checked "
                                        "against the scenario it was solved for)")
    p.add_argument("scenario", help="scenario YAML file (the one solved; --set costs.KEY=V "
                                    "re-scores under other costs)")
    p.add_argument("schedule", help="a result JSON written by solve or compare --json")
    p.add_argument("--method", choices=METHOD_NAMES,
                   help="with a compare JSON: the method whose schedules to re-score")
    scenario_args(p)
    p.set_defaults(run=_cmd_evaluate)

    p = sub.add_parser("explain", help="show a layer's schedule as a loop nest, with the "
                                       "accesses and energy of each level")
    p.add_argument("target", help="a scenario YAML (solved first) or a result JSON written "
                                  "by solve --json")
    p.add_argument("--layer", metavar="NAME", help="the layer to explain (default: all)")
    p.add_argument("--method", choices=METHOD_NAMES,
                   help="a scenario YAML: override solver.method; a compare JSON: the "
                        "method whose schedules to explain")
    p.add_argument("--time-limit", type=float, metavar="S",
                   help="override solver.time_limit_s (a scenario YAML only)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a scenario field (repeatable); on a result JSON only "
                        "costs.* and model.*: the schedules are re-scored under them, without "
                        "the saved status and bound")
    p.set_defaults(run=_cmd_explain)

    p = sub.add_parser("schema", help="print the JSON Schema of the scenario format")
    p.add_argument("-o", "--output", metavar="OUT.json", help="write it here instead")
    p.set_defaults(run=_cmd_schema)

    p = sub.add_parser("import", help="convert an ONNX model into a network YAML")
    p.add_argument("model", help="an .onnx file")
    p.add_argument("-o", "--output", metavar="OUT.yaml", required=True,
                   help="the network YAML to write")
    p.add_argument("--name", help="the network's name (default: the file's name without "
                                  ".onnx)")
    p.set_defaults(run=_cmd_import)

    p = sub.add_parser("sweep", help="solve a grid of scenario variants; results are written "
                                     "as they finish and a rerun resumes")
    p.add_argument("sweep", help="sweep YAML (base scenario, grid and/or runs, out)")
    p.add_argument("--jobs", type=_positive_int, metavar="N",
                   help="local worker processes (default: the number of cores, at most "
                        "one per run)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run on a Dask cluster at ADDRESS (tcp://host:port), or 'local' for "
                        "a LocalCluster on this machine (needs the dask extra)")
    p.add_argument("--plot", metavar="OUT.png",
                   help="draw energy against delay of the finished runs, with the Pareto "
                        "front, to a picture (PNG, or the format its suffix names)")
    p.set_defaults(run=_cmd_sweep)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {quote(text)}"
                                         ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for user mistakes, 130 on Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from rich.console import Console  # after parsing: --help and --version need no rich

    # Tables fit the terminal's width (or COLUMNS); piped output without COLUMNS is drawn
    # 200 columns wide, keeping whole rows. No emoji codes: a name like ":fire:" is shown
    # as it is.
    wide = sys.stdout.isatty() or os.environ.get("COLUMNS")
    out = Console(emoji=False) if wide else Console(width=200, emoji=False)
    err = Console(stderr=True, emoji=False)
    try:
        return args.run(args, out)
    except NnsolveError as exc:
        err.print(_error_line(str(exc)), soft_wrap=True)
        return EXIT_USER_ERROR
    except OSError as exc:
        # An output file that cannot be written (a full disk, a directory removed).
        where = f"{clip(exc.filename, 4 * MAX_SHOWN)}: " if exc.filename else ""
        err.print(_error_line(where + (exc.strerror or str(exc))), soft_wrap=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED


def _error_line(message: str) -> Text:
    """``error: message``, the message shown as it is (never read as rich markup)."""
    from rich.text import Text

    return Text.assemble(("error:", "bold red"), " ", message)


if __name__ == "__main__":
    sys.exit(main())
