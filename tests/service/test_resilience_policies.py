"""Breaker, bulkhead, retry budget and backoff on their own, with a fake clock and seeded random."""

from __future__ import annotations

import random
import statistics

import pytest

from sample_service.resilience.policies import (
    Bulkhead,
    CircuitBreaker,
    Refused,
    RetryBudget,
    State,
    backoff,
)


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_failures_and_refuses_without_calling() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("t-open", failure_threshold=3, reset_seconds=10, clock=clock)
    for _ in range(3):
        breaker.before()
        breaker.failure()
    assert breaker.state is State.OPEN
    with pytest.raises(Refused) as refused:
        breaker.before()
    assert refused.value.retry_after == pytest.approx(10)


def test_breaker_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker("t-reset", failure_threshold=2, clock=FakeClock())
    for _ in range(5):
        breaker.before()
        breaker.failure()
        breaker.before()
        breaker.success()
    assert breaker.state is State.CLOSED


def test_breaker_half_open_lets_one_probe_and_closes_on_its_success() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("t-probe", failure_threshold=1, reset_seconds=5, clock=clock)
    breaker.before()
    breaker.failure()
    clock.now += 5
    assert breaker.state is State.HALF_OPEN
    breaker.before()  # the probe
    with pytest.raises(Refused):
        breaker.before()  # a second caller while the probe is out
    breaker.success()
    assert breaker.state is State.CLOSED
    assert [state for _, state in breaker.transitions] == [
        State.OPEN,
        State.HALF_OPEN,
        State.CLOSED,
    ]


def test_breaker_failed_probe_opens_again_for_a_full_pause() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("t-reopen", failure_threshold=1, reset_seconds=5, clock=clock)
    breaker.before()
    breaker.failure()
    clock.now += 5
    breaker.before()
    breaker.failure()
    assert breaker.state is State.OPEN
    clock.now += 4
    with pytest.raises(Refused):
        breaker.before()


def test_bulkhead_refuses_the_call_above_its_limit_and_frees_on_release() -> None:
    bulkhead = Bulkhead("t-bulkhead", limit=2)
    bulkhead.acquire()
    bulkhead.acquire()
    with pytest.raises(Refused):
        bulkhead.acquire()
    assert bulkhead.in_use == 2
    bulkhead.release()
    bulkhead.acquire()
    assert bulkhead.in_use == 2


def test_retry_budget_caps_retries_at_its_ratio_of_first_attempts() -> None:
    budget = RetryBudget(ratio=0.1, reserve=3)
    retries = 0
    for _ in range(1000):
        budget.deposit()
        retries += budget.withdraw()  # every call fails and wants a retry
    assert 100 <= retries <= 103  # 10 % of 1000, plus at most the reserve


@pytest.mark.parametrize("retry", [0, 1, 3, 6])
def test_full_jitter_spreads_delays_uniformly_below_the_capped_exponential(retry: int) -> None:
    rng = random.Random(42)
    ceiling = min(1.0, 0.05 * 2**retry)
    delays = [backoff(retry, base=0.05, cap=1.0, rng=rng) for _ in range(2000)]
    assert all(0 <= delay <= ceiling for delay in delays)
    assert statistics.mean(delays) == pytest.approx(ceiling / 2, rel=0.05)
    assert statistics.pstdev(delays) == pytest.approx(ceiling / 12**0.5, rel=0.05)


def test_backoff_without_jitter_is_the_same_for_everyone() -> None:
    rng = random.Random(1)
    delays = {backoff(2, base=0.05, cap=1.0, rng=rng, jitter=False) for _ in range(10)}
    assert delays == {0.2}
