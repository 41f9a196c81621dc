"""`lk.explain` on real engines: plans parsed from SQLite, PostgreSQL and DuckDB themselves.

Each query here has a known right answer (index used or not, scan type, sort), so a
parser that misreads an engine's output fails a test.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from labkit.databases import Database
from labkit.plans import ExplainError, Plan, PlanNode, compare, explain
from labkit.plans._model import ratio_words
from tests.labkit.conftest import ROWS


def add_index(db: Database, ddl: str) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql(ddl)
    if db.kind == "postgres":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE items")


def drop_index(db: Database, name: str, table: str = "items") -> None:
    on = f" ON {table}" if db.kind == "mysql" else ""  # MySQL names indexes per table
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {name}{on}")


def test_filter_without_index_is_a_full_scan(items: Database) -> None:
    plan = explain(items, "SELECT * FROM items WHERE cat = :c", {"c": 7})
    assert [node.relation for node in plan.full_scans()] == ["items"]
    assert not plan.uses_index()
    assert plan.engine == items.kind


def test_filter_with_index_searches_it(items: Database) -> None:
    add_index(items, "CREATE INDEX ix_items_cat ON items (cat)")
    try:
        plan = explain(items, "SELECT * FROM items WHERE cat = :c", {"c": 7})
        assert plan.uses_index("ix_items_cat" if items.kind != "duckdb" else None)
        assert plan.full_scans() == []
        assert any(node.access == "index search" for node in plan.nodes())
    finally:
        drop_index(items, "ix_items_cat")


def test_primary_key_lookup_uses_an_index_on_every_engine(items: Database) -> None:
    plan = explain(items, "SELECT * FROM items WHERE id = :id", {"id": 1234})
    assert plan.uses_index()
    assert plan.full_scans() == []
    assert plan.rows == 1


def test_index_holding_every_column_read_is_covering(items: Database) -> None:
    if items.kind == "duckdb":
        pytest.skip("DuckDB has no covering (index-only) reads")
    add_index(items, "CREATE INDEX ix_items_cat_price ON items (cat, price)")
    try:
        plan = explain(items, "SELECT price FROM items WHERE cat = :c", {"c": 7})
        assert any(node.covering for node in plan.nodes() if node.index == "ix_items_cat_price")
        wider = explain(items, "SELECT price, cat2 FROM items WHERE cat = :c", {"c": 7})
        assert not any(node.covering for node in wider.nodes())
    finally:
        drop_index(items, "ix_items_cat_price")


def test_order_by_without_index_sorts_and_an_index_removes_the_sort(items: Database) -> None:
    query = "SELECT id, price FROM items ORDER BY price LIMIT 10"
    assert explain(items, query).sorts()
    if items.kind == "duckdb":
        return  # DuckDB always sorts (TOP_N); its indexes do not provide order
    add_index(items, "CREATE INDEX ix_items_price ON items (price)")
    try:
        after = explain(items, query)
        assert after.sorts() == []
        assert after.uses_index("ix_items_price")
    finally:
        drop_index(items, "ix_items_price")


def test_sqlalchemy_statement_is_explained_like_its_text(items: Database) -> None:
    table = sa.Table(
        "items", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("cat", sa.Integer)
    )
    statement = sa.select(table.c.id).where(table.c.cat == 7)
    plan = explain(items, statement)
    text = explain(items, "SELECT id FROM items WHERE cat = :c", {"c": 7})
    # The same operators; conditions may differ in spelling, as a typed bind is cast and a
    # text bind is left for the server to type.
    assert [n.label() for n in plan.nodes()] == [n.label() for n in text.nodes()]
    assert plan.rows == ROWS // 200


def test_actual_rows_and_total_time_are_measured(items: Database) -> None:
    plan = explain(items, "SELECT * FROM items WHERE cat = :c", {"c": 7})
    assert plan.rows == ROWS // 200
    assert plan.total_ms is not None and plan.total_ms > 0
    if items.kind != "sqlite":  # SQLite gives no per-operator numbers
        scan = plan.full_scans()[0]
        assert scan.rows_read == ROWS
        assert plan.root.actual_rows == ROWS // 200


def test_without_analyze_nothing_runs_and_nothing_is_timed(items: Database) -> None:
    plan = explain(items, "SELECT * FROM items WHERE cat = 7", analyze=False)
    assert plan.total_ms is None and plan.rows is None
    assert all(node.actual_rows is None for node in plan.nodes())
    assert plan.full_scans()


def test_exclusive_times_add_up_and_hotspot_has_the_most(items: Database) -> None:
    if items.kind == "sqlite":
        plan = explain(items, "SELECT * FROM items WHERE cat = 7")
        assert plan.hotspot() is plan.full_scans()[0]  # no timings: the biggest full scan
        return
    plan = explain(items, "SELECT cat, count(*) FROM items GROUP BY cat ORDER BY cat")
    timed = [node for node in plan.nodes() if node.self_ms is not None]
    assert plan.hotspot().self_ms == max(node.self_ms or 0.0 for node in timed)
    assert plan.root.time_ms == pytest.approx(sum(node.self_ms or 0.0 for node in timed), rel=0.05)


def test_correlated_columns_show_up_as_a_row_underestimate(items: Database) -> None:
    if items.kind != "postgres":
        pytest.skip("only PostgreSQL reports estimated and actual rows per operator with buffers")
    plan = explain(items, "SELECT * FROM items WHERE cat = 7 AND cat2 = 7")
    (miss,) = plan.misestimates(factor=10)
    assert miss.node.relation == "items"
    assert miss.direction == "under"
    assert miss.actual == ROWS // 200
    assert plan.full_scans()[0].buffers is not None


def test_explain_analyze_of_a_write_is_rolled_back(items: Database) -> None:
    explain(items, "DELETE FROM items WHERE cat = 7")
    with items.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM items").scalar_one() == ROWS


def test_text_is_deterministic_and_has_no_timings(items: Database) -> None:
    query = "SELECT cat, count(*) FROM items WHERE price < 5000 GROUP BY cat ORDER BY cat"
    first, second = explain(items, query), explain(items, query)
    assert first.text() == second.text()
    assert re.search(r"\d\s*ms\b", first.text()) is None
    assert first.mermaid() == second.mermaid()


def test_renderings_show_scans_and_offline_mermaid(items: Database) -> None:
    plan = explain(items, "SELECT * FROM items WHERE cat = 7 ORDER BY price")
    html = plan._repr_html_()
    assert "class='scan'" in html and "class='sort'" in html
    assert "reads every row of the table" in html
    bundle = plan.mermaid()._repr_mimebundle_()
    assert "FULL SCAN" in bundle["text/vnd.mermaid"]
    assert "Plan" in repr(plan)


def test_compare_names_the_change_from_scan_to_index(items: Database) -> None:
    query = "SELECT * FROM items WHERE cat = 7"
    before = explain(items, query)
    add_index(items, "CREATE INDEX ix_items_cat ON items (cat)")
    try:
        after = explain(items, query)
    finally:
        drop_index(items, "ix_items_cat")
    comparison = compare(before, after)
    assert any("full scan -> index search" in change for change in comparison.changes())
    assert comparison.speedup is not None
    assert "before" in comparison._repr_html_()
    assert compare(before, before).changes() == ["same plan shape"]


def test_sql_the_engine_rejects_raises_an_explain_error(items: Database) -> None:
    with pytest.raises(ExplainError, match="no_such_table"):
        explain(items, "SELECT * FROM no_such_table")


def test_something_that_is_not_a_database_is_refused() -> None:
    with pytest.raises(ExplainError, match="Database"):
        explain("sqlite", "SELECT 1")


def test_plan_keeps_the_sql_as_written(items: Database) -> None:
    query = "SELECT * FROM items WHERE cat = :c"
    plan = explain(items, query, {"c": 7})
    assert isinstance(plan, Plan)
    assert plan.sql == query


def test_rows_cut_short_by_a_limit_are_not_a_misestimate(items: Database) -> None:
    if items.kind != "postgres":
        pytest.skip("the sort's estimated rows under a LIMIT are PostgreSQL's")
    plan = explain(items, "SELECT * FROM items WHERE cat = 7 ORDER BY price LIMIT 3")
    sort = plan.sorts()[0]
    assert sort.est_rows is not None and sort.actual_rows == 3 < sort.est_rows / 10
    assert plan.misestimates() == []


def test_time_ratios_read_as_faster_or_slower() -> None:
    assert ratio_words(4.0) == "4.0x faster"
    assert ratio_words(0.25) == "4.0x slower"
    assert ratio_words(None) == "no timings"


@pytest.mark.parametrize(
    ("query", "params"),
    [("SELECT * FROM items WHERE cat = :c", None), ("SELECT * FROM items", {"c": 7})],
)
def test_params_that_do_not_match_the_placeholders_are_refused(
    items: Database, query: str, params: dict[str, int] | None
) -> None:
    with pytest.raises(ExplainError, match="placeholders"):
        explain(items, query, params)


def test_repeat_keeps_the_fastest_of_the_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    timings = iter([5.0, 2.0, 7.0])

    def run_once(db: object, sql: object, params: object, analyze: bool) -> Plan:
        return Plan("sqlite", str(sql), PlanNode("QUERY"), total_ms=next(timings))

    monkeypatch.setattr("labkit.plans._engines.explain_plan", run_once)
    assert explain(None, "SELECT 1", repeat=3).total_ms == 2.0
