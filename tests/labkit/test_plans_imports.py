"""The plan package's import graph: renderers import the model, never the other way round,
and no cycle, counting imports inside functions and type-checking blocks too."""

from __future__ import annotations

import ast
from pathlib import Path

import labkit

ROOT = Path(labkit.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every labkit module `path` names in any import statement, wherever it stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("labkit"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("labkit"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    return {name: imports_of(path) & set(modules) - {name} for name, path in modules.items()}


def cycle_through(start: str, edges: dict[str, set[str]]) -> list[str] | None:
    """A path from `start` back to itself, if there is one."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in edges.get(node, set()):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_plan_module_is_on_an_import_cycle() -> None:
    edges = graph()
    plan_modules = [name for name in edges if name.startswith("labkit.plans")]
    assert len(plan_modules) >= 7
    cycles = {name: cycle_through(name, edges) for name in plan_modules}
    assert {name: c for name, c in cycles.items() if c} == {}


def test_the_model_imports_no_renderer_and_diagrams_know_nothing_of_plans() -> None:
    edges = graph()
    assert not {"labkit.plans._html", "labkit.plans._diagram"} & edges["labkit.plans._model"]
    assert not any(name.startswith("labkit.plans") for name in edges["labkit.diagrams"])
    assert "labkit.plans._model" in edges["labkit.plans._html"]
