"""The sales report, health probes, metrics, migrations and the seed generator."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from labkit.databases import Database
from sample_service import migrations
from sample_service.config import Settings
from sample_service.main import create_app
from sample_service.models import metadata
from sample_service.security import verify_password
from sample_service.seed import KNOWN_PASSWORD, generate, seed
from tests.conftest import DATABASE_KINDS, fresh_database
from tests.service.conftest import SEED_SCALE, Seeded, assert_problem

# The seed at SEED_SCALE with the default random seed, computed once on SQLite.
EXPECTED_SEED_TOTAL = 2_715_066
EXPECTED_LAST_ORDER = "2025-12-30 16:21:18"
REVENUE_SQL = """
SELECT coalesce(sum(i.quantity * i.unit_price_cents), 0)
FROM orders o JOIN order_items i ON i.order_id = o.id
WHERE o.status <> 'cancelled' AND o.created_at >= :start AND o.created_at < :end
"""


def _revenue(seeded: Seeded, start: str, end: str) -> int:
    with seeded.db.engine.connect() as conn:
        return int(conn.execute(text(REVENUE_SQL), {"start": start, "end": end}).scalar_one())


@pytest.mark.parametrize("group_by", ["day", "category"])
def test_sales_report_totals_match_the_orders(
    client: TestClient, seeded: Seeded, group_by: str
) -> None:
    params = {"from": "2025-06-01", "to": "2025-07-01", "group_by": group_by}
    report = client.get("/v1/reports/sales", params=params, headers=seeded.staff).json()
    expected = _revenue(seeded, "2025-06-01 00:00:00", "2025-07-01 00:00:00")
    assert expected > 0
    assert (report["from"], report["to"], report["group_by"]) == (
        "2025-06-01",
        "2025-07-01",
        group_by,
    )
    assert report["total_revenue_cents"] == expected
    assert sum(row["revenue_cents"] for row in report["rows"]) == expected
    keys = [row["key"] for row in report["rows"]]
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    if group_by == "day":
        assert all("2025-06-01" <= key < "2025-07-01" for key in keys)


def test_sales_report_is_staff_only_and_checks_the_range(
    client: TestClient, seeded: Seeded
) -> None:
    params = {"from": "2025-06-01", "to": "2025-07-01"}
    assert_problem(client.get("/v1/reports/sales", params=params), 401)
    assert_problem(client.get("/v1/reports/sales", params=params, headers=seeded.customer), 403)
    backwards = {"from": "2025-07-01", "to": "2025-06-01"}
    assert_problem(client.get("/v1/reports/sales", params=backwards, headers=seeded.staff), 400)
    assert_problem(
        client.get("/v1/reports/sales", params={"from": "june"}, headers=seeded.staff), 422
    )


def test_health_live_and_ready(client: TestClient, seeded: Seeded) -> None:
    assert client.get("/health/live").json()["status"] == "ok"
    ready = client.get("/health/ready").json()
    assert ready == {
        "status": "ok",
        "database": "postgresql" if seeded.db.kind == "postgres" else "sqlite",
        "db_slots_in_use": 0,
        "db_slots": 30,
    }


def test_ready_is_503_problem_when_the_database_is_unreachable() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere"  # discard port: nothing answers
    with TestClient(create_app(Settings(database_url=url, access_log=False))) as client:
        assert client.get("/health/live").status_code == 200
        assert_problem(client.get("/health/ready"), 503)


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    for product_id in (1, 2, 3):
        client.get(f"/v1/products/{product_id}")
    body = client.get("/metrics").text
    assert 'route="/v1/products/{product_id}"' in body
    assert '/v1/products/1"' not in body
    assert "shop_http_request_duration_seconds_bucket" in body
    assert "shop_http_requests_in_flight" in body
    assert 'shop_db_pool_connections{state="idle"}' in body


@pytest.mark.parametrize("kind", DATABASE_KINDS)
def test_migrations_go_up_down_and_up_again(kind: str) -> None:
    """Down to base leaves nothing behind that stops the next upgrade."""
    with fresh_database(kind, "mig") as db:
        migrations.upgrade(db.url)
        assert migrations.current(db.url) == migrations.head()
        migrations.downgrade(db.url, "base")
        assert migrations.current(db.url) is None
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        migrations.upgrade(db.url)
        assert migrations.current(db.url) == migrations.head()


def test_migrations_create_exactly_the_models(seeded: Seeded) -> None:
    engine = create_engine(seeded.db.url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_seed_scales_every_table_and_keeps_known_accounts(seeded: Seeded) -> None:
    with seeded.db.engine.connect() as conn:
        counts = {
            table: conn.scalar(text(f"SELECT count(*) FROM {table}")) for table in metadata.tables
        }
        alice = conn.execute(
            text("SELECT role, password_hash FROM users WHERE email = 'alice@shop.test'")
        ).one()
        negative = conn.scalar(text("SELECT count(*) FROM products WHERE stock < 0"))
    assert counts["orders"] == SEED_SCALE and counts["categories"] == 12
    assert counts["users"] == 20 and counts["products"] >= 50
    # Queue tables start empty: a freshly seeded shop has no work in flight.
    in_flight = {"jobs", "outbox", "processed_messages"}
    in_flight |= {"webhook_endpoints", "webhook_deliveries", "webhook_attempts"}
    assert all(counts[table] == 0 for table in in_flight), counts
    assert all(count and count > 0 for t, count in counts.items() if t not in in_flight), counts
    assert alice.role == "customer" and verify_password(KNOWN_PASSWORD, alice.password_hash)
    assert negative == 0


def _digest(tables: dict[str, object]) -> str:
    return hashlib.sha256(
        repr(sorted((k, repr(v)) for k, v in tables.items())).encode()
    ).hexdigest()


def test_seed_is_deterministic() -> None:
    first = generate(500, 7, "hash")
    assert _digest(first) == _digest(generate(500, 7, "hash"))
    assert _digest(first) != _digest(generate(500, 8, "hash"))


def test_seed_report_counts_rows_and_speed(seeded: Seeded) -> None:
    report = seed(seeded.db.url, scale=SEED_SCALE)
    assert report.rows["orders"] == SEED_SCALE
    assert report.total_rows == sum(report.rows.values())
    assert report.rows_per_second > 0
    assert "rows/s" in repr(report) and "<table>" in report._repr_html_()


def test_seeded_data_is_the_same_on_every_database(seeded: Seeded) -> None:
    with seeded.db.engine.connect() as conn:
        total, last = conn.execute(
            text("SELECT sum(total_cents), max(created_at) FROM orders")
        ).one()
    if isinstance(last, dt.datetime):  # PostgreSQL answers in the session's time zone
        last = last.astimezone(dt.UTC).replace(tzinfo=None)
    assert (total, str(last)[:19]) == (EXPECTED_SEED_TOTAL, EXPECTED_LAST_ORDER)


def test_a_seed_spanning_several_insert_batches_loads_every_generated_row(
    any_database: Database,
) -> None:
    scale = 3_000  # ~7,500 order items: more than one SQLite batch of 6,553 rows
    expected = generate(scale, 42, "hash")["order_items"]

    report = seed(any_database.url, scale=scale)

    with any_database.engine.connect() as conn:
        count, quantities, last = conn.execute(
            text("SELECT count(*), sum(quantity), max(id) FROM order_items")
        ).one()
    assert report.rows["order_items"] == count == len(expected) > 6_553
    assert (quantities, last) == (expected["quantity"].sum(), expected["id"].max())
