"""The journal: every experiment (load runs, benchmarks) appended to one DuckDB file.

Runs compare across days only if they are kept with what produced them, so each row holds the
parameters, the git commit, the service settings and the lesson switches next to the numbers.

>>> lk.journal.runs(kind="load").tail()
>>> lk.journal.query("SELECT scenario, avg(p95_ms) FROM runs GROUP BY scenario")
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from labkit._paths import labkit_home
from labkit.errors import JournalError
from sample_service import SWITCH_NAMES

__all__ = ["LESSON_SWITCHES", "JournalError", "path", "query", "record", "runs"]

# The service's lesson switches (settings that change behaviour on purpose); kept apart from the
# other settings so a query can ask "which runs had a switch on". The service names them.
LESSON_SWITCHES: tuple[str, ...] = SWITCH_NAMES

# Metrics with a column of their own, so plain SQL compares them; anything else goes to `metrics`.
_METRIC_COLUMNS = {
    "users": "INTEGER",
    "duration_s": "DOUBLE",
    "processes": "INTEGER",
    "requests": "BIGINT",
    "rps": "DOUBLE",
    "p50_ms": "DOUBLE",
    "p95_ms": "DOUBLE",
    "p99_ms": "DOUBLE",
    "error_rate": "DOUBLE",
    "generator_cpu_pct": "DOUBLE",
    "service_cpu_pct": "DOUBLE",
}
_SCHEMA = f"""
CREATE SEQUENCE IF NOT EXISTS runs_id;
CREATE TABLE IF NOT EXISTS runs (
    id BIGINT PRIMARY KEY DEFAULT nextval('runs_id'),
    recorded_at TIMESTAMPTZ NOT NULL,
    kind VARCHAR NOT NULL,
    label VARCHAR,
    target VARCHAR,
    scenario VARCHAR,
    git_commit VARCHAR,
    git_dirty BOOLEAN,
    host VARCHAR,
    {", ".join(f"{name} {sql_type}" for name, sql_type in _METRIC_COLUMNS.items())},
    params VARCHAR,
    metrics VARCHAR,
    settings VARCHAR,
    switches VARCHAR
);
"""
_LOCK_WAIT_S = 10.0


def path() -> Path:
    """Return the journal file: `LABKIT_JOURNAL` when set, else journal.duckdb in the labkit folder."""
    override = os.environ.get("LABKIT_JOURNAL")
    return Path(override) if override else labkit_home() / "journal.duckdb"


def record(
    kind: str,
    metrics: Mapping[str, Any],
    *,
    label: str | None = None,
    target: str | None = None,
    scenario: str | None = None,
    params: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> int:
    """Append one experiment and return its id.

    Taught in 09_load_testing.

    Args:
        kind: what ran, e.g. "load", "knee", "bench".
        metrics: the numbers; known names (rps, p95_ms, error_rate, …) get columns of their own.
        label, target, scenario: free text that later queries filter on.
        params: how it ran (users, duration, …). settings: the service settings it ran against;
            the lesson switches among them are also kept apart in `switches`.

    Example: `lk.journal.record("bench", {"rps": 1800.0}, label="hello")`
    """
    settings = dict(settings or {})
    commit, dirty = _git_state()
    row: dict[str, Any] = {
        "recorded_at": datetime.now(UTC),
        "kind": kind,
        "label": label,
        "target": target,
        "scenario": scenario,
        "git_commit": commit,
        "git_dirty": dirty,
        "host": socket.gethostname(),
        **{name: _number(metrics.get(name)) for name in _METRIC_COLUMNS},
        "params": _json(params or {}),
        "metrics": _json({k: v for k, v in metrics.items() if k not in _METRIC_COLUMNS}),
        "settings": _json(settings),
        "switches": _json({k: v for k, v in settings.items() if k in LESSON_SWITCHES}),
    }
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    with _connect() as con:
        found = con.execute(
            f"INSERT INTO runs ({columns}) VALUES ({marks}) RETURNING id", list(row.values())
        ).fetchone()
    assert found is not None  # INSERT … RETURNING always yields the new row
    return int(found[0])


def runs(kind: str | None = None, *, last: int | None = None) -> pd.DataFrame:
    """Return the journal's runs as a DataFrame, oldest first; `kind` filters, `last` keeps the newest N.

    Taught in 09_load_testing.

    Example: `lk.journal.runs("load", last=5)[["scenario", "users", "rps", "p95_ms"]]`
    """
    where = "WHERE kind = ?" if kind else ""
    limit = f"ORDER BY id DESC LIMIT {int(last)}" if last else "ORDER BY id DESC"
    sql = f"SELECT * FROM (SELECT * FROM runs {where} {limit}) ORDER BY id"
    return query(sql, [kind] if kind else None)


def query(sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """Run SQL against the journal (its table is `runs`) and return the result as a DataFrame.

    Taught in 09_load_testing.

    Example: `lk.journal.query("SELECT scenario, max(rps) FROM runs GROUP BY ALL")`
    """
    with _connect() as con:
        try:
            return con.execute(sql, params or []).df()
        except duckdb.Error as exc:
            raise JournalError(
                f"the journal query failed: {exc}; the table is `runs` with columns "
                f"{', '.join(_columns(con))}."
            ) from None


def _columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Name the columns of `runs`, for error messages."""
    return [row[0] for row in con.execute("DESCRIBE runs").fetchall()]


def _connect() -> duckdb.DuckDBPyConnection:
    """Open the journal, creating it; wait a little while another process holds its lock."""
    file = path()
    file.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + _LOCK_WAIT_S
    while True:
        try:
            con = duckdb.connect(str(file))
            break
        except duckdb.IOException as exc:
            if time.monotonic() > deadline:
                raise JournalError(
                    f"the journal {file} stayed locked for {_LOCK_WAIT_S:.0f} s ({exc}); another "
                    "process holds it open. Close that connection, or set LABKIT_JOURNAL to "
                    "another file."
                ) from None
            time.sleep(0.2)
    con.execute(_SCHEMA)
    return con


def _git_state() -> tuple[str | None, bool | None]:
    """Return the commit of the working directory's repository and whether it has changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return head, bool(status.strip())


def _number(value: Any) -> float | int | None:
    """Keep numbers (NaN becomes NULL) and drop anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if value != value else value


def _json(value: Mapping[str, Any]) -> str:
    """Serialise a mapping, turning what JSON cannot hold into text."""
    return json.dumps(dict(value), default=str, sort_keys=True)
