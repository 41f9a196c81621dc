"""The SQL a new user brings: every valid query explains, binds behave as in SQLAlchemy,
trials leave no residue on any path, advice is never worse, comparisons tell the truth."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import sqlalchemy as sa

from labkit.databases import Database
from labkit.errors import IndexExists
from labkit.plans import (
    ExplainError,
    IndexAdvice,
    IndexSuggestion,
    IndexTrial,
    Plan,
    PlanNode,
    compare,
    explain,
    suggest_indexes,
    try_index,
)
from labkit.plans._postgres import _pg_node
from tests.labkit.test_explain_advice import schema

VALID = {
    "cte": "WITH cheap AS (SELECT * FROM items WHERE price < :p) "
    "SELECT c.cat, count(*) FROM cheap c GROUP BY c.cat",
    "recursive cte": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) "
    "SELECT i.id FROM n JOIN items i ON i.id = n.x",
    "window": "SELECT id, row_number() OVER (PARTITION BY cat ORDER BY price) AS r "
    "FROM items WHERE price < :p",
    "derived table": "SELECT d.cat, d.n FROM (SELECT cat, count(*) AS n FROM items "
    "GROUP BY cat) d WHERE d.n > 10",
    "comma join": "SELECT a.id FROM items a, items b WHERE a.id = b.cat AND b.price < :p",
    "left join": "SELECT a.id, b.id FROM items a LEFT JOIN items b ON b.cat2 = a.id "
    "WHERE a.price < :p",
    "not exists": "SELECT a.id FROM items a WHERE a.price < :p AND NOT EXISTS "
    "(SELECT 1 FROM items b WHERE b.cat2 = a.id)",
    "union": "SELECT id FROM items WHERE cat = 1 UNION SELECT id FROM items WHERE price < :p",
    "bare count": "SELECT count(*) FROM items",
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_valid_query_explains_and_only_real_tables_count_as_full_scans(
    items: Database, name: str
) -> None:
    sql = VALID[name]
    plan = explain(items, sql, {"p": 50} if ":p" in sql else None)
    assert plan.total_ms is not None and plan.rows is not None
    assert {node.relation for node in plan.full_scans()} <= {"items"}
    assert plan.text() and plan._repr_html_() and plan.mermaid().text


def test_sqlite_scan_counts_rows_only_of_real_tables(items: Database) -> None:
    if items.kind != "sqlite":
        pytest.skip("row counts for full scans are SQLite's, which reports none of its own")
    plan = explain(items, VALID["derived table"], analyze=False)
    counted = {node.relation: node.est_rows for node in plan.nodes() if node.est_rows}
    assert counted == {"items": 20_000.0}
    assert any(node.relation == "d" and node.access is None for node in plan.nodes())


def test_sqlite_walk_of_a_whole_index_is_a_full_read(items: Database) -> None:
    if items.kind != "sqlite":
        pytest.skip("`SCAN t USING INDEX` is SQLite's wording")
    with items.engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX ix_walk ON items (price)")
    try:
        plan = explain(items, "SELECT id FROM items ORDER BY price", analyze=False)
    finally:
        with items.engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_walk")
    (scan,) = plan.full_scans()
    assert scan.access == "index scan" and scan.index == "ix_walk" and scan.reads_all


def test_a_string_compared_with_a_timestamp_binds_as_in_sqlalchemy(items: Database) -> None:
    if items.kind not in ("postgres", "duckdb"):
        pytest.skip("SQLite and MySQL compare timestamps as text anyway")
    sql = "SELECT id FROM items WHERE CAST('2024-05-01' AS TIMESTAMP) >= :since AND id < 3"
    with items.engine.connect() as conn:
        expected = len(conn.execute(sa.text(sql), {"since": "2024-01-01"}).all())
    assert explain(items, sql, {"since": "2024-01-01"}).rows == expected == 3


def test_a_failing_query_names_the_engines_message(items: Database) -> None:
    with pytest.raises(ExplainError, match="nosuch") as raised:
        explain(items, "SELECT nosuch FROM items WHERE cat = :c", {"c": 1})
    if items.kind == "postgres":
        assert "at character 8" in str(raised.value)


def test_duckdb_leaves_no_profiler_switched_on(items: Database) -> None:
    if items.kind != "duckdb":
        pytest.skip("DuckDB's profiler settings")
    query = "SELECT name, value FROM duckdb_settings() WHERE name LIKE '%profil%'"
    with items.engine.connect() as conn:
        before = conn.exec_driver_sql(query).all()
    explain(items, "SELECT * FROM items WHERE cat = 3")
    with items.engine.connect() as conn:
        assert conn.exec_driver_sql(query).all() == before


QUALIFIED = {
    "sqlite": "CREATE INDEX main.ix_qualified ON items (cat)",
    "postgres": "CREATE INDEX ix_qualified ON public.items (cat)",
    "duckdb": "CREATE INDEX ix_qualified ON main.items (cat)",
    "mysql": "CREATE INDEX ix_qualified ON {db}.items (cat)",
}


def test_try_index_with_a_schema_qualified_name_leaves_nothing(items: Database) -> None:
    before = schema(items)
    trial = try_index(items, QUALIFIED[items.kind].format(db=items.name), "SELECT * FROM items "
                      "WHERE cat = :c", {"c": 7}, repeat=1)  # fmt: skip
    assert trial.used
    assert schema(items) == before


def test_try_index_on_quoted_mixed_case_names_leaves_nothing(items: Database) -> None:
    if items.kind == "mysql":
        pytest.skip("MySQL quotes with backticks; the double-quoted SQL below is not MySQL's")
    with items.engine.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE "Mixed Items" ("Id" INTEGER PRIMARY KEY, "Cat" INTEGER)')
        conn.exec_driver_sql('INSERT INTO "Mixed Items" SELECT id, cat FROM items')
    if items.kind == "postgres":
        with items.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql('ANALYZE "Mixed Items"')
    try:
        before = schema(items)
        query = 'SELECT "Id" FROM "Mixed Items" WHERE "Cat" = :c'
        trial = try_index(
            items, 'CREATE INDEX "ix_Mixed" ON "Mixed Items" ("Cat")', query, {"c": 7}
        )
        advice = suggest_indexes(items, query, {"c": 7}, repeat=1)
        assert schema(items) == before
        assert trial.used
        assert [s.ddl for s in advice.suggestions] == [
            'CREATE INDEX ix_try_mixed_items_cat ON "Mixed Items" ("Cat")'
        ]
        assert all(s.error == "" for s in advice.suggestions)
    finally:
        with items.engine.begin() as conn:
            conn.exec_driver_sql('DROP TABLE "Mixed Items"')


def test_try_index_refuses_a_taken_name_with_its_own_error(items: Database) -> None:
    with pytest.raises(IndexExists):  # the primary key's index on SQLite, by any other name
        with items.engine.begin() as conn:
            conn.exec_driver_sql("CREATE INDEX ix_taken ON items (price)")
        try:
            try_index(items, "CREATE INDEX ix_taken ON items (cat)", "SELECT 1", repeat=1)
        finally:
            with items.engine.begin() as conn:
                on = " ON items" if items.kind == "mysql" else ""
                conn.exec_driver_sql(f"DROP INDEX ix_taken{on}")


def test_an_interrupt_half_way_leaves_the_schema_as_found(
    items: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any) -> float:
        raise KeyboardInterrupt

    monkeypatch.setattr("labkit.plans._trials._write_cost", interrupted)
    before = schema(items)
    with pytest.raises(KeyboardInterrupt):
        try_index(items, "CREATE INDEX ix_cut ON items (cat)", "SELECT * FROM items", repeat=1)
    assert schema(items) == before


_KILLED = """
import os, signal
import labkit.plans._trials as trials
from labkit.databases import Database
from labkit.plans import try_index

