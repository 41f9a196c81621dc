"""labkit's modules import each other one way only: no cycle, lazy and type-only imports included.

The graph is read from the source (every `import` statement, inside functions and
`if TYPE_CHECKING:` blocks too), so a cycle hidden in a function body counts as one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import labkit

PACKAGE = Path(labkit.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The labkit modules one import statement loads (a name imported from a package may be one)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            anchor = module.split(".")
            anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
            base = ".".join([*anchor, node.module] if node.module else anchor)
        else:
            base = node.module or ""
        targets = [f"{base}.{alias.name}" for alias in node.names]
        targets = [name if name in known else base for name in targets]
    else:
        return
    for name in targets:
        while name and name not in known:  # `import labkit.load._parse as p` loads that module
            name = name.rpartition(".")[0]
        if name:
            yield name


def import_graph() -> dict[str, set[str]]:
    """Each labkit module and the labkit modules it imports anywhere in its body."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        package = path.name == "__init__.py"
        edges = {
            target
            for node in ast.walk(tree)
            for target in _imported(node, name, package, known)
            if target != name
        }
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_sees_a_cycle_through_a_lazy_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert cycles(graph) == [{"a", "b", "c"}]


def test_the_graph_reads_lazy_type_only_and_relative_imports(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from labkit.load._result import LoadRun\n"
        "def f():\n    from labkit import journal\n    from . import _parse\n"
    )
    tree = ast.parse(source)
    known = {"labkit", "labkit.journal", "labkit.load", "labkit.load._result", "labkit.load._parse"}

    found = {t for node in ast.walk(tree) for t in _imported(node, "labkit.load._x", False, known)}

    assert found == {"labkit.load._result", "labkit.journal", "labkit.load._parse"}


def test_labkit_has_no_import_cycle() -> None:
    assert [sorted(c) for c in cycles(import_graph())] == []
