"""A workload-wide index set: merged candidates, measured on generated data, no residue."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from labkit.databases import Database
from labkit.errors import ReviewError
from labkit.review import Query, load, load_schema, review_workload, synthesize
from tests.conftest import fresh_database

SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(120) NOT NULL UNIQUE);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    status VARCHAR(10) NOT NULL CHECK (status IN ('new', 'paid', 'shipped', 'void')),
    total_cents INTEGER NOT NULL CHECK (total_cents > 0)
);
"""
WORKLOAD = [
    Query("orders_of_customer", "SELECT * FROM orders WHERE customer_id = :c", {"c": 7}, 10),
    Query(
        "open_orders_of_customer",
        "SELECT id FROM orders WHERE customer_id = :c AND status = :s",
        {"c": 7, "s": "new"},
        3,
    ),
    Query("customer_count", "SELECT count(*) FROM customers", {}, 1),
]


def _indexes(db: Database) -> set[str]:
    inspector = sa.inspect(db.engine)
    return {str(i["name"]) for t in inspector.get_table_names() for i in inspector.get_indexes(t)}


@pytest.mark.parametrize("kind", ["sqlite", "postgres-embedded"])
def test_one_composite_serves_both_queries_and_nothing_is_left_behind(kind: str) -> None:
    with fresh_database(kind, "workload") as db:
        metadata = load_schema(SCHEMA, engine=db)
        load(
            synthesize(metadata, rows={"customers": 2_000, "orders": 40_000}, seed=1),
            db,
            create=False,
        )
        existing = _indexes(db)
        review = review_workload(db, WORKLOAD, repeat=2)
        assert _indexes(db) == existing
        candidates = review.recommended + list(review.rejected)
        assert len([c for c in candidates if "orders" in c]) == 1, candidates  # merged
        if review.recommended:
            assert "(customer_id, status)" in review.recommended[0]
            assert review.after_ms < review.before_ms
        assert list(review.per_query["query"]) == [q.name for q in WORKLOAD]
        assert "Workload on" in review._repr_html_()


@pytest.mark.parametrize("workload", [[], [{"name": "q"}], [{"sql": "SELECT 1", "weight": 2}]])
def test_an_empty_or_malformed_workload_is_a_review_error(
    workload: list[dict[str, object]],
) -> None:
    with fresh_database("sqlite", "workload") as db, pytest.raises(ReviewError):
        review_workload(db, workload)


def test_queries_can_be_plain_dicts_as_a_yaml_file_reads() -> None:
    with fresh_database("sqlite", "workload") as db:
        load(synthesize(SCHEMA, rows=300, seed=4), db)
        entry = {"name": "count", "sql": "SELECT count(*) FROM customers", "frequency": 2}
        review = review_workload(db, [entry], repeat=1)
        assert list(review.per_query["query"]) == ["count"]


def test_a_workload_no_index_helps_gets_no_recommendation() -> None:
    with fresh_database("sqlite", "workload") as db:
        metadata = load_schema(SCHEMA, engine=db)
        load(synthesize(metadata, rows=500, seed=2), db, create=False)
        existing = _indexes(db)
        review = review_workload(db, [WORKLOAD[2]], repeat=2)
        assert review.recommended == [] and review.speedup == 1.0
        assert _indexes(db) == existing
