"""Orders under real concurrency: a uvicorn server in a child process, many threads at once."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from labkit.service import LiveService
from tests.service.accounts import CHILD_SETTINGS, PASSWORD, RELAXED, Shop, shop

__all__ = ["shop"]


@pytest.fixture
def live(shop: Shop) -> Iterator[LiveService]:
    """The service on the shop's database, on a free loopback port."""
    settings = {**CHILD_SETTINGS, **RELAXED}
    with LiveService(db=shop.db, scale=None, settings=settings) as service:
        yield service


def _token(live: LiveService, email: str) -> str:
    with live.client() as client:
        response = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    token: str = response.json()["access_token"]
    return token


def _all_at_once(count: int, send: Callable[[httpx.Client], httpx.Response]) -> list[Any]:
    """Run ``send`` from ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count)
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)

    with httpx.Client(limits=limits, timeout=60) as client:

        def one(_: int) -> httpx.Response:
            barrier.wait()
            return send(client)

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(one, range(count)))


def test_fifty_concurrent_orders_for_ten_units_sell_exactly_ten(
    live: LiveService, shop: Shop
) -> None:
    product = shop.add_product(stock=10)
    headers = {"Authorization": f"Bearer {_token(live, 'alice@shop.test')}"}

    def order(client: httpx.Client) -> httpx.Response:
        return client.post(
            f"{live.url}/v1/orders",
            json={"items": [{"product_id": product, "quantity": 1}]},
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )

    statuses = Counter(response.status_code for response in _all_at_once(50, order))
    assert statuses == {201: 10, 409: 40}
    assert shop.stock(product) == 0


def test_twenty_concurrent_retries_with_one_key_make_one_order(
    live: LiveService, shop: Shop
) -> None:
    product = shop.add_product(stock=100)
    headers = {
        "Authorization": f"Bearer {_token(live, 'bob@shop.test')}",
        "Idempotency-Key": str(uuid.uuid4()),
    }

    def order(client: httpx.Client) -> httpx.Response:
        return client.post(
            f"{live.url}/v1/orders",
            json={"items": [{"product_id": product, "quantity": 2}]},
            headers=headers,
        )

    responses = _all_at_once(20, order)
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert shop.stock(product) == 98
