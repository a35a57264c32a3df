"""The import graph of engine/rmdsl, read with ast (nothing is imported): for tests/test_layers.py.

Every import counts, at module level and inside functions, except those under
`if TYPE_CHECKING:` (they never run). `from pkg import name` is an edge to
`pkg.name` when that is a module of the package, else to `pkg`.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "engine"
PACKAGE = "rmdsl"


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's edge: `importer` needs `module` (and `name` of it, if any)."""

    importer: str
    module: str
    name: str | None
    line: int


@dataclass(frozen=True, slots=True)
class PrivateUse:
    """`importer` reaches a private `name` of another module `module`."""

    importer: str
    module: str
    name: str
    line: int


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> its file, for every module of the package."""
    files: dict[str, Path] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


@functools.lru_cache(maxsize=1024)
def _parse(text: str, filename: str) -> ast.Module:
    """One parse per file text: the tests walk the same tree several times."""
    return ast.parse(text, filename)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST, type_checking: bool = False) -> Iterator[ast.AST]:
    """Every node that may run: the bodies of `if TYPE_CHECKING:` are left out (unless asked)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not type_checking and isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _absolute(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(
    importer: str, path: Path, modules: set[str], type_checking: bool = False
) -> Iterator[Import]:
    """The imports of one module that name a module of the package (`type_checking`: also
    those under `if TYPE_CHECKING:`)."""
    tree = _parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    for node in _runtime_nodes(tree, type_checking):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield Import(importer, alias.name, None, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(importer, is_package, node)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in modules:
                    yield Import(importer, sub, None, node.lineno)
                elif source in modules:
                    yield Import(importer, source, alias.name, node.lineno)


def graph(root: Path = ROOT, type_checking: bool = False) -> dict[str, set[str]]:
    """Module -> the modules it imports (self-imports left out)."""
    files = module_files(root)
    names = set(files)
    edges: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for imp in imports_of(name, path, names, type_checking):
            if imp.module != name:
                edges[name].add(imp.module)
    return edges


def reachable(edges: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module `start` imports, directly or not -> the module that imports it on the way."""
    via: dict[str, str] = {}
    stack = [start]
    while stack:
        node = stack.pop()
        for nxt in edges[node]:
            if nxt not in via and nxt != start:
                via[nxt] = node
                stack.append(nxt)
    return via


def chain(via: dict[str, str], start: str, end: str) -> list[str]:
    """The import chain start -> ... -> end that `reachable` found."""
    path = [end]
    while path[-1] != start:
        path.append(via[path[-1]])
    return path[::-1]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(_cycle_in(min(component), component, edges))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _cycle_in(start: str, component: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest path start -> ... -> start inside the component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt_frontier: list[str] = []
        for node in frontier:
            for nxt in sorted(edges[node] & component):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if nxt not in previous:
                    previous[nxt] = node
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError(f"{start} is in no cycle")


def private_uses(root: Path = ROOT) -> Iterator[PrivateUse]:
    """Private names reached across modules, three ways:

    `from m import _x`; `m._x` with m a module bound by an import; and `obj._x`
    on anything but self/cls when this module defines no `_x` itself (so it
    is another module's object's private member: `engine._persist`).
    """
    files = module_files(root)
    names = set(files)
    for importer, path in files.items():
        tree = _parse(path.read_text(), str(path))
        modules = _bound_modules(importer, path, tree, names)
        own = _defined_names(tree)
        for imp in imports_of(importer, path, names):
            if imp.name is not None and _private(imp.name) and imp.module != importer:
                yield PrivateUse(importer, imp.module, imp.name, imp.line)
        for node in _runtime_nodes(tree):
            if not isinstance(node, ast.Attribute) or not _private(node.attr):
                continue
            value = node.value
            if isinstance(value, ast.Name) and value.id in modules:
                if modules[value.id] != importer:
                    yield PrivateUse(importer, modules[value.id], node.attr, node.lineno)
            elif not (isinstance(value, ast.Name) and value.id in ("self", "cls")):
                if node.attr not in own:
                    yield PrivateUse(importer, ast.unparse(value), node.attr, node.lineno)


def _bound_modules(importer: str, path: Path, tree: ast.AST, names: set[str]) -> dict[str, str]:
    """Local name -> the module of the package an import binds it to."""
    bound: dict[str, str] = {}
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in names:
                    bound[alias.asname] = alias.name
    for imp in imports_of(importer, path, names):
        if imp.name is None:
            bound.setdefault(imp.module.rsplit(".", 1)[-1], imp.module)
    return bound


def _defined_names(tree: ast.AST) -> set[str]:
    """Every name this module defines: functions, classes, variables, attributes it assigns."""
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            own.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
    return own


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")
