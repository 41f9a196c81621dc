"""Schema lint: each rule fires on a schema that breaks it and stays silent on one that does not."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from labkit.review import RULES, lint_schema, load_schema


def _good() -> sa.MetaData:
    """A schema that keeps every rule, written as SQLAlchemy models (a MetaData input)."""
    metadata = sa.MetaData()
    sa.Table(
        "customers",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        "orders",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("total_cents", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Index("ix_orders_customer_id_status", "customer_id", "status"),
    )
    sa.Table(
        "categories",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("parent_id", sa.ForeignKey("categories.id"), index=True),
    )
    return metadata


#: One schema per rule that breaks exactly that rule (and may break others).
BAD = {
    "no-primary-key": "CREATE TABLE events (kind VARCHAR(20) NOT NULL);",
    "fk-without-index": """
        CREATE TABLE customers (id INTEGER PRIMARY KEY);
        CREATE TABLE orders (id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers (id));""",
    "float-money": "CREATE TABLE items (id INTEGER PRIMARY KEY, price DOUBLE PRECISION);",
    "nullable-foreign-key": """
        CREATE TABLE customers (id INTEGER PRIMARY KEY);
        CREATE TABLE orders (id INTEGER PRIMARY KEY,
            customer_id INTEGER REFERENCES customers (id));
        CREATE INDEX ix_orders_customer_id ON orders (customer_id);""",
    "natural-key-not-unique": "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(99));",
    "unbounded-text": "CREATE TABLE products (id INTEGER PRIMARY KEY, status TEXT NOT NULL);",
    "timestamp-without-time-zone": (
        "CREATE TABLE logs (id INTEGER PRIMARY KEY, created_at TIMESTAMP NOT NULL);"
    ),
    "naming-convention": 'CREATE TABLE "OrderLines" (id INTEGER PRIMARY KEY, "unitCount" INT);',
    "redundant-index": """
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, status VARCHAR(9));
        CREATE INDEX ix_orders_customer_id ON orders (customer_id);
        CREATE INDEX ix_orders_customer_id_status ON orders (customer_id, status);""",
}


def test_every_rule_has_a_case_that_fires() -> None:
    assert set(BAD) == set(RULES)


def test_a_well_designed_schema_has_no_findings() -> None:
    report = lint_schema(load_schema(_good()))
    assert not report.findings, report.findings


@pytest.mark.parametrize("rule", sorted(BAD))
def test_rule_fires_on_a_schema_that_breaks_it(rule: str) -> None:
    report = lint_schema(load_schema(BAD[rule]))
    found = report.of(rule)
    assert found, report.findings
    assert all(f.why and f.fix and f.severity == RULES[rule][0] for f in found)


@pytest.mark.parametrize("rule", sorted(BAD))
def test_rule_is_silent_on_a_schema_that_keeps_it(rule: str) -> None:
    assert not lint_schema(_good()).of(rule)


def test_a_unique_index_covered_by_another_is_not_redundant() -> None:
    ddl = """
        CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(99), name VARCHAR(40));
        CREATE UNIQUE INDEX uq_users_email ON users (email);
        CREATE INDEX ix_users_email_name ON users (email, name);"""
    assert not lint_schema(load_schema(ddl)).of("redundant-index")


def test_the_report_renders_as_html_with_why_and_fix() -> None:
    report = lint_schema(load_schema(BAD["float-money"]))
    page = report._repr_html_()
    assert "float-money" in page and "NUMERIC" in page
    assert list(report.to_frame().columns) == [
        "rule",
        "severity",
        "location",
        "message",
        "why",
        "fix",
    ]
