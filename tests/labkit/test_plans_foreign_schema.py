"""Plans on a schema labkit was not written for: Chinook at about 300,000 rows, 29 queries of
the kinds an architect brings, on every engine. For each query and engine: EXPLAIN parses and
counts the rows the query returns, `uses_index()`/`full_scans()` agree with the engine's raw
plan, index advice leaves the schema as found, and `best`, when given, made the query faster."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from labkit.databases import Database, database
from labkit.plans import Plan, explain, suggest_indexes, try_index
from tests.conftest import unique_name
from tests.labkit import chinook
from tests.labkit.conftest import mysql_param

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "duckdb", mysql_param()]


@pytest.fixture(scope="module")
def rows() -> dict[str, list[dict[str, Any]]]:
    """The generated rows, made once for every engine."""
    return chinook.generate()


@pytest.fixture(scope="module", params=ENGINES)
def shop(
    request: pytest.FixtureRequest, rows: dict[str, list[dict[str, Any]]]
) -> Iterator[Database]:
    """Chinook loaded into a database of each engine in turn."""
    db = database(request.param, name=unique_name("chinook"), fresh=True)
    try:
        chinook.load(db, rows)
        yield db
    finally:
        db.drop()


def test_the_generator_makes_a_few_hundred_thousand_rows(rows: dict[str, list[Any]]) -> None:
    assert sum(len(table) for table in rows.values()) > 250_000
    assert len(chinook.WORKLOAD) >= 25


def catalog(db: Database) -> set[tuple[str, ...]]:
    """Every table and index with its columns: what advice must leave as it found."""
    with db.engine.connect() as conn:
        if db.kind == "duckdb":
            query = "SELECT table_name, index_name, expressions FROM duckdb_indexes() UNION ALL " \
                    "SELECT table_name, '', '' FROM duckdb_tables()"  # fmt: skip
            return {tuple(map(str, row)) for row in conn.exec_driver_sql(query)}
        inspector = sa.inspect(conn)
        found: set[tuple[str, ...]] = set()
        for table in inspector.get_table_names():
            found.add((table, "", ""))
            for index in inspector.get_indexes(table):
                found.add((table, str(index["name"]), str(index["column_names"])))
        return found


def _mysql_tables(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "table_name" in node and "access_type" in node:
            yield node
        for value in node.values():
            yield from _mysql_tables(value)
    elif isinstance(node, list):
        for value in node:
            yield from _mysql_tables(value)


def raw_reading(plan: Plan, query: chinook.Query) -> tuple[bool, bool]:
    """(reads a whole table, reads through an index) read from the engine's own output."""
    if plan.engine == "sqlite":
        details = [str(row[3]) for row in plan.raw]
        full = any(
            (m := re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX \w+)?(?: LEFT-JOIN)?$", d))
            and m[1] not in query.virtual
            for d in details
        )
        used = any(re.search(r"USING (?:COVERING )?INDEX |PRIMARY KEY", d) for d in details)
        return full, used
    if plan.engine == "postgres":
        text = json.dumps(plan.raw)
        return '"Node Type": "Seq Scan"' in text, '"Index Name"' in text
    if plan.engine == "duckdb":
        text = json.dumps(plan.raw)
        return '"Type": "Sequential Scan"' in text, '"Type": "Index Scan"' in text
    tables = [
        t for t in _mysql_tables(plan.raw)
        if not str(t["table_name"]).startswith("<") and t["table_name"] not in query.virtual
    ]  # fmt: skip
    full = any(str(t["access_type"]).removeprefix("hash_") in ("ALL", "index") for t in tables)
    used = any(t.get("key") and t["access_type"] not in ("ALL", "hash_ALL") for t in tables)
    return full, used


@pytest.mark.parametrize("query", chinook.WORKLOAD, ids=[q.kind for q in chinook.WORKLOAD])
def test_workload_query_plans_agree_with_the_engine_and_advice_leaves_nothing(
    shop: Database, query: chinook.Query
) -> None:
    with shop.engine.connect() as conn:
        returned = len(conn.execute(sa.text(query.sql), query.params).all())
    plan = explain(shop, query.sql, query.params)
    assert plan.rows == returned
    assert plan.text() and plan._repr_html_()

    full, used = raw_reading(plan, query)
    assert bool(plan.full_scans()) == full, plan
    assert plan.uses_index() == used, plan

    before = catalog(shop)
    advice = suggest_indexes(shop, query.sql, query.params, repeat=2)
    assert catalog(shop) == before
    assert all(s.error == "" for s in advice.suggestions), advice
    if advice.best is not None:  # measured again, on its own: still used, still faster
        assert faster_again(shop, advice.best.ddl, query), advice
        assert catalog(shop) == before


def faster_again(db: Database, ddl: str, query: chinook.Query, tries: int = 3) -> bool:
    """True when a fresh trial finds the index used and faster; a query of a few ms on a busy
    machine gets up to `tries` trials, so only an index slower every time fails."""
    for _ in range(tries):
        trial = try_index(db, ddl, query.sql, query.params, repeat=3)
        if trial.used and trial.speedup is not None and trial.speedup > 1.0:
            return True
    return False
