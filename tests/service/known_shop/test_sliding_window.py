"""Sliding-window limits and per-tier rules: exact counts in memory and Redis, same headers."""

from __future__ import annotations

import asyncio
import os

import pytest

from sample_service.ratelimit import MemoryWindows, RedisWindows, Rule
from tests.service.conftest import AppClient
from tests.service.known_shop.conftest import CHILD_SETTINGS, Shop, bearer
from tests.service.known_shop.test_ratelimit import (
    SLOW,
    _statuses_from_two_processes,
    needs_redis,
    redis_prefix,
    sqlite_shop,
)

REDIS_URL = os.environ.get("REDIS_URL")
__all__ = ["redis_prefix", "sqlite_shop"]  # fixtures, shared with the token-bucket tests


class Clock:
    """Time moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _takes(windows: MemoryWindows | RedisWindows, rule: Rule, tries: int) -> list[bool]:
    async def run() -> list[bool]:
        return [(await windows.take("k", rule)).allowed for _ in range(tries)]

    return asyncio.run(run())


def test_memory_window_lets_exactly_its_limit_through() -> None:
    assert _takes(MemoryWindows(), Rule(7, SLOW), 20) == [True] * 7 + [False] * 13


def test_memory_window_frees_a_slot_when_the_oldest_request_leaves() -> None:
    clock = Clock()
    windows, rule = MemoryWindows(clock=clock), Rule(3, 1.0)  # 3 requests per 3 s
    assert _takes(windows, rule, 1) == [True]
    clock.now += 2.0
    assert _takes(windows, rule, 3) == [True, True, False]
    refused = asyncio.run(windows.take("k", rule))
    assert (refused.remaining, refused.retry_after) == (0, 1)  # the first leaves at +3 s
    clock.now += 1.0
    assert _takes(windows, rule, 2) == [True, False]  # exactly one slot came back
    clock.now += 2.0
    assert _takes(windows, rule, 3) == [True, True, False]


def test_window_reports_remaining_and_retry_after_headers() -> None:
    decision = asyncio.run(MemoryWindows().take("k", Rule(4, 2.0)))
    headers = dict(decision.headers())
    assert headers[b"ratelimit-limit"] == b"4"
    assert headers[b"ratelimit-remaining"] == b"3"
    assert headers[b"ratelimit-reset"] == b"2"
    assert b"retry-after" not in headers


@needs_redis
def test_redis_window_lets_exactly_its_limit_through_concurrent_takes(redis_prefix: str) -> None:
    from redis.asyncio import Redis

    async def run() -> int:
        redis = Redis.from_url(REDIS_URL or "")
        windows = RedisWindows(redis, prefix=redis_prefix)
        taken = await asyncio.gather(*(windows.take("k", Rule(7, SLOW)) for _ in range(30)))
        await redis.aclose()
        assert {d.limit for d in taken} == {7}
        assert min(d.remaining for d in taken) == 0
        return sum(decision.allowed for decision in taken)

    assert asyncio.run(run()) == 7


@needs_redis
def test_redis_windows_hold_across_two_service_processes(
    sqlite_shop: Shop, redis_prefix: str
) -> None:
    settings = {
        **CHILD_SETTINGS,
        "redis_url": REDIS_URL,
        "redis_prefix": redis_prefix,
        "rate_limit_algorithm": "sliding_window",
        "rate_limit_capacity": 6,
        "rate_limit_refill_per_second": SLOW,
    }
    assert _statuses_from_two_processes(sqlite_shop, settings) == {200: 6, 429: 4}


@pytest.mark.parametrize("algorithm", ["token_bucket", "sliding_window"])
def test_the_chosen_algorithm_answers_429_problems_with_the_same_headers(
    api: AppClient, algorithm: str
) -> None:
    client = api(
        rate_limit_algorithm=algorithm, rate_limit_capacity=4, rate_limit_refill_per_second=SLOW
    )
    responses = [client.get("/v1/categories") for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 4 + [429] * 2
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["3", "2", "1", "0", "0", "0"]
    assert responses[-1].headers["content-type"] == "application/problem+json"
    assert int(responses[-1].headers["retry-after"]) >= 1


@pytest.mark.parametrize("algorithm", ["token_bucket", "sliding_window"])
def test_each_tier_gets_the_limit_its_settings_name(api: AppClient, algorithm: str) -> None:
    client = api(
        rate_limit_algorithm=algorithm,
        rate_limit_capacity=3,
        rate_limit_refill_per_second=SLOW,
        customer_rate_limit_capacity=2,
        customer_rate_limit_refill_per_second=SLOW,
        staff_rate_limit_capacity=5,
        staff_rate_limit_refill_per_second=SLOW,
    )
    tiers = {
        "anonymous": {},
        "customer": bearer(client, "alice@shop.test"),
        "staff": bearer(client, "staff@shop.test"),
        "admin": bearer(client, "admin@shop.test"),
    }
    allowed = {
        tier: sum(client.get("/v1/categories", headers=h).status_code == 200 for _ in range(8))
        for tier, h in tiers.items()
    }
    assert allowed == {"anonymous": 3, "customer": 2, "staff": 5, "admin": 5}


def test_unset_tiers_fall_back_to_the_anonymous_rule(api: AppClient) -> None:
    client = api(rate_limit_capacity=3, rate_limit_refill_per_second=SLOW)
    staff = bearer(client, "staff@shop.test")
    statuses = [client.get("/v1/categories", headers=staff).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


def test_an_unknown_algorithm_is_refused_at_start() -> None:
    from pydantic import ValidationError

    from sample_service.config import Settings

    with pytest.raises(ValidationError):
        Settings(rate_limit_algorithm="fixed_window")
