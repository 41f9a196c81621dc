"""Fixtures for labkit's tests: a journal of each test's own, and the `items` table that the
EXPLAIN and index-advice tests read on every engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from labkit.databases import Database, database
from tests.conftest import unique_name


@pytest.fixture(autouse=True)
def own_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Load runs and bench items go to a journal of the test's own, never the user's."""
    path = tmp_path / "journal.duckdb"
    monkeypatch.setenv("LABKIT_JOURNAL", str(path))
    return path


ROWS = 20_000
# cat2 always equals cat: the planner assumes independent columns and underestimates.
_FILL = {
    "sqlite": "WITH RECURSIVE r(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM r WHERE i < {last}) "
    "INSERT INTO items SELECT i, i % 200, i % 200, (i * 7919) % 10000, "
    "CASE WHEN i % 10 = 0 THEN 1 END FROM r",
    "postgres": "INSERT INTO items SELECT i, i % 200, i % 200, (i * 7919) % 10000, "
    "CASE WHEN i % 10 = 0 THEN 1 END FROM generate_series(0, {last}) AS i",
    "duckdb": "INSERT INTO items SELECT i, i % 200, i % 200, (i * 7919) % 10000, "
    "CASE WHEN i % 10 = 0 THEN 1 END FROM range({rows}) AS t(i)",
    "mysql": "INSERT INTO items SELECT i, i % 200, i % 200, (i * 7919) % 10000, "
    "CASE WHEN i % 10 = 0 THEN 1 END FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d "
    "+ 10000 * f.d AS i FROM {digits} a, {digits} b, {digits} c, {digits} e, {digits} f) AS n "
    "WHERE i <= {last}",
}
_DIGITS = "(" + " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10)) + ")"


def mysql_param() -> object:
    """The MySQL/MariaDB engine as a parameter, skipped with the reason when no server is set."""
    return pytest.param(
        "mysql",
        marks=[
            pytest.mark.mysql,
            pytest.mark.skipif(
                not os.environ.get("LABKIT_MYSQL_URL"),
                reason="LABKIT_MYSQL_URL is not set; set it to test MySQL/MariaDB too",
            ),
        ],
    )


def make_items(kind: str) -> Database:
    """A fresh database with `items` (ROWS rows, no secondary index) and fresh statistics."""
    db = database(kind, name=unique_name("explain"), fresh=True)
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, cat INTEGER NOT NULL, "
            "cat2 INTEGER NOT NULL, price INTEGER NOT NULL, deleted_at INTEGER)"
        )
        conn.execute(sa.text(_FILL[kind].format(last=ROWS - 1, rows=ROWS, digits=_DIGITS)))
    if kind == "postgres":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE items")  # index-only scans need the visibility map
    return db


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        "duckdb",
        mysql_param(),
    ],
)
def items(request: pytest.FixtureRequest) -> Iterator[Database]:
    """`items` on each engine in turn, one database per test module."""
    db = make_items(request.param)
    yield db
    db.drop()
