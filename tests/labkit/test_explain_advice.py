"""`try_index` and `suggest_indexes` measure real indexes and leave the schema as they found it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from labkit.databases import Database
from labkit.plans import ExplainError, suggest_indexes, try_index
from tests.labkit.test_explain import drop_index

QUERY = "SELECT id, price FROM items WHERE cat = :c AND deleted_at IS NULL ORDER BY price LIMIT 5"


def schema(db: Database) -> set[tuple[str, str]]:
    """Every table and index in the database, by kind and name."""
    query = {
        "sqlite": "SELECT type, name FROM sqlite_master",
        "postgres": "SELECT 'index', indexname FROM pg_indexes WHERE schemaname = 'public' "
        "UNION ALL SELECT 'table', tablename FROM pg_tables WHERE schemaname = 'public'",
        "duckdb": "SELECT 'index', index_name FROM duckdb_indexes() "
        "UNION ALL SELECT 'table', table_name FROM duckdb_tables()",
        "mysql": "SELECT 'index', index_name FROM information_schema.statistics "
        "WHERE table_schema = database() UNION ALL SELECT 'table', table_name "
        "FROM information_schema.tables WHERE table_schema = database()",
    }[db.kind]
    with db.engine.connect() as conn:
        return {(str(kind), str(name)) for kind, name in conn.execute(sa.text(query))}


def test_try_index_measures_the_index_and_drops_it(items: Database) -> None:
    before = schema(items)
    query = "SELECT * FROM items WHERE cat = :c"
    trial = try_index(items, "CREATE INDEX ix_items_cat ON items (cat)", query, {"c": 7})
    assert schema(items) == before
    assert trial.before.full_scans()
    assert trial.used
    assert trial.insert_ms_per_1k is not None and trial.insert_ms_per_1k >= 0
    assert trial.size_bytes is not None and trial.size_bytes > 0
    assert "ix_items_cat" in repr(trial)


def test_try_index_reports_an_index_the_planner_ignores(items: Database) -> None:
    trial = try_index(items, "CREATE INDEX ix_items_cat2 ON items (cat2)", QUERY, {"c": 7})
    assert not trial.used
    assert "NOT used" in repr(trial)


def test_try_index_refuses_to_shadow_an_existing_index_and_keeps_it(items: Database) -> None:
    with items.engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX ix_items_mine ON items (price)")
    try:
        with pytest.raises(ExplainError, match="already exists"):
            try_index(items, "CREATE INDEX ix_items_mine ON items (cat)", QUERY, {"c": 7})
        assert ("index", "ix_items_mine") in schema(items)
    finally:
        drop_index(items, "ix_items_mine")


def test_try_index_needs_a_named_create_index(items: Database) -> None:
    with pytest.raises(ExplainError, match="CREATE"):
        try_index(items, "ALTER TABLE items ADD COLUMN x INTEGER", QUERY, {"c": 7})


def test_suggest_indexes_proposes_filter_then_sort_and_leaves_nothing(items: Database) -> None:
    before = schema(items)
    advice = suggest_indexes(items, QUERY, {"c": 7}, repeat=1)
    assert schema(items) == before
    ddls = [suggestion.ddl for suggestion in advice.suggestions]
    assert any("(cat, price)" in ddl for ddl in ddls)
    assert any("(cat)" in ddl for ddl in ddls)
    if items.kind in ("sqlite", "postgres"):  # the engines with partial indexes
        assert all("WHERE deleted_at IS NULL" in ddl for ddl in ddls)
    if items.kind != "duckdb":
        assert advice.best is not None and advice.best.trial is not None
        assert advice.best.trial.used
        assert advice.best.trial.after.full_scans() == []


def test_suggest_indexes_has_nothing_to_say_when_no_table_is_scanned(items: Database) -> None:
    advice = suggest_indexes(items, "SELECT * FROM items WHERE id = :id", {"id": 3})
    assert advice.suggestions == []
    assert advice.best is None


def test_suggest_indexes_reads_join_keys_through_aliases(items: Database) -> None:
    query = "SELECT a.id FROM items AS a JOIN items AS b ON b.cat2 = a.id WHERE a.price = :p"
    advice = suggest_indexes(items, query, {"p": 42}, verify=False)
    ddls = [suggestion.ddl for suggestion in advice.suggestions]
    assert "CREATE INDEX ix_try_items_price ON items (price)" in ddls
    assert "CREATE INDEX ix_try_items_cat2 ON items (cat2)" in ddls
