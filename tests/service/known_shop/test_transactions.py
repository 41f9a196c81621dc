"""Notebook 06's service features: the no-row-lock switch, key expiry and the purge."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from labkit.concurrency import all_at_once
from labkit.service import LiveService
from sample_service.config import Settings
from sample_service.labswitches import LabModeRequired
from sample_service.main import create_app
from sample_service.models import IdempotencyKey
from tests.service.conftest import AppClient
from tests.service.known_shop.conftest import CHILD_SETTINGS, PASSWORD, RELAXED, Shop, bearer


def _order(client: TestClient, headers: dict[str, str], product: int, key: str) -> Any:
    return client.post(
        "/v1/orders",
        json={"items": [{"product_id": product, "quantity": 1}]},
        headers={**headers, "Idempotency-Key": key},
    )


def _age_key(shop: Shop, key: str, seconds: int) -> None:
    """Make a stored key look ``seconds`` old (no waiting in tests)."""
    then = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    with shop.db.engine.begin() as conn:
        conn.execute(
            update(IdempotencyKey).where(IdempotencyKey.key == key).values(created_at=then)
        )


def _keys(shop: Shop, key: str) -> int:
    with shop.db.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(IdempotencyKey.key == key)) or 0)


def test_no_row_lock_switch_is_refused_outside_lab_mode() -> None:
    with pytest.raises(LabModeRequired, match="no_row_lock"):
        create_app(Settings(database_url="sqlite://", lab_mode=False, no_row_lock=True))


def test_key_within_retention_replays(api: AppClient, shop: Shop) -> None:
    client = api(idempotency_retention_seconds=3600)
    product, key = shop.add_product(stock=5), str(uuid.uuid4())
    headers = bearer(client, "alice@shop.test")
    first = _order(client, headers, product, key)
    _age_key(shop, key, 60)
    again = _order(client, headers, product, key)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert shop.stock(product) == 4


def test_expired_key_is_a_new_request(api: AppClient, shop: Shop) -> None:
    client = api(idempotency_retention_seconds=3600)
    product, key = shop.add_product(stock=5), str(uuid.uuid4())
    headers = bearer(client, "alice@shop.test")
    first = _order(client, headers, product, key)
    _age_key(shop, key, 3601)
    again = _order(client, headers, product, key)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "false"
    assert again.json()["id"] != first.json()["id"]
    assert shop.stock(product) == 3
    assert _keys(shop, key) == 1  # the expired answer was replaced, not kept beside


def test_expired_key_with_another_body_is_no_longer_422(api: AppClient, shop: Shop) -> None:
    client = api(idempotency_retention_seconds=3600)
    product, other, key = shop.add_product(stock=5), shop.add_product(stock=5), str(uuid.uuid4())
    headers = bearer(client, "alice@shop.test")
    assert _order(client, headers, product, key).status_code == 201
    assert _order(client, headers, other, key).status_code == 422
    _age_key(shop, key, 7200)
    assert _order(client, headers, other, key).status_code == 201


def test_purge_deletes_only_expired_keys(api: AppClient, shop: Shop) -> None:
    client = api(idempotency_retention_seconds=3600)
    product, old, fresh = shop.add_product(stock=5), str(uuid.uuid4()), str(uuid.uuid4())
    headers = bearer(client, "alice@shop.test")
    for key in (old, fresh):
        assert _order(client, headers, product, key).status_code == 201
    _age_key(shop, old, 4000)
    response = client.delete(
        "/v1/idempotency-keys/expired", headers=bearer(client, "admin@shop.test")
    )
    assert response.status_code == 200
    assert response.json()["purged"] >= 1 and response.json()["retention_seconds"] == 3600
    assert (_keys(shop, old), _keys(shop, fresh)) == (0, 1)


def test_purge_is_admin_only(client: TestClient) -> None:
    response = client.delete(
        "/v1/idempotency-keys/expired", headers=bearer(client, "staff@shop.test")
    )
    assert response.status_code == 403
    assert client.delete("/v1/idempotency-keys/expired").status_code == 401


@pytest.fixture(scope="module")
def racy(shop: Shop) -> Iterator[LiveService]:
    """The service in lab mode with the row lock dropped, on the shop's database."""
    settings = {**CHILD_SETTINGS, **RELAXED, "lab_mode": True, "no_row_lock": True}
    with LiveService(db=shop.db, scale=None, settings=settings) as service:
        yield service


def _fifty_orders_for_ten(live: LiveService, shop: Shop) -> tuple[Counter[int], int]:
    product = shop.add_product(stock=10)
    with live.client() as anonymous:
        signed = anonymous.post(
            "/v1/auth/token", data={"username": "alice@shop.test", "password": PASSWORD}
        )
    auth = {"Authorization": f"Bearer {signed.json()['access_token']}"}

    def order(client: httpx.Client) -> int:
        response = client.post(
            f"{live.url}/v1/orders",
            json={"items": [{"product_id": product, "quantity": 1}]},
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        )
        return response.status_code

    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    with httpx.Client(limits=limits, timeout=60) as client:
        statuses = Counter(all_at_once(50, order, client))
    return statuses, shop.stock(product)


def test_without_the_row_lock_concurrent_orders_oversell(racy: LiveService, shop: Shop) -> None:
    trials = [_fifty_orders_for_ten(racy, shop) for _ in range(3)]
    assert all(set(statuses) <= {201, 409} for statuses, _ in trials), trials
    assert any(statuses[201] > 10 for statuses, _ in trials), trials  # more sold than stocked
    assert all(stock >= 0 for _, stock in trials)  # the CHECK constraint still holds


def test_an_order_waits_boundedly_for_another_writer_then_answers_503(
    api: AppClient, shop: Shop
) -> None:
    if shop.db.kind != "sqlite":
        pytest.skip("SQLite's write lock is database-wide; PostgreSQL locks rows")
    client = api(db_wait_seconds=0.3)
    product, headers = shop.add_product(stock=5), bearer(client, "alice@shop.test")
    other = sqlite3.connect(shop.db.engine.url.database or "", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process's writer holds the file
        refused = _order(client, headers, product, str(uuid.uuid4()))
        other.execute("ROLLBACK")
        placed = _order(client, headers, product, str(uuid.uuid4()))
    finally:
        other.close()
    assert refused.status_code == 503 and "retry-after" in refused.headers
    assert refused.headers["content-type"] == "application/problem+json"
    assert placed.status_code == 201 and shop.stock(product) == 4
