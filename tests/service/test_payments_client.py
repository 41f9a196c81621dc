"""The shop's payments client: which failures it retries, how long it waits, when it stops.

A scripted transport stands in for the provider and a fake clock for time, so no test waits;
the timeout tests at the end use the real provider, because only a real socket can hang.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from labkit.service import LiveService
from sample_service.config import Settings
from sample_service.resilience.payments import PaymentDeclined, PaymentsClient, PaymentUnavailable
from sample_service.resilience.policies import State

PROVIDER_APP = "sample_service.payments.provider:app"


class Scripted:
    """A provider that answers from a script (one status per request; the last one repeats)."""

    def __init__(self, *statuses: int, clock: FakeClock | None = None) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []
        self.clock = clock

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return httpx.Response(status, json={"id": f"pay-{len(self.requests)}"})


class FakeClock:
    """Time that moves only when slept through or pushed by a test."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def client_for(
    handler: Any, clock: FakeClock | None = None, **settings: Any
) -> tuple[PaymentsClient, FakeClock]:
    clock = clock or FakeClock()
    values: dict[str, Any] = {
        "payments_url": "http://provider.test",
        "payments_breaker_failures": 10_000,
        **settings,
    }
    client = PaymentsClient(
        Settings(**values),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(7),
        transport=httpx.MockTransport(handler),
    )
    return client, clock


def authorize(client: PaymentsClient) -> dict[str, Any]:
    return client.authorize(amount_cents=100, reference="order-1", key="order-1")


def test_a_transient_failure_is_retried_with_the_same_idempotency_key() -> None:
    provider = Scripted(503, 503, 201)
    client, clock = client_for(provider, payments_max_attempts=3)
    assert authorize(client)["id"] == "pay-3"
    assert {request.headers["Idempotency-Key"] for request in provider.requests} == {"order-1"}
    assert len(clock.slept) == 2


def test_retries_stop_at_max_attempts() -> None:
    provider = Scripted(503)
    client, _ = client_for(provider, payments_max_attempts=4)
    with pytest.raises(PaymentUnavailable):
        authorize(client)
    assert len(provider.requests) == 4


def test_a_decline_is_final_and_never_retried() -> None:
    provider = Scripted(402)
    client, _ = client_for(provider, payments_max_attempts=5)
    with pytest.raises(PaymentDeclined):
        authorize(client)
    assert len(provider.requests) == 1


def test_backoff_waits_grow_and_without_jitter_are_exact() -> None:
    provider = Scripted(503)
    client, clock = client_for(
        provider,
        payments_max_attempts=4,
        payments_backoff_base=0.1,
        payments_total_timeout=60,
        lab_mode=True,
        no_retry_jitter=True,
    )
    with pytest.raises(PaymentUnavailable):
        authorize(client)
    assert clock.slept == [0.1, 0.2, 0.4]


def test_retry_budget_stops_retries_when_everything_fails() -> None:
    provider = Scripted(503)
    client, _ = client_for(provider, payments_max_attempts=3, payments_retry_budget_ratio=0.1)
    for _ in range(100):
        with pytest.raises(PaymentUnavailable):
            authorize(client)
    # 100 calls wanted 200 retries; the budget allowed about 10 % plus its reserve of 3.
    assert 100 + 10 <= len(provider.requests) <= 100 + 13


def test_without_the_budget_every_call_retries_in_full() -> None:
    provider = Scripted(503)
    client, _ = client_for(provider, payments_max_attempts=3, lab_mode=True, no_retry_budget=True)
    for _ in range(10):
        with pytest.raises(PaymentUnavailable):
            authorize(client)
    assert len(provider.requests) == 30


def test_breaker_opens_and_then_fails_fast_without_calling_the_provider() -> None:
    provider = Scripted(503)
    client, clock = client_for(provider, payments_max_attempts=1, payments_breaker_failures=3)
    for _ in range(3):
        with pytest.raises(PaymentUnavailable):
            authorize(client)
    assert client.breaker.state is State.OPEN
    with pytest.raises(PaymentUnavailable, match="open"):
        authorize(client)
    assert len(provider.requests) == 3
    clock.now += client.breaker.reset_seconds
    provider.statuses = [201]
    authorize(client)  # the half-open probe succeeds
    assert client.breaker.state is State.CLOSED


