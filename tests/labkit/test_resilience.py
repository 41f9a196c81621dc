"""labkit.resilience: the provider as a live service, calls timed one by one, metrics over time."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from labkit.errors import LabkitError
from labkit.resilience import Call, Load, PaymentsProvider, Sampler, fire, metric, order_calls
from labkit.resilience import summary as summarize
from labkit.service import LiveService

HEALTH = Call("GET", "/health")


@pytest.fixture(scope="module")
def provider() -> Iterator[PaymentsProvider]:
    with PaymentsProvider() as running:
        yield running


def pay(key: str) -> Call:
    body = {"amount_cents": 100, "reference": key}
    return Call("POST", "/v1/payments", body, {"Idempotency-Key": key})


def test_provider_faults_and_stats_round_trip(provider: PaymentsProvider) -> None:
    provider.faults(error_rate=1.0)
    provider.reset_stats()
    frame = fire(provider, [pay("a"), pay("b")], concurrency=2)
    provider.faults()
    assert list(frame["status"]) == [503, 503]
    assert provider.stats()["failed"] == 2
    assert sorted(provider.arrivals()["key"]) == ["a", "b"]


def test_unknown_faults_are_a_labkit_error(provider: PaymentsProvider) -> None:
    with pytest.raises(LabkitError, match="refused faults"):
        provider.faults(meteor_strike=True)


def test_naive_client_retries_are_one_row_per_attempt(provider: PaymentsProvider) -> None:
    provider.faults(outage=True)
    frame = fire(provider, [pay("r1")], attempts=3)
    provider.faults()
    assert list(frame["attempt"]) == [1, 2, 3]
    assert list(frame["final"]) == [False, False, True]
    assert frame["error"].str.contains("outage").all()


def test_a_get_that_cannot_connect_moves_to_the_next_target(provider: PaymentsProvider) -> None:
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    frame = fire([dead, provider], [HEALTH] * 4, concurrency=1)
    final = frame[frame["final"]]
    assert len(final) == 4 and (final["status"] == 200).all()
    assert (frame["status"] == 0).sum() == 2  # every other call tried the dead one first


def test_duration_bounds_an_endless_load(provider: PaymentsProvider) -> None:
    frame = fire(provider, itertools.repeat(HEALTH), concurrency=2, duration=0.3)
    assert len(frame) > 0
    assert summarize(frame).loc["/health", "ok_share"] == 1.0


def test_order_calls_cycle_products_with_a_key_each() -> None:
    calls = list(order_calls(4, product_id=[1, 2], headers={"X": "y"}))
    assert [call.json["items"][0]["product_id"] for call in calls] == [1, 2, 1, 2]
    assert len({call.headers["Idempotency-Key"] for call in calls}) == 4


def test_a_restart_under_load_finishes_what_it_holds_and_refuses_the_rest_cleanly() -> None:
    settings = {"rate_limit_enabled": False, "lab_mode": True, "latency_ms": 100}
    with LiveService(scale=20, settings=settings) as shop:
        port = shop.port
        gauge = "shop_http_requests_in_flight"
        slow = Call("GET", "/v1/categories")
        with (
            Sampler(shop, gauge, every=0.01) as sampled,
            Load(shop, itertools.repeat(slow), concurrency=3) as load,
        ):
            load.wait(0.3)
            stopped = time.monotonic()
            shop.restart()
        assert shop.port == port and shop.running
        assert metric(shop, gauge) is not None
    calls = load.result
    held = calls[(calls["start"] < stopped) & (calls["end"] > stopped)]
    assert len(held) > 0 and (held["status"] == 200).all()  # in flight at SIGTERM: finished
    assert set(calls["status"]) <= {200, 0}  # the rest answered or refused to connect, no 5xx
    assert len(sampled.result) > 0
