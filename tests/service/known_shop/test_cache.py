"""Cache-aside for product reads: hits, misses, invalidation on every write, the off switch."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sample_service.cache import Cache, MemoryStore, RedisStore, product_key
from tests.service.conftest import AppClient
from tests.service.known_shop.conftest import Shop, bearer

REDIS_URL = os.environ.get("REDIS_URL")


def test_memory_store_forgets_expired_and_least_recent_items() -> None:
    async def run() -> tuple[bytes | None, ...]:
        store = MemoryStore(max_items=2)
        await store.set("gone", b"0", ttl_seconds=-1)
        expired = await store.get("gone")
        await store.set("old", b"1", ttl_seconds=60)
        await store.set("new", b"2", ttl_seconds=60)
        await store.get("old")  # "old" is now the most recently used
        await store.set("newest", b"3", ttl_seconds=60)  # evicts "new"
        return expired, *[await store.get(k) for k in ("old", "new", "newest")]

    assert asyncio.run(run()) == (None, b"1", None, b"3")


def test_disabled_cache_neither_serves_nor_stores() -> None:
    enabled = [True]
    cache = Cache(MemoryStore(), ttl_seconds=60, enabled=lambda: enabled[0])

    async def run() -> tuple[bytes | None, bytes | None, bytes | None]:
        await cache.set("k", b"v")
        enabled[0] = False
        off = await cache.get("k")
        await cache.set("other", b"x")
        enabled[0] = True
        return off, await cache.get("k"), await cache.get("other")

    assert asyncio.run(run()) == (None, b"v", None)


def _read(client: TestClient, product_id: int) -> tuple[str, dict[str, object]]:
    response = client.get(f"/v1/products/{product_id}")
    assert response.status_code == 200, response.text
    return response.headers["x-cache"], response.json()


def test_second_read_is_a_hit(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=3)
    assert _read(client, product)[0] == "MISS"
    assert _read(client, product)[0] == "HIT"


def _hits(client: TestClient) -> float:
    text = client.get("/metrics").text
    match = re.search(r'^shop_cache_lookups_total\{result="hit"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_hits_are_counted_in_metrics(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=3)
    _read(client, product)
    before = _hits(client)
    _read(client, product)
    _read(client, product)
    assert _hits(client) == before + 2


def test_product_change_invalidates(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=3)
    _read(client, product)
    etag = client.get(f"/v1/products/{product}").headers["etag"]
    changed = client.patch(
        f"/v1/products/{product}",
        json={"name": "Renamed"},
        headers={**bearer(client, "staff@shop.test"), "If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    outcome, body = _read(client, product)
    assert (outcome, body["name"]) == ("MISS", "Renamed")


def test_placing_and_cancelling_orders_invalidate(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=3)
    _read(client, product)
    headers = bearer(client, "alice@shop.test")
    order = client.post(
        "/v1/orders",
        json={"items": [{"product_id": product, "quantity": 2}]},
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    ).json()
    outcome, body = _read(client, product)
    assert (outcome, body["stock"]) == ("MISS", 1)
    _read(client, product)  # warm again before the cancel
    client.post(f"/v1/orders/{order['id']}/cancel", headers=headers)
    outcome, body = _read(client, product)
    assert (outcome, body["stock"]) == ("MISS", 3)


def test_reviews_invalidate(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=3)
    _read(client, product)
    review = client.post(
        f"/v1/products/{product}/reviews",
        json={"rating": 4},
        headers=bearer(client, "bob@shop.test"),
    )
    assert review.status_code == 201
    assert _read(client, product)[0] == "MISS"


def test_cache_off_switch_bypasses_the_cache(api: AppClient, shop: Shop) -> None:
    client = api(cache_off=True)
    product = shop.add_product(stock=3)
    assert {_read(client, product)[0] for _ in range(3)} == {"BYPASS"}


def test_a_zero_ttl_turns_the_cache_off(api: AppClient, shop: Shop) -> None:
    client = api(cache_ttl_seconds=0)
    product = shop.add_product(stock=3)
    assert {_read(client, product)[0] for _ in range(3)} == {"BYPASS"}


def test_no_cache_header_outside_lab_mode(api: AppClient, shop: Shop) -> None:
    client = api(lab_mode=False)
    product = shop.add_product(stock=3)
    client.get(f"/v1/products/{product}")
    assert "x-cache" not in client.get(f"/v1/products/{product}").headers


@pytest.fixture
def redis_stores() -> Iterator[tuple[Cache, Cache]]:
    """Two caches (two workers) on one Redis, with a key prefix of their own."""
    if not REDIS_URL:
        pytest.skip("REDIS_URL is not set; set it to test the shared Redis cache")
    from redis import Redis as SyncRedis
    from redis.asyncio import Redis

    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    caches = tuple(
        Cache(RedisStore(Redis.from_url(REDIS_URL), prefix=prefix), ttl_seconds=60)
        for _ in range(2)
    )
    yield caches  # type: ignore[misc]
    sync = SyncRedis.from_url(REDIS_URL)
    keys = list(sync.scan_iter(f"{prefix}*"))
    if keys:
        sync.delete(*keys)
    sync.close()


def test_redis_cache_is_shared_and_invalidated_for_every_worker(
    redis_stores: tuple[Cache, Cache],
) -> None:
    one, two = redis_stores
    key = product_key(1)

    async def run() -> tuple[bytes | None, bytes | None]:
        await one.set(key, b"v1")
        shared = await two.get(key)
        await two.invalidate(key)
        return shared, await one.get(key)

    assert asyncio.run(run()) == (b"v1", None)
