"""Live views on each database: an order's SSE stream resumes with Last-Event-ID and misses
nothing; the stock WebSocket refuses anonymous clients and drops a slow one, not the rest."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from labkit.errors import LabkitError
from labkit.service import LiveService
from labkit.streams import StockWatcher, follow_order
from sample_service.api.streams import SLOW_CLIENT
from sample_service.models import Category, Product
from tests.service.conftest import assert_problem
from tests.service.known_shop.conftest import CHILD_SETTINGS, PASSWORD, Shop, bearer


def _shipped_order(client: TestClient, shop: Shop) -> int:
    placed = client.post(
        "/v1/orders",
        json={"items": [{"product_id": shop.add_product(stock=3), "quantity": 1}]},
        headers={**bearer(client, "alice@shop.test"), "Idempotency-Key": str(uuid.uuid4())},
    )
    order_id: int = placed.json()["id"]
    for status in ("paid", "shipped"):
        moved = client.post(
            f"/v1/orders/{order_id}/status",
            json={"status": status},
            headers=bearer(client, "staff@shop.test"),
        )
        assert moved.status_code == 200, moved.text
    return order_id


def test_an_order_stream_resumes_after_the_last_event_id_and_misses_nothing(
    client: TestClient, shop: Shop
) -> None:
    order_id = _shipped_order(client, shop)
    client.headers.update(bearer(client, "alice@shop.test"))
    everything = follow_order(client, order_id)
    assert [e.status for e in everything] == ["placed", "paid", "shipped"]
    first = follow_order(client, order_id, limit=1)  # the connection drops after one event
    rest = follow_order(client, order_id, last_event_id=first[-1].id)
    assert [e.id for e in first + rest] == [e.id for e in everything]  # no gap, no repeat
    assert follow_order(client, order_id, last_event_id=everything[-1].id) == []
    unknown = follow_order(client, order_id, last_event_id="not-an-event-of-this-order")
    assert [e.id for e in unknown] == [e.id for e in everything]  # replay rather than lose


def test_an_order_stream_is_its_owners(client: TestClient, shop: Shop) -> None:
    order_id = _shipped_order(client, shop)
    url = f"/v1/orders/{order_id}/events"
    assert_problem(client.get(url), 401)
    assert_problem(client.get(url, headers=bearer(client, "bob@shop.test")), 404)
    staff = client.get(url, headers=bearer(client, "staff@shop.test"))
    assert staff.status_code == 200 and staff.headers["content-type"].startswith(
        "text/event-stream"
    )


@pytest.fixture
def live(shop: Shop) -> Iterator[LiveService]:
    """The shop in a real server process: a WebSocket needs a socket."""
    settings = {**CHILD_SETTINGS, "lab_mode": True}
    with LiveService(db=shop.db, scale=None, settings=settings) as service:
        yield service


def _token(live: LiveService, email: str) -> str:
    with live.client() as anonymous:
        answer = anonymous.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    token: str = answer.json()["access_token"]
    return token


def _burst_products(shop: Shop, count: int) -> list[int]:
    """New products whose stock the burst changes (made before anyone watches)."""
    with shop.db.engine.begin() as conn:
        category = conn.scalar(select(Category.id).limit(1))
        return [
            conn.execute(
                insert(Product)
                .values(
                    category_id=category,
                    sku=f"B-{uuid.uuid4().hex[:12]}",
                    name="burst",
                    price_cents=100,
                    stock=1000,
                )
                .returning(Product.id)
            ).scalar_one()
            for _ in range(count)
        ]


def _stock_burst(shop: Shop, ids: list[int], rounds: int) -> None:
    """Take one from each product's stock `rounds` times, about a poll apart."""
    for _ in range(rounds):
        with shop.db.engine.begin() as conn:
            conn.execute(update(Product).where(Product.id.in_(ids)).values(stock=Product.stock - 1))
        time.sleep(0.15)


def test_the_stock_socket_refuses_a_missing_or_forged_token(live: LiveService) -> None:
    for token in (None, "not.a.jwt"):
        with pytest.raises(LabkitError, match="403"):
            StockWatcher(live, token).start()
    with pytest.raises(LabkitError, match="403"):
        StockWatcher(live, None, slow=True).start()


def test_a_slow_client_is_dropped_while_the_others_get_every_change(
    live: LiveService, shop: Shop
) -> None:
    token = _token(live, "alice@shop.test")
    ids = _burst_products(shop, 200)
    with (
        StockWatcher(live, token) as fast,
        StockWatcher(live, token) as other,
        StockWatcher(live, token, slow=True) as slow,
    ):
        time.sleep(0.3)  # the hub has taken its first snapshot
        rounds = 25
        _stock_burst(shop, ids, rounds)
        final = dict.fromkeys(ids, 1000 - rounds)
        assert fast.wait_until(final) and other.wait_until(final)  # every product's last stock
        slow.drain()
        assert fast.close_code is None and other.close_code is None  # both still open
    assert slow.close_code == SLOW_CLIENT, (slow.close_code, len(slow.messages))
    assert len(slow.messages) < len(fast.messages)
    assert slow.latest() != final  # it was cut off before it heard the end