def test_the_breaker_switch_keeps_calling_a_failing_provider() -> None:
    provider = Scripted(503)
    client, _ = client_for(
        provider,
        payments_max_attempts=1,
        payments_breaker_failures=3,
        lab_mode=True,
        no_breaker=True,
    )
    for _ in range(10):
        with pytest.raises(PaymentUnavailable):
            authorize(client)
    assert len(provider.requests) == 10


def test_a_full_bulkhead_refuses_without_calling_the_provider() -> None:
    provider = Scripted(201)
    client, _ = client_for(provider, payments_max_concurrency=2)
    client.bulkhead.acquire()
    client.bulkhead.acquire()  # two calls in flight
    with pytest.raises(PaymentUnavailable, match="bulkhead"):
        authorize(client)
    assert provider.requests == []


class Drip(httpx.SyncByteStream):
    """A body that arrives one byte a (fake) second: each read is quick, the whole is not."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def __iter__(self) -> Iterator[bytes]:
        for byte in b'{"id": "slow"}':
            self.clock.now += 1.0
            yield bytes([byte])


def test_the_total_deadline_cuts_a_slow_drip_body_that_read_timeouts_miss() -> None:
    clock = FakeClock()
    client, _ = client_for(
        lambda request: httpx.Response(201, stream=Drip(clock)),
        clock,
        payments_max_attempts=1,
        payments_total_timeout=5,
    )
    with pytest.raises(PaymentUnavailable, match="deadline"):
        authorize(client)
    assert clock.now == pytest.approx(6.0)  # gave up at the first chunk past the deadline


@pytest.fixture(scope="module")
def provider() -> Iterator[LiveService]:
    with LiveService(PROVIDER_APP, ready_path="/health") as service:
        yield service


def set_faults(provider: LiveService, **faults: Any) -> None:
    with provider.client() as http:
        assert http.put("/faults", json=faults).status_code == 200
        assert http.delete("/stats").status_code == 204


def stats(provider: LiveService) -> dict[str, Any]:
    with provider.client() as http:
        body: dict[str, Any] = http.get("/stats").json()
        return body


def test_a_read_timeout_bounds_each_attempt_against_a_provider_that_hangs(
    provider: LiveService,
) -> None:
    set_faults(provider, hang_rate=1.0)
    settings = Settings(
        payments_url=provider.url,
        payments_read_timeout=0.1,
        payments_max_attempts=2,
        payments_backoff_base=0.01,
    )
    client = PaymentsClient(settings)
    with pytest.raises(PaymentUnavailable, match="ReadTimeout"):
        client.authorize(amount_cents=1, reference="hang", key="hang-1")
    client.close()
    assert stats(provider)["hung"] == 2


def test_the_total_deadline_bounds_a_real_slow_drip(provider: LiveService) -> None:
    set_faults(provider, drip_rate=1.0, drip_interval_ms=20)
    settings = Settings(
        payments_url=provider.url, payments_total_timeout=0.3, payments_max_attempts=1
    )
    client = PaymentsClient(settings)
    with pytest.raises(PaymentUnavailable, match="deadline"):
        client.authorize(amount_cents=1, reference="drip", key="drip-1")
    client.close()
    assert stats(provider)["authorized"] == 1  # the provider did the work; the answer was lost


def test_the_bulkhead_refuses_calls_beyond_its_cap_while_the_provider_hangs(
    provider: LiveService,
) -> None:
    set_faults(provider, hang_rate=1.0)
    settings = Settings(
        payments_url=provider.url,
        payments_read_timeout=1.0,
        payments_max_attempts=1,
        payments_max_concurrency=2,
    )
    client = PaymentsClient(settings)
    start = threading.Barrier(4)
    reasons: list[str] = []

    def call(key: str) -> None:
        start.wait()
        try:
            client.authorize(amount_cents=1, reference=key, key=key)
        except PaymentUnavailable as exc:
            reasons.append(exc.reason)

    threads = [threading.Thread(target=call, args=(f"bulk-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert sum("bulkhead is full" in reason for reason in reasons) == 2
    assert stats(provider)["hung"] == 2  # only two calls ever reached the provider
