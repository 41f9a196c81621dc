"""ER, plan and sequence diagrams: Mermaid text that JupyterLab draws offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from labkit.diagrams import Diagram, DiagramError, er_diagram, sequence_diagram


@pytest.fixture()
def metadata() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "customers",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(200), nullable=False, unique=True),
    )
    sa.Table(
        "orders",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("coupon_id", sa.ForeignKey("coupons.id"), nullable=True),
    )
    sa.Table("coupons", md, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "profiles",
        md,
        sa.Column("customer_id", sa.ForeignKey("customers.id"), primary_key=True),
        sa.Column("bio", sa.Text, nullable=True),
    )
    return md


def test_er_diagram_mime_bundle_is_offline_mermaid_with_text_fallback(
    metadata: sa.MetaData,
) -> None:
    bundle = er_diagram(metadata)._repr_mimebundle_()
    assert set(bundle) == {"text/vnd.mermaid", "text/plain"}
    assert bundle["text/vnd.mermaid"] == bundle["text/plain"]
    assert "erDiagram" in bundle["text/plain"]
    assert "mermaid.ink" not in bundle["text/plain"]


def test_er_diagram_marks_primary_foreign_and_unique_keys(metadata: sa.MetaData) -> None:
    text = er_diagram(metadata).text
    assert "integer id PK" in text
    assert "varchar email UK" in text
    assert "integer customer_id FK" in text
    assert "integer customer_id PK, FK" in text  # profiles: shared primary key


def test_er_diagram_cardinality_follows_nullability_and_uniqueness(
    metadata: sa.MetaData,
) -> None:
    text = er_diagram(metadata).text
    assert 'customers||..o{orders : "customer_id"' in text  # required, many
    assert 'coupons|o..o{orders : "coupon_id"' in text  # optional parent
    assert 'customers||--o|profiles : "customer_id"' in text  # 1:1, identifying


def test_er_diagram_reflects_a_live_database(metadata: sa.MetaData) -> None:
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    assert er_diagram(engine).text == er_diagram(metadata).text


def test_er_diagram_is_deterministic_and_filters_tables(metadata: sa.MetaData) -> None:
    first = er_diagram(metadata, tables=["orders", "customers"])
    assert first == er_diagram(metadata, tables=["customers", "orders"])
    assert "profiles" not in first.text and "coupons{" not in first.text


def test_er_diagram_unknown_table_names_the_tables_it_has(metadata: sa.MetaData) -> None:
    with pytest.raises(DiagramError, match="customers"):
        er_diagram(metadata, tables=["custmers"])


def test_er_diagram_rejects_what_is_not_a_schema() -> None:
    with pytest.raises(DiagramError, match="MetaData"):
        er_diagram(42)


def test_sequence_diagram_draws_calls_and_dashed_replies() -> None:
    diagram = sequence_diagram(
        [("client", "api", "GET /v1/orders"), ("api", "client", "200 OK", "reply")]
    )
    assert isinstance(diagram, Diagram)
    assert "client->>api: GET /v1/orders" in diagram.text
    assert "api-->>client: 200 OK" in diagram.text


def test_sequence_diagram_refuses_a_malformed_step() -> None:
    with pytest.raises(DiagramError, match="reply"):
        sequence_diagram([("client", "api", "GET", "back")])


def test_er_diagram_reflects_duckdb_through_its_catalog() -> None:
    engine = sa.create_engine("duckdb:///:memory:")
    with engine.begin() as conn:  # the fixture's schema, in DuckDB's dialect (no SERIAL)
        for ddl in (
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE)",
            "CREATE TABLE coupons (id INTEGER PRIMARY KEY)",
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, "
            "customer_id INTEGER NOT NULL REFERENCES customers (id), "
            "coupon_id INTEGER REFERENCES coupons (id))",
            "CREATE TABLE profiles (customer_id INTEGER PRIMARY KEY REFERENCES customers (id), "
            "bio TEXT)",
        ):
            conn.exec_driver_sql(ddl)
    text = er_diagram(engine).text
    assert "varchar email UK" in text
    assert "integer customer_id PK, FK" in text
    assert 'coupons|o..o{orders : "coupon_id"' in text
    assert 'customers||--o|profiles : "customer_id"' in text


def test_saved_diagram_is_its_mermaid_source(metadata: sa.MetaData, tmp_path: Path) -> None:
    diagram = er_diagram(metadata)
    saved = diagram.save(tmp_path / "schema.mmd")
    assert saved.read_text(encoding="utf-8") == diagram.text
