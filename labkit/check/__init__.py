"""`lk.check`: exercise checks that run the answer against a live system and say why not.

>>> lk.check("02.1", ddl)            # by task id
>>> lk.check.coupons_table(ddl)      # or by name
>>> lk.check.progress()              # what this learner has passed so far

A check returns a `CheckResult` (pass or fail, the reason in one line, hints that grow more
specific with each failed try) and never shows a solution. Taught in exercises/.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from labkit.check import (
    _tasks_async,
    _tasks_contract,
    _tasks_indexes,
    _tasks_load,
    _tasks_orm,
    _tasks_resilience,
    _tasks_rest,
    _tasks_schema,
    _tasks_styles,
    _tasks_transactions,
)
from labkit.check._progress import failures, progress, record
from labkit.check._registry import TASKS, Failed, Task
from labkit.check._result import CheckResult
from labkit.errors import LabkitError

__all__ = ["CheckResult", "Checker", "Task", "check"]

_TASK_MODULES = (
    _tasks_contract, _tasks_schema, _tasks_indexes, _tasks_rest, _tasks_orm, _tasks_transactions,
    _tasks_load, _tasks_resilience, _tasks_async, _tasks_styles,
)  # fmt: skip  # they register


class Checker:
    """The `lk.check` object: call it with a task id, or use a task's name as a method.

    Taught in 01_api_contract.
    """

    def __call__(self, task_id: str, answer: Any) -> CheckResult:
        """Check `answer` for exercise task `task_id` (e.g. "03.1") and keep the attempt."""
        task = self._task(task_id)
        try:
            task.verify(answer)
        except Failed as failure:
            passed, reason = False, str(failure)
        else:
            passed, reason = True, "every check of this task holds"
        before = failures(task.id)
        earned = 0 if passed else min(before + 1, len(task.hints))
        result = CheckResult(task.id, task.title, passed, reason, task.hints[:earned], before + 1)
        record(result)
        return result

    @staticmethod
    def _task(task_id: str) -> Task:
        task = TASKS.get(task_id)
        if task is None:
            raise LabkitError(
                f"no exercise task {task_id!r}; the tasks are {', '.join(sorted(TASKS))}"
            )
        return task

    def __getattr__(self, name: str) -> Callable[[Any], CheckResult]:
        for task in TASKS.values():
            if task.name == name:
                return lambda answer: self(task.id, answer)
        raise AttributeError(f"lk.check has no task named {name!r}")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(task.name for task in TASKS.values())})

    def tasks(self, module: str | None = None) -> list[Task]:
        """The registered tasks, of one module (e.g. "03") or all."""
        return [t for t in TASKS.values() if module is None or t.module == module]

    def given(self, task_id: str) -> dict[str, Any]:
        """What task `task_id` hands you to work on (a query, a contract …), by name."""
        return dict(self._task(task_id).given)

    def progress(self) -> pd.DataFrame:
        """Every task and whether this learner has passed it (kept in the journal)."""
        return progress()

    def __repr__(self) -> str:
        return f"<lk.check: {len(TASKS)} tasks; lk.check.progress() shows yours>"


check = Checker()
