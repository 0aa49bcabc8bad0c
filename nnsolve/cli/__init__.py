"""The ``nnsolve`` command: the parser and one handler per subcommand."""

from .main import main

__all__ = ["main"]
