"""A learner's attempts, kept in the journal so progress survives a kernel restart."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from labkit import journal
from labkit.check._registry import TASKS
from labkit.check._result import CheckResult

_KIND = "exercise"


def failures(task_id: str) -> int:
    """How many times this task was checked and failed before."""
    found = journal.query(
        "SELECT count(*) AS n FROM runs WHERE kind = ? AND label = ? "
        "AND json_extract(metrics, '$.passed')::INTEGER = 0",
        [_KIND, task_id],
    )
    return int(found["n"].iloc[0])


def record(result: CheckResult) -> None:
    """Keep the attempt; `LABKIT_CHECK_LOG` also gets it as a JSON line (the exercise tests read it)."""
    journal.record(_KIND, {"passed": int(result.passed)}, label=result.task)
    log = os.environ.get("LABKIT_CHECK_LOG")
    if log:
        line = {"task": result.task, "passed": result.passed, "reason": result.reason}
        with Path(log).open("a", encoding="utf-8") as file:
            file.write(json.dumps(line) + "\n")


def progress() -> pd.DataFrame:
    """Every task with its status: passed, tried (failed so far) or not started."""
    tries = journal.query(
        "SELECT label AS task, count(*) AS attempts, "
        "max(json_extract(metrics, '$.passed')::INTEGER) AS passed "
        "FROM runs WHERE kind = ? GROUP BY label",
        [_KIND],
    ).set_index("task")
    rows = []
    for task in sorted(TASKS.values(), key=lambda t: t.id):
        attempts = int(tries["attempts"].get(task.id, 0))
        passed = bool(tries["passed"].get(task.id, 0))
        status = "passed" if passed else ("tried" if attempts else "not started")
        rows.append({"task": task.id, "title": task.title, "status": status, "attempts": attempts})
    return pd.DataFrame(rows, columns=["task", "title", "status", "attempts"])
