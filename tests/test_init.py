"""The public API of ``import nnsolve``: every exported name resolves to the object of the
module that defines it, and the lazy table, ``__all__`` and the imports type checkers read
agree (tests/cli/test_startup.py checks that nothing is imported before it is used)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import nnsolve

INIT = Path(nnsolve.__file__)


def _type_checking_imports() -> dict[str, tuple[str, str]]:
    """name -> (module, attribute) of the imports under ``if TYPE_CHECKING:``."""
    found = {}
    for node in ast.walk(ast.parse(INIT.read_text())):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in ast.walk(node):
                if isinstance(imp, ast.ImportFrom):
                    for alias in imp.names:
                        found[alias.asname or alias.name] = ("." + imp.module, alias.name)
    return found


def test_the_lazy_table_all_and_the_typed_imports_agree():
    table = nnsolve._PUBLIC
    assert set(nnsolve.__all__) == {*table, "__version__"}
    assert _type_checking_imports() == table


@pytest.mark.parametrize("name", sorted(nnsolve._PUBLIC))
def test_each_public_name_is_its_modules_object(name):
    module, attr = nnsolve._PUBLIC[name]
    assert getattr(nnsolve, name) is getattr(importlib.import_module(module, "nnsolve"), attr)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'solv'"):
        nnsolve.solv        # noqa: B018


def test_every_room_is_reachable_as_an_attribute():
    package = INIT.parent
    rooms = {p.stem for p in package.glob("*.py") if p.stem != "__init__"} | \
        {d.name for d in package.iterdir() if (d / "__init__.py").is_file()}
    assert set(nnsolve._ROOMS) | {"version"} == rooms
    for name in nnsolve._ROOMS:
        assert getattr(nnsolve, name).__name__ == f"nnsolve.{name}"