def killed(*args):
    os.kill(os.getpid(), signal.SIGKILL)

trials._write_cost = killed
db = Database({kind!r}, {url!r}, {name!r})
try_index(db, "CREATE INDEX ix_killed ON items (cat)", "SELECT * FROM items WHERE cat = 3", repeat=1)
"""


def test_a_process_killed_half_way_leaves_the_schema_as_found(items: Database) -> None:
    if items.kind not in ("sqlite", "postgres"):
        pytest.skip(
            "only engines with transactional DDL survive SIGKILL; the others drop in a finally"
        )
    before = schema(items)
    items.dispose()
    script = _KILLED.format(kind=items.kind, url=items.url, name=items.name)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL
    assert schema(items) == before


def test_candidates_skip_the_primary_key_and_index_expressions(items: Database) -> None:
    query = "SELECT a.id FROM items a JOIN items b ON b.id = a.cat2 WHERE abs(a.price) = :p"
    advice = suggest_indexes(items, query, {"p": 42}, verify=False)
    ddls = [s.ddl for s in advice.suggestions]
    assert not any("(id)" in ddl for ddl in ddls)
    if items.kind in ("sqlite", "postgres"):
        assert "CREATE INDEX ix_try_items_abs_price ON items (abs(price))" in ddls
    else:
        assert any("abs(price)" in hint for hint in advice.hints)


def test_a_window_ordering_is_not_the_querys_ordering(items: Database) -> None:
    query = "SELECT id, rank() OVER (ORDER BY price) AS r FROM items WHERE cat = :c"
    advice = suggest_indexes(items, query, {"c": 3}, verify=False)
    assert [s.ddl for s in advice.suggestions] == ["CREATE INDEX ix_try_items_cat ON items (cat)"]


def test_an_expression_index_is_measured_where_the_engine_has_them(items: Database) -> None:
    if items.kind not in ("sqlite", "postgres"):
        pytest.skip("expression indexes are SQLite's and PostgreSQL's")
    before = schema(items)
    advice = suggest_indexes(items, "SELECT id FROM items WHERE abs(price) = :p", {"p": 42})
    assert schema(items) == before
    assert advice.best is not None and "abs(price)" in advice.best.ddl, advice
    assert advice.best.trial is not None and advice.best.trial.used


def _plan(total_ms: float, *reads: tuple[str, str | None]) -> Plan:
    nodes = [
        PlanNode("read", relation="items", index=index, access=access)  # type: ignore[arg-type]
        for access, index in reads
    ]
    return Plan("sqlite", "q", PlanNode("QUERY", children=nodes), total_ms=total_ms)


def test_best_is_none_with_the_reason_when_the_gain_is_under_the_margin() -> None:
    before = _plan(10.0, ("full scan", None))
    after = _plan(9.0, ("index search", "ix_small_gain"))
    trial = IndexTrial("CREATE INDEX ix_small_gain ON items (cat)", "ix_small_gain", "items",
                       before, after, 1024, 0.1)  # fmt: skip
    advice = IndexAdvice(before, [IndexSuggestion(trial.ddl, "filter", trial)])
    assert trial.used and advice.best is None
    assert "margin" in advice.reason
    faster = IndexTrial(trial.ddl, trial.name, "items", before, _plan(2.0, ("index search",
                        "ix_small_gain")), 1024, 0.1)  # fmt: skip
    assert IndexAdvice(before, [IndexSuggestion(trial.ddl, "filter", faster)]).best is not None


def test_compare_sees_a_change_in_a_second_read_of_the_same_table() -> None:
    before = _plan(5.0, ("index search", "ix_a"), ("full scan", None))
    after = _plan(1.0, ("index search", "ix_a"), ("index search", "ix_b"))
    assert compare(before, after).changes()[0] == (
        "items: index search using ix_a, full scan -> index search using ix_a, "
        "index search using ix_b"
    )


def test_bitmap_or_children_keep_their_table() -> None:
    def index_scan(name: str) -> dict[str, Any]:
        return {"Node Type": "Bitmap Index Scan", "Index Name": name, "Index Cond": "x",
                "Plan Rows": 10}  # fmt: skip

    raw = {
        "Node Type": "Bitmap Heap Scan",
        "Relation Name": "items",
        "Plan Rows": 20,
        "Plans": [
            {"Node Type": "BitmapOr", "Plan Rows": 20,
             "Plans": [index_scan("ix_a"), index_scan("ix_b")]},
        ],
    }  # fmt: skip
    plan = Plan("postgres", "q", _pg_node(raw))
    scans = [node for node in plan.nodes() if node.access]
    assert [(n.relation, n.index) for n in scans] == [("items", "ix_a"), ("items", "ix_b")]


def test_parallel_workers_times_are_not_summed_into_more_than_the_parent() -> None:
    raw = {
        "Node Type": "Gather", "Plan Rows": 100, "Actual Rows": 100, "Actual Loops": 1,
        "Actual Total Time": 100.0, "Workers Launched": 2,
        "Plans": [
            {"Node Type": "Seq Scan", "Parallel Aware": True, "Relation Name": "items",
             "Plan Rows": 33, "Actual Rows": 33, "Actual Loops": 3, "Actual Total Time": 90.0},
        ],
    }  # fmt: skip
    gather = _pg_node(raw)
    scan = gather.children[0]
    assert scan.time_ms == pytest.approx(90.0)
    assert gather.self_ms == pytest.approx(10.0)
    assert scan.rows_read == 99


def test_mysql_without_a_server_url_says_what_to_set() -> None:
    if os.environ.get("LABKIT_MYSQL_URL"):
        pytest.skip("LABKIT_MYSQL_URL is set: the `items` tests run on MySQL/MariaDB")
    from labkit.databases import database
    from labkit.errors import LabkitError

    with pytest.raises(LabkitError, match="LABKIT_MYSQL_URL"):
        database("mysql")


def test_duckdb_names_the_index_a_join_reads_through_its_dynamic_filter(items: Database) -> None:
    if items.kind != "duckdb":
        pytest.skip("DuckDB's plans say only `Index Scan`; the other engines name the index")
    query = "SELECT a.id FROM items b JOIN items a ON a.id = b.cat2 WHERE b.id < 5"
    plan = explain(items, query)
    assert plan.uses_index("primary key"), plan


def test_a_small_table_gets_a_hint_and_no_candidate(items: Database) -> None:
    with items.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE tiny (id INTEGER PRIMARY KEY, cat INTEGER)")
        conn.exec_driver_sql("INSERT INTO tiny SELECT id, cat FROM items WHERE id < 50")
    try:
        advice = suggest_indexes(items, "SELECT id FROM tiny WHERE cat = :c", {"c": 3})
    finally:
        with items.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE tiny")
    assert advice.suggestions == [] and advice.best is None
    assert any("tiny: 50 rows" in hint for hint in advice.hints), advice
