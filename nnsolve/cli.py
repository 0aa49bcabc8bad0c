"""The ``nnsolve`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from . import __version__
from .errors import NnsolveError
from .model.network import load_network, load_zoo, zoo_names
from .report import network_table, zoo_table

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _cmd_nets(args: argparse.Namespace, out: Console) -> int:
    out.print(zoo_table({name: load_zoo(name) for name in zoo_names()}))
    return 0


def _cmd_net(args: argparse.Namespace, out: Console) -> int:
    ref = args.name
    net = load_network(ref) if ref.endswith((".yaml", ".yml")) else load_zoo(ref)
    out.print(network_table(net, args.batch))
    return 0


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
    p.add_argument("name", help="a shipped network (see `nnsolve nets`) or a network YAML file")
    p.add_argument("--batch", type=_positive_int, default=1, help="batch size for ops and sizes")
    p.set_defaults(run=_cmd_net)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for user mistakes, 130 on Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Piped output keeps whole rows instead of wrapping at 80 columns.
    out = Console() if sys.stdout.isatty() else Console(width=200)
    err = Console(stderr=True)
    try:
        return args.run(args, out)
    except NnsolveError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
