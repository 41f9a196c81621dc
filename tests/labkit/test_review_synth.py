"""Synthetic data for any schema: the database itself accepts every row, and queries after the
load find no orphan, no duplicate and no row outside a CHECK."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

import sample_service.models
from labkit.databases import Database, database
from labkit.errors import ReviewError
from labkit.review import load, load_schema, synthesize
from labkit.review._bench import synthesis_figures
from tests.conftest import DATABASE_KINDS, fresh_database, unique_name

SELF_REFERENCE = """
CREATE TABLE categories (
    id INTEGER PRIMARY KEY,
    name VARCHAR(40) NOT NULL UNIQUE,
    parent_id INTEGER REFERENCES categories (id)
);
CREATE TABLE employees (
    id INTEGER PRIMARY KEY,
    email VARCHAR(120) NOT NULL UNIQUE,
    manager_id INTEGER REFERENCES employees (id),
    category_id INTEGER NOT NULL REFERENCES categories (id)
);
"""

COMPOSITE = """
CREATE TABLE courses (
    dept VARCHAR(8) NOT NULL,
    num INTEGER NOT NULL,
    title TEXT NOT NULL,
    PRIMARY KEY (dept, num)
);
CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE enrolments (
    student_id INTEGER NOT NULL REFERENCES students (id),
    dept VARCHAR(8) NOT NULL,
    num INTEGER NOT NULL,
    grade INTEGER,
    PRIMARY KEY (student_id, dept, num),
    FOREIGN KEY (dept, num) REFERENCES courses (dept, num)
);
CREATE TABLE sections (
    id INTEGER PRIMARY KEY,
    dept VARCHAR(8) NOT NULL,
    num INTEGER NOT NULL,
    term VARCHAR(6) NOT NULL,
    UNIQUE (dept, num, term),
    FOREIGN KEY (dept, num) REFERENCES courses (dept, num)
);
"""

CHECKS = """
CREATE TABLE products (
    id BIGINT PRIMARY KEY,
    sku VARCHAR(12) NOT NULL UNIQUE,
    price_cents INTEGER NOT NULL CHECK (price_cents > 0),
    discount NUMERIC(5, 2) CHECK (discount BETWEEN 0 AND 50),
    status VARCHAR(10) NOT NULL CHECK (status IN ('draft', 'live', 'retired')),
    code CHAR(3) NOT NULL CHECK (length(code) = 3),
    stock SMALLINT NOT NULL CHECK (stock >= 0 AND stock < 500),
    contact TEXT CHECK (lower(contact) = contact)
);
CREATE TABLE bookings (
    id INTEGER PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES products (id),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    seats INTEGER NOT NULL CHECK (seats BETWEEN 1 AND 8),
    CHECK (ends_at > starts_at),
    UNIQUE (product_id, starts_at)
);
"""

SCHEMAS = {"self_reference": SELF_REFERENCE, "composite": COMPOSITE, "checks": CHECKS}


def _violations(db: Database, metadata: sa.MetaData) -> dict[str, int]:
    """Rows that break a constraint, counted by the database with plain queries."""
    found: dict[str, int] = {}
    with db.engine.connect() as connection:

        def count(label: str, sql: str) -> None:
            found[label] = int(connection.exec_driver_sql(sql).scalar_one())

        for table in metadata.sorted_tables:
            for fk in table.foreign_key_constraints:
                cols = [c.name for c in fk.columns]
                match = " AND ".join(
                    f"p.{e.column.name} = c.{col}" for col, e in zip(cols, fk.elements, strict=True)
                )
                count(
                    f"{table.name} fk {cols}",
                    f"SELECT count(*) FROM {table.name} c WHERE c.{cols[0]} IS NOT NULL AND NOT "
                    f"EXISTS (SELECT 1 FROM {fk.referred_table.name} p WHERE {match})",
                )
            keys = [table.primary_key.columns] + [
                u.columns for u in table.constraints if isinstance(u, sa.UniqueConstraint)
            ]
            for key in keys:
                cols = ", ".join(c.name for c in key)
                count(
                    f"{table.name} unique {cols}",
                    f"SELECT count(*) FROM (SELECT {cols} FROM {table.name} "
                    f"GROUP BY {cols} HAVING count(*) > 1) d",
                )
            for check in (c for c in table.constraints if isinstance(c, sa.CheckConstraint)):
                count(
                    f"{table.name} check {check.sqltext}",
                    f"SELECT count(*) FROM {table.name} WHERE NOT ({check.sqltext})",
                )
    return found


@pytest.mark.parametrize("kind", DATABASE_KINDS)
@pytest.mark.parametrize("schema", sorted(SCHEMAS))
def test_generated_rows_satisfy_every_constraint(kind: str, schema: str) -> None:
    with fresh_database(kind, "synth") as db:
        metadata = load_schema(SCHEMAS[schema], engine=db)
        data = synthesize(metadata, rows=2_000, seed=7)
        report = load(data, db, create=False)
        assert report.rows_per_second > 0
        assert all(n > 0 for n in report.rows.values())
        violations = _violations(db, metadata)
        assert violations and not any(violations.values()), violations
        with db.engine.connect() as connection:
            for name, n in report.rows.items():
                assert connection.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one() == n


def test_checks_it_cannot_read_are_named() -> None:
    data = synthesize(CHECKS, rows=100)
    assert any("lower(contact)" in item.lower() for item in data.not_honoured)
    assert not any("price_cents" in item or "seats" in item for item in data.not_honoured)


def test_same_seed_gives_same_rows_and_another_seed_does_not() -> None:
    first = synthesize(COMPOSITE, rows=500, seed=3).frames["enrolments"]
    again = synthesize(COMPOSITE, rows=500, seed=3).frames["enrolments"]
    other = synthesize(COMPOSITE, rows=500, seed=4).frames["enrolments"]
    assert first.equals(again)
    assert not first.equals(other)


def test_foreign_keys_are_skewed_towards_a_few_parents() -> None:
    data = synthesize(SELF_REFERENCE, rows=5_000, seed=1)
    counts = data.frames["employees"]["category_id"].value_counts().to_numpy()
    top_tenth = np.sort(counts)[::-1][: max(len(counts) // 10, 1)].sum()
    assert top_tenth > 0.3 * counts.sum()  # uniform would give about 10 %


def test_a_self_reference_points_at_an_existing_row() -> None:
    frame = synthesize(SELF_REFERENCE, rows=1_000, seed=2).frames["categories"]
    parents = frame["parent_id"].dropna()
    assert len(parents) > 900
    assert parents.isin(frame["id"]).all()


def test_a_composite_key_smaller_than_asked_is_reported() -> None:
    ddl = (
        "CREATE TABLE pairs (a BOOLEAN NOT NULL, b VARCHAR(4) NOT NULL CHECK (b IN ('x', 'y')),"
        " PRIMARY KEY (a, b));"
    )
    data = synthesize(ddl, rows=10)
    assert data.rows == {"pairs": 4}
    assert any("only 4 distinct" in item for item in data.not_honoured)


def test_a_required_parent_without_rows_is_a_review_error() -> None:
    with pytest.raises(ReviewError):
        synthesize(SELF_REFERENCE, rows={"employees": 10})


def test_a_table_left_without_rows_needs_no_parent_rows() -> None:
    # The shop's models given counts for the domain only: the webhook tables get none.
    data = synthesize(sample_service.models, rows={"users": 20, "categories": 3, "products": 10})
    assert len(data.frames["webhook_deliveries"]) == 0 and len(data.frames["products"]) == 10


def test_duckdb_takes_the_rows_from_a_dataframe() -> None:
    db = database("duckdb", name=unique_name("synth"), fresh=True)
    try:
        metadata = load_schema(COMPOSITE)
        report = load(synthesize(metadata, rows=1_000, seed=5), db)
        assert report.engine == "duckdb"
        with db.engine.connect() as connection:
            for name, n in report.rows.items():
                assert connection.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one() == n
    finally:
        db.drop()


def test_the_bench_figures_are_rows_per_second_of_a_real_load() -> None:
    figures = synthesis_figures("sqlite", rows=2_000)
    assert figures["engine"] == "sqlite" and "8,000 rows" in figures["note"]
    assert figures["rate"] > 0


@pytest.mark.parametrize("kind", DATABASE_KINDS)
def test_the_shops_own_models_get_rows_every_constraint_accepts(kind: str) -> None:
    with fresh_database(kind, "synth") as db:
        data = synthesize(sample_service.models, rows=300, seed=11)
        report = load(data, db)
        assert data.not_honoured == []
        assert report.total_rows == 300 * len(sample_service.models.metadata.tables)
        assert not any(_violations(db, sample_service.models.metadata).values())


@pytest.mark.parametrize("kind", ["sqlite", "postgres-embedded"])
def test_the_bulk_path_lets_the_database_refuse_a_broken_row(kind: str) -> None:
    data = synthesize(SELF_REFERENCE, rows=200, seed=9)
    data.frames["employees"].loc[5, "category_id"] = 10_000  # no such category
    with fresh_database(kind, "synth") as db, pytest.raises(ReviewError):
        load(data, db)


def test_the_data_renders_its_row_counts_and_what_it_could_not_honour() -> None:
    page = synthesize(CHECKS, rows=50)._repr_html_()
    assert "bookings" in page and "lower(contact)" in page.lower()


def test_columns_follow_a_distribution_of_your_own() -> None:
    data = synthesize(
        CHECKS,
        rows=4_000,
        seed=3,
        columns={
            "products.status": {"live": 0.9, "draft": 0.1},
            "bookings.seats": lambda rng, n: rng.integers(1, 3, n),
        },
    )
    share = (data.frames["products"]["status"] == "live").mean()
    assert 0.85 < share < 0.95
    assert set(data.frames["bookings"]["seats"]) == {1, 2}


@pytest.mark.parametrize("columns", [{"products.nope": {"a": 1.0}}, {"products.sku": {"a": 1.0}}])
def test_a_distribution_for_a_missing_or_unique_column_is_a_review_error(
    columns: dict[str, dict[str, float]],
) -> None:
    with pytest.raises(ReviewError):
        synthesize(CHECKS, rows=10, columns=columns)
