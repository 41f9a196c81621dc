"""The stampede guard: concurrent misses on one key load it once, unless the switch is on."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sample_service.cache import Cache, MemoryStore, RedisStore, Store
from sample_service.services import catalog
from tests.service.conftest import AppClient
from tests.service.known_shop.conftest import Shop

REDIS_URL = os.environ.get("REDIS_URL")
BURST = 20


class Loader:
    """A slow load that counts its calls, so overlapping misses are visible."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> bytes:
        self.calls += 1
        await asyncio.sleep(0.05)
        return b"value"


async def _burst(caches: list[Cache], loader: Loader) -> list[bytes]:
    """``BURST`` concurrent reads of one cold key, spread over the given caches (workers)."""
    reads = [caches[i % len(caches)].get_or_load("hot", loader) for i in range(BURST)]
    return await asyncio.gather(*reads)


@pytest.mark.parametrize(("guarded", "loads"), [(True, 1), (False, BURST)])
def test_concurrent_misses_in_one_process_load_once_when_guarded(guarded: bool, loads: int) -> None:
    cache = Cache(MemoryStore(), ttl_seconds=60, guarded=lambda: guarded)
    loader = Loader()
    assert asyncio.run(_burst([cache], loader)) == [b"value"] * BURST
    assert loader.calls == loads


def test_workers_sharing_a_store_wait_for_the_lock_holder() -> None:
    store = MemoryStore()  # shared, as Redis is by real workers
    loader = Loader()
    caches = [Cache(store, ttl_seconds=60) for _ in range(3)]
    asyncio.run(_burst(caches, loader))
    assert loader.calls == 1


def test_a_failed_load_reaches_every_waiter_and_is_retried_next_time() -> None:
    cache = Cache(MemoryStore(), ttl_seconds=60)

    async def failing() -> bytes:
        await asyncio.sleep(0.01)
        raise RuntimeError("database down")

    async def run() -> tuple[list[Any], bytes]:
        results = await asyncio.gather(
            *(cache.get_or_load("k", failing) for _ in range(5)), return_exceptions=True
        )
        return results, await cache.get_or_load("k", Loader())

    results, later = asyncio.run(run())
    assert all(isinstance(r, RuntimeError) for r in results)
    assert later == b"value"


def test_waiters_load_in_place_of_a_cancelled_loader() -> None:
    cache = Cache(MemoryStore(), ttl_seconds=60)
    loader = Loader()

    async def run() -> bytes:
        leader = asyncio.create_task(cache.get_or_load("k", loader))
        await asyncio.sleep(0.01)  # the leader is loading
        waiter = asyncio.create_task(cache.get_or_load("k", loader))
        await asyncio.sleep(0.01)  # the waiter waits on the leader's flight
        leader.cancel()  # its client disconnected
        return await waiter

    assert asyncio.run(run()) == b"value"
    assert loader.calls == 2


@pytest.fixture
def redis_store() -> Iterator[Store]:
    if not REDIS_URL:
        pytest.skip("REDIS_URL is not set: the Redis lock needs a Redis server")
    from redis.asyncio import Redis

    yield RedisStore(Redis.from_url(REDIS_URL), prefix=f"test-{uuid.uuid4().hex[:8]}:")


def test_workers_sharing_redis_load_once(redis_store: Store) -> None:
    loader = Loader()

    async def run() -> None:
        # Each "worker" has its own cache object (its own single flight) over one Redis.
        caches = [Cache(redis_store, ttl_seconds=60) for _ in range(4)]
        await _burst(caches, loader)
        await redis_store.delete("hot")

    asyncio.run(run())
    assert loader.calls == 1


def _burst_through_service(
    api: AppClient, shop: Shop, monkeypatch: pytest.MonkeyPatch, **settings: Any
) -> int:
    """Database reads of one product during a burst of concurrent first reads."""
    client = api(slow_read_ms=200, **settings)  # a slow query: the window misses pile up in
    product = shop.add_product(stock=5)
    real = catalog.fetch_product_row
    queries = 0

    async def counted_fetch(**kwargs: Any) -> Any:
        nonlocal queries
        queries += 1
        return await real(**kwargs)

    monkeypatch.setattr(catalog, "fetch_product_row", counted_fetch)
    start = threading.Barrier(BURST)

    def read(_: int) -> int:
        start.wait()
        return client.get(f"/v1/products/{product}").status_code

    with ThreadPoolExecutor(BURST) as pool:
        assert set(pool.map(read, range(BURST))) == {200}
    return queries


def _loads(api: AppClient) -> float:
    text = api().get("/metrics").text
    match = re.search(r"^shop_cache_loads_total (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_a_burst_of_misses_through_the_service_queries_once(
    api: AppClient, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _loads(api)
    assert _burst_through_service(api, shop, monkeypatch) == 1
    assert _loads(api) == before + 1  # /metrics shows the one load


def test_no_stampede_guard_switch_lets_every_miss_query(
    api: AppClient, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _burst_through_service(api, shop, monkeypatch, no_stampede_guard=True) > BURST // 2
