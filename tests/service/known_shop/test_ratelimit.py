"""Token-bucket rate limits: exact bursts, headers, the stricter sign-in bucket, Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from labkit.service import LiveService
from sample_service.ratelimit import MemoryBuckets, RedisBuckets, Rule, decide
from tests.conftest import fresh_database
from tests.service.conftest import AppClient
from tests.service.known_shop.conftest import CHILD_SETTINGS, Shop, bearer, build_shop

REDIS_URL = os.environ.get("REDIS_URL")
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="REDIS_URL is not set; set it to test the shared Redis limiter"
)
# Refills so slowly that no token comes back during a test: bursts are exact.
SLOW = 0.001


def _burst(buckets: MemoryBuckets | RedisBuckets, key: str, rule: Rule, tries: int) -> int:
    async def run() -> int:
        return sum([(await buckets.take(key, rule)).allowed for _ in range(tries)])

    return asyncio.run(run())


def test_memory_bucket_lets_exactly_its_capacity_through() -> None:
    assert _burst(MemoryBuckets(), "k", Rule(7, SLOW), 20) == 7


def test_memory_buckets_are_per_key() -> None:
    buckets, rule = MemoryBuckets(), Rule(3, SLOW)
    assert _burst(buckets, "a", rule, 5) == 3
    assert _burst(buckets, "b", rule, 5) == 3


def test_decision_reports_remaining_reset_and_retry_after() -> None:
    rule = Rule(capacity=10, refill_per_second=2)
    empty = decide(0.5, allowed=False, rule=rule)
    assert (empty.remaining, empty.reset_seconds, empty.retry_after) == (0, 5, 1)
    assert dict(empty.headers())[b"retry-after"] == b"1"
    assert b"retry-after" not in dict(decide(9.0, allowed=True, rule=rule).headers())


def test_burst_beyond_capacity_gets_429_problems_with_headers(
    api: AppClient,
) -> None:
    client = api(rate_limit_capacity=5, rate_limit_refill_per_second=SLOW)
    responses = [client.get("/v1/categories") for _ in range(8)]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 3
    assert [int(r.headers["ratelimit-remaining"]) for r in responses[:5]] == [4, 3, 2, 1, 0]
    refused = responses[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert all(r.headers["ratelimit-limit"] == "5" for r in responses)
    assert all("ratelimit-reset" in r.headers for r in responses)


def test_health_probes_are_never_limited(api: AppClient) -> None:
    client = api(rate_limit_capacity=1, rate_limit_refill_per_second=SLOW)
    assert {client.get("/health/live").status_code for _ in range(5)} == {200}


def test_each_signed_in_user_has_a_bucket_of_their_own(api: AppClient) -> None:
    client = api(rate_limit_capacity=3, rate_limit_refill_per_second=SLOW)
    alice, bob = bearer(client, "alice@shop.test"), bearer(client, "bob@shop.test")
    assert [client.get("/v1/users/me", headers=alice).status_code for _ in range(4)] == [
        200, 200, 200, 429,
    ]  # fmt: skip
    assert client.get("/v1/users/me", headers=bob).status_code == 200
    assert client.get("/v1/categories").status_code == 200  # anonymous: the IP's bucket


def test_sign_in_has_a_stricter_bucket_of_its_own(api: AppClient) -> None:
    client = api(auth_rate_limit_capacity=2, auth_rate_limit_refill_per_second=SLOW)
    attempts = [
        client.post("/v1/auth/token", data={"username": "alice@shop.test", "password": "no"})
        for _ in range(3)
    ]
    assert [r.status_code for r in attempts] == [401, 401, 429]
    assert client.get("/v1/categories").status_code == 200


def test_limits_can_be_turned_off(api: AppClient) -> None:
    client = api(rate_limit_enabled=False)
    response = client.get("/v1/categories")
    assert response.status_code == 200 and "ratelimit-limit" not in response.headers


def test_unreachable_redis_fails_open(api: AppClient) -> None:
    client = api(redis_url="redis://127.0.0.1:1/0", rate_limit_capacity=1)
    assert [client.get("/v1/users/me").status_code for _ in range(3)] == [401, 401, 401]


@pytest.fixture(scope="module")
def sqlite_shop() -> Iterator[Shop]:
    """Limits do not depend on the database: the two-process tests run on SQLite only."""
    with fresh_database("sqlite", "limits") as db:
        yield build_shop(db)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards."""
    import redis

    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL or "")
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@needs_redis
def test_redis_bucket_lets_exactly_its_capacity_through(redis_prefix: str) -> None:
    from redis.asyncio import Redis

    async def run() -> int:
        redis = Redis.from_url(REDIS_URL or "")
        buckets = RedisBuckets(redis, prefix=redis_prefix)
        taken = await asyncio.gather(*(buckets.take("k", Rule(7, SLOW)) for _ in range(30)))
        await redis.aclose()
        return sum(decision.allowed for decision in taken)

    assert asyncio.run(run()) == 7


@needs_redis
def test_redis_limits_hold_across_two_service_processes(
    sqlite_shop: Shop, redis_prefix: str
) -> None:
    settings = {
        **CHILD_SETTINGS,
        "redis_url": REDIS_URL,
        "redis_prefix": redis_prefix,
        "rate_limit_capacity": 6,
        "rate_limit_refill_per_second": SLOW,
    }
    statuses = _statuses_from_two_processes(sqlite_shop, settings)
    assert statuses == {200: 6, 429: 4}


def test_memory_limits_do_not_hold_across_processes(sqlite_shop: Shop) -> None:
    """The contrast the Redis backend fixes: each process counts on its own."""
    settings = {
        **CHILD_SETTINGS,
        "rate_limit_capacity": 6,
        "rate_limit_refill_per_second": SLOW,
    }
    statuses = _statuses_from_two_processes(sqlite_shop, settings)
    assert statuses == {200: 10}


def _statuses_from_two_processes(shop: Shop, settings: dict[str, object]) -> Counter[int]:
    """Five requests to each of two service processes on one database, alternating."""
    with (
        LiveService(db=shop.db, scale=None, settings=settings) as one,
        LiveService(db=shop.db, scale=None, settings=settings) as two,
    ):
        return Counter(
            httpx.get(f"{service.url}/v1/categories").status_code
            for _ in range(5)
            for service in (one, two)
        )
