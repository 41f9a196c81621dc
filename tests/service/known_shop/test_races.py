"""Orders and tokens under real concurrency: a uvicorn child process, many threads at once."""

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
from tests.service.known_shop.conftest import CHILD_SETTINGS, PASSWORD, RELAXED, Shop


@pytest.fixture(scope="module")
def live(shop: Shop) -> Iterator[LiveService]:
    """The service on the shop's database, on a free loopback port, one per module and kind."""
    settings = {**CHILD_SETTINGS, **RELAXED}
    with LiveService(db=shop.db, scale=None, settings=settings) as service:
        yield service


def _tokens(live: LiveService, email: str) -> dict[str, str]:
    with live.client() as client:
        response = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    tokens: dict[str, str] = response.json()
    return tokens


def _token(live: LiveService, email: str) -> str:
    return _tokens(live, email)["access_token"]


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


def test_concurrent_refreshes_with_one_token_let_one_through_and_end_the_family(
    live: LiveService,
) -> None:
    refresh = _tokens(live, "alice@shop.test")["refresh_token"]

    def trade(client: httpx.Client, token: str = refresh) -> httpx.Response:
        return client.post(
            f"{live.url}/v1/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": token},
        )

    responses = _all_at_once(10, trade)
    assert Counter(r.status_code for r in responses) == {200: 1, 401: 9}
    winner = next(r.json() for r in responses if r.status_code == 200)
    with httpx.Client() as client:
        assert trade(client, winner["refresh_token"]).status_code == 401


def test_concurrent_patches_with_one_etag_let_exactly_one_land(
    live: LiveService, shop: Shop
) -> None:
    product = shop.add_product(stock=1)
    headers = {"Authorization": f"Bearer {_token(live, 'staff@shop.test')}"}
    with live.client() as client:
        headers["If-Match"] = client.get(f"/v1/products/{product}").headers["etag"]

    def patch(client: httpx.Client) -> httpx.Response:
        return client.patch(
            f"{live.url}/v1/products/{product}", json={"name": "Renamed"}, headers=headers
        )

    statuses = Counter(response.status_code for response in _all_at_once(10, patch))
    assert statuses == {200: 1, 412: 9}
