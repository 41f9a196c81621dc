"""Every exercise check can fail and can pass: the notebooks run unsolved (each task fails with
its reason) and solved (each task passes), and the solutions stay apart from the exercises."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from labkit.check import check

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))


def _run(
    notebook: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, object]]:
    """Execute the notebook in a fresh kernel; return the checks it made, in order."""
    log = tmp_path / "checks.jsonl"
    monkeypatch.setenv("LABKIT_CHECK_LOG", str(log))
    monkeypatch.setenv("LABKIT_JOURNAL", str(tmp_path / "journal.duckdb"))
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _tasks(notebook: Path) -> set[str]:
    return {task.id for task in check.tasks(notebook.name[:2])}


@pytest.mark.parametrize("notebook", EXERCISES, ids=lambda p: p.stem)
def test_unsolved_exercise_fails_every_task_with_a_reason(
    notebook: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = _run(notebook, tmp_path, monkeypatch)
    assert {c["task"] for c in checks} == _tasks(notebook)
    passed = [c for c in checks if c["passed"]]
    assert passed == [], f"unsolved tasks passed: {passed}"
    assert all(c["reason"] for c in checks)


@pytest.mark.parametrize("notebook", EXERCISES, ids=lambda p: p.stem)
def test_solution_passes_every_task(
    notebook: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    solution = notebook.parent / "solutions" / notebook.name
    checks = _run(solution, tmp_path, monkeypatch)
    assert {c["task"] for c in checks} == _tasks(notebook)
    failed = [c for c in checks if not c["passed"]]
    assert failed == [], f"solved tasks failed: {failed}"


def test_every_module_with_tasks_has_an_exercise_and_a_solution() -> None:
    modules = {task.module for task in check.tasks()}
    with_notebooks = {p.name[:2] for p in EXERCISES}
    assert modules == with_notebooks
    assert all((p.parent / "solutions" / p.name).exists() for p in EXERCISES)
