"""The batch ETL's watermark (each change extracted once, late changes caught, a half-written
run harmless) and the sales report reading the same totals from orders, stream and batch.
On SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import labkit.etl as etl
from tests.service.conftest import AppClient
from tests.service.known_shop.conftest import Shop, bearer
from tests.service.known_shop.event_helpers import drain

REPORT = {"from": "2020-01-01", "to": "2100-01-01"}


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def _place(client: TestClient, shop: Shop, n: int) -> list[int]:
    product = shop.add_product(stock=100, price_cents=250)
    headers = bearer(client, "bob@shop.test")
    ids = []
    for quantity in range(1, n + 1):
        placed = client.post(
            "/v1/orders",
            json={"items": [{"product_id": product, "quantity": quantity}]},
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert placed.status_code == 201, placed.text
        ids.append(placed.json()["id"])
    return ids


def _extract(shop: Shop, lake: Path) -> etl.EtlRun:
    return etl.extract_orders(shop.db.url, lake, settle_seconds=0)


def _extracted(lake: Path) -> pd.DataFrame:
    parts = [str(p) for p in sorted(lake.glob("orders-*.parquet"))]
    with duckdb.connect() as con:
        return con.execute("SELECT * FROM read_parquet(?)", [parts]).df()


def _extracted_ids(lake: Path) -> list[int]:
    return sorted(_extracted(lake)["id"].tolist())


def test_each_run_extracts_only_what_changed_since_the_watermark(
    client: TestClient, shop: Shop, lake: Path
) -> None:
    first = _extract(shop, lake)
    assert _extract(shop, lake).rows == 0  # nothing changed: nothing extracted
    new = _place(client, shop, 3)
    time.sleep(1.1)  # SQLite keeps whole seconds for some timestamps: leave the second
    second = _extract(shop, lake)
    assert second.rows == 3 and second.watermark is not None
    assert first.watermark is None or second.watermark > first.watermark
    ids = _extracted_ids(lake)
    assert len(ids) == len(set(ids))  # no order twice …
    assert set(new) <= set(ids)  # … and none missed


def test_a_cancellation_made_after_extraction_is_extracted_again(
    client: TestClient, shop: Shop, lake: Path
) -> None:
    order = _place(client, shop, 1)[0]
    time.sleep(1.1)
    _extract(shop, lake)
    cancel = client.post(f"/v1/orders/{order}/cancel", headers=bearer(client, "bob@shop.test"))
    assert cancel.status_code == 200, cancel.text
    time.sleep(1.1)
    assert _extract(shop, lake).rows == 1  # its newer version
    assert _extracted_ids(lake).count(order) == 2  # both versions kept; the aggregate …
    daily = etl.daily_sales(lake)
    latest = _extracted(lake).sort_values("updated_at").drop_duplicates("id", keep="last")
    assert int(daily["orders"].sum()) == int(
        (latest["status"] != "cancelled").sum()
    )  # … the latest


def test_rows_changed_within_the_settle_window_wait_for_the_next_run(
    client: TestClient, shop: Shop, lake: Path
) -> None:
    _extract(shop, lake)
    fresh = _place(client, shop, 1)[0]
    waiting = etl.extract_orders(shop.db.url, lake, settle_seconds=30)
    assert fresh not in _extracted_ids(lake) and waiting.rows == 0
    time.sleep(1.1)
    assert _extract(shop, lake).rows == 1 and fresh in _extracted_ids(lake)


def test_a_run_that_died_before_its_rename_leaves_the_watermark_alone(
    client: TestClient, shop: Shop, lake: Path
) -> None:
    _extract(shop, lake)
    mark = etl.watermark(lake)
    (lake / "orders-999999.parquet.tmp").write_bytes(b"half a file")  # a crash mid-write
    assert etl.watermark(lake) == mark
    _place(client, shop, 2)
    time.sleep(1.1)
    assert _extract(shop, lake).rows == 2


def test_the_report_gives_the_same_totals_from_orders_stream_and_batch(
    api: AppClient, shop: Shop, lake: Path
) -> None:
    client = api(sales_lake=str(lake))
    order = _place(client, shop, 3)[0]
    cancel = client.post(f"/v1/orders/{order}/cancel", headers=bearer(client, "bob@shop.test"))
    assert cancel.status_code == 200
    drain(shop)
    time.sleep(1.1)
    _extract(shop, lake)
    staff = bearer(client, "staff@shop.test")

    def totals(source: str) -> tuple[int, int, int]:
        answer = client.get("/v1/reports/sales", params={**REPORT, "source": source}, headers=staff)
        assert answer.status_code == 200, answer.text
        rows = answer.json()["rows"]
        return tuple(sum(r[k] for r in rows) for k in ("orders", "units", "revenue_cents"))

    assert totals("orders")[0] > 0
    assert totals("stream") == totals("orders") == totals("batch")


@pytest.mark.parametrize(
    ("params", "status"),
    [({"source": "stream", "group_by": "category"}, 400), ({"source": "batch"}, 409),
     ({"source": "lake"}, 422), ({"source": "stream", "from": "2030-01-01", "to": "2020-01-01"}, 400)],
)  # fmt: skip
def test_the_report_refuses_what_a_source_cannot_answer(
    client: TestClient, params: dict[str, str], status: int
) -> None:
    answer = client.get(
        "/v1/reports/sales", params={**REPORT, **params}, headers=bearer(client, "staff@shop.test")
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
