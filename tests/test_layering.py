"""The package's layering, read from its source (docs/architecture.md, "The layering rule").

cli -> sweep | report -> search -> formulations | heuristics -> model -> hardware, with
formats beside (used by cli, sweep, report and search). Every import of an nnsolve module,
including those inside functions, points down these layers or stays inside its own room;
no import cycle exists; no module imports another's private names or writes its private
fields. The solver engines and the optional extras are imported inside the functions that
use them, never when a module is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nnsolve"

#: Rooms (a top-level module or a subpackage) and their layer, lowest first. A module may
#: import from a lower layer or from its own room; rooms on one layer are siblings and
#: import nothing from each other.
LAYERS: dict[str, int] = {
    "errors": 0, "version": 0,
    "methods": 1, "executors": 1,
    "hardware": 2,
    "model": 3,
    "formulations": 4, "heuristics": 4,
    "scenario": 5, "results": 5,
    "formats": 6,
    "search": 7,
    "report": 8,
    "sweep": 9,
    "cli": 10,
    "__init__": 11,          # the public API re-exports from every room
}

#: Rooms whose imports are limited to a list, stricter than their layer.
ONLY: dict[str, set[str]] = {
    "model": {"model", "hardware", "errors"},
    "hardware": {"hardware", "errors"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
           if "nets" not in p.relative_to(PACKAGE).parts}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of import nodes under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in ast.walk(node):
                skip.add(id(inner))
    return skip


def imports_of(module: str) -> list[tuple[str, list[str], int, bool]]:
    """(target module, imported names, line, runtime?) for each import of an nnsolve module."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    typing_only = _type_checking_nodes(tree)
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != "nnsolve" and not target.startswith("nnsolve."):
                continue
            names = [a.name for a in node.names]
            # `from .pkg import submodule` imports the submodule itself
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            for sub in subs:
                found.append((sub, [], node.lineno, id(node) not in typing_only))
            rest = [n for n in names if f"{target}.{n}" not in MODULES]
            if rest or not subs:
                found.append((target, rest, node.lineno, id(node) not in typing_only))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nnsolve"):
                    found.append((alias.name, [], node.lineno, id(node) not in typing_only))
    return found


def test_every_module_has_a_room():
    assert {room(m) for m in MODULES} <= set(LAYERS), \
        f"rooms without a layer: {sorted({room(m) for m in MODULES} - set(LAYERS))}"


def test_at_most_eight_modules_flat_at_the_top():
    flat = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert len(flat) <= 8, flat


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module):
    mine = room(module)
    wrong = []
    for target, _, line, _ in imports_of(module):
        theirs = room(target)
        if theirs == mine:
            continue
        allowed = ONLY.get(mine)
        if allowed is not None and theirs not in allowed:
            wrong.append(f"line {line}: {mine}/ may import only {sorted(allowed)}, not {target}")
        elif LAYERS[theirs] >= LAYERS[mine]:
            wrong.append(f"line {line}: {target} is not below {module} (layer "
                         f"{LAYERS[theirs]} >= {LAYERS[mine]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for module in MODULES:
        for target, _, _, runtime in imports_of(module):
            # A package's __init__ running its submodules is not a dependency of theirs.
            if runtime and target in MODULES and not module.startswith(target + "."):
                graph.add_edge(module, target)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + [c[0]]) for c in cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_names_across_modules(module):
    bad = [f"line {line}: {name} from {target}"
           for target, names, line, _ in imports_of(module) if target != module
           for name in names if name.startswith("_") and not name.startswith("__")]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_fields_written_from_outside(module):
    """No ``obj._x = ...`` on another object, and no ``Cls(_x=...)``: such state gets a
    public method or field."""
    tree = ast.parse(MODULES[module].read_text())
    bad = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            if isinstance(t, ast.Attribute) and t.attr.startswith("_") \
                    and not t.attr.startswith("__") \
                    and not (isinstance(t.value, ast.Name) and t.value.id in ("self", "cls")):
                bad.append(f"line {node.lineno}: writes {ast.unparse(t)}")
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg and kw.arg.startswith("_"):
                    bad.append(f"line {node.lineno}: passes {kw.arg}= to "
                               f"{ast.unparse(node.func)}")
    assert not bad, "\n".join(bad)


#: Third-party packages that only some runs need: the solver engines, and the optional
#: extras (plot, onnx, dask). A module imports them inside the function that uses them, so
#: that importing it costs nothing (tests/cli/test_startup.py checks the commands).
ON_USE_ONLY = {"ortools", "pulp", "highspy", "pandas", "matplotlib", "onnx", "dask",
               "distributed"}


def _import_time_nodes(tree: ast.Module):
    """The import statements a module runs when it is imported: outside functions, and not
    under ``if TYPE_CHECKING:``."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        else:
            todo.extend(ast.iter_child_nodes(node))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_engines_and_extras_are_imported_where_they_are_used(module):
    tree = ast.parse(MODULES[module].read_text())
    bad = []
    for node in _import_time_nodes(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if not node.level else []
        bad += [f"line {node.lineno}: {name}" for name in names
                if name.split(".")[0] in ON_USE_ONLY]
    assert not bad, "imported at the top of the module:\n" + "\n".join(bad)
