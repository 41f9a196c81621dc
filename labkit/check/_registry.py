"""Exercise tasks: each a function that inspects an answer against a live system.

A task raises `Failed` with the reason in one line; returning normally means every check of
the task held. Hints go from general to specific; a learner earns one more per failed try.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TASKS", "Failed", "Task", "task"]


class Failed(Exception):
    """The answer does not do what the task asks; the message says what was seen."""


@dataclass(frozen=True)
class Task:
    """One exercise task: its id (module.number), a name to call it by, and its hints."""

    id: str
    name: str
    title: str
    hints: tuple[str, ...]
    verify: Callable[[Any], None]
    given: Mapping[str, Any] = field(default_factory=dict)  # what the task hands the learner

    @property
    def module(self) -> str:
        """The course module, e.g. "03"."""
        return self.id.split(".")[0]


TASKS: dict[str, Task] = {}


def task(
    task_id: str,
    name: str,
    *,
    title: str,
    hints: tuple[str, ...],
    given: Mapping[str, Any] | None = None,
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register `verify` as the check of exercise task `task_id`, callable as `lk.check.<name>`."""

    def register(verify: Callable[[Any], None]) -> Callable[[Any], None]:
        if task_id in TASKS or any(t.name == name for t in TASKS.values()):
            raise ValueError(f"exercise task {task_id} / {name} is registered twice")
        TASKS[task_id] = Task(task_id, name, title, hints, verify, dict(given or {}))
        return verify

    return register
