"""Resilience policies, each usable on its own and safe across the threadpool's threads.

- ``CircuitBreaker``: closed → open after consecutive failures → half-open after a pause
  (one probe at a time) → closed on success, open again on failure.
- ``Bulkhead``: at most N calls at once to one dependency; the next is refused at once.
- ``RetryBudget``: retries may add only a share of the calls made (no retry storms).
- ``backoff``: exponential delays with full jitter (or without, to show why jitter matters).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from enum import StrEnum

from prometheus_client import Counter, Gauge

Clock = Callable[[], float]
log = logging.getLogger("sample_service.resilience")

BREAKER_STATE = Gauge(
    "shop_breaker_state", "Circuit breaker state: 0 closed, 1 open, 2 half-open", ["dependency"]
)
BREAKER_TRANSITIONS = Counter(
    "shop_breaker_transitions_total", "Circuit breaker transitions", ["dependency", "to"]
)
BULKHEAD_IN_USE = Gauge("shop_bulkhead_in_use", "Calls in flight to a dependency", ["dependency"])
BULKHEAD_REJECTED = Counter(
    "shop_bulkhead_rejected_total", "Calls refused by a full bulkhead", ["dependency"]
)


class Refused(Exception):
    """A policy refused the call before it was made (breaker open, bulkhead full)."""

    def __init__(self, reason: str, *, retry_after: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class State(StrEnum):
    """Circuit breaker states; the gauge's value is the position."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_GAUGE_VALUE = {State.CLOSED: 0, State.OPEN: 1, State.HALF_OPEN: 2}


class CircuitBreaker:
    """Fail fast while a dependency is failing, probe it now and then, close when it answers.

    ``failure_threshold`` consecutive failures open it; after ``reset_seconds`` the next call
    is let through as the half-open probe (others are refused until it ends).
    """

    def __init__(
        self,
        dependency: str,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 5.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.dependency = dependency
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = State.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.transitions: list[tuple[float, State]] = []
        BREAKER_STATE.labels(dependency).set(0)

    @property
    def state(self) -> State:
        """The state now (an open breaker past its pause reads half-open)."""
        with self._lock:
            if self._state is State.OPEN and self._pause_over():
                return State.HALF_OPEN
            return self._state

    def before(self) -> None:
        """Let a call through or raise ``Refused``; a caller let through must report back."""
        with self._lock:
            if self._state is State.OPEN:
                if not self._pause_over():
                    wait = self._opened_at + self.reset_seconds - self._clock()
                    raise Refused(f"{self.dependency} circuit is open", retry_after=wait)
                self._move(State.HALF_OPEN)
            if self._state is State.HALF_OPEN:
                if self._probing:
                    raise Refused(f"{self.dependency} circuit is probing", retry_after=1.0)
                self._probing = True

    def success(self) -> None:
        """The call worked: close (a probe's success ends the outage)."""
        with self._lock:
            self._failures = 0
            self._probing = False
            if self._state is not State.CLOSED:
                self._move(State.CLOSED)

    def failure(self) -> None:
        """The call failed: count it; open at the threshold, or at once when probing."""
        with self._lock:
            self._failures += 1
            self._probing = False
            if self._state is State.HALF_OPEN or (
                self._state is State.CLOSED and self._failures >= self.failure_threshold
            ):
                self._opened_at = self._clock()
                self._move(State.OPEN)

    def _pause_over(self) -> bool:
        return self._clock() - self._opened_at >= self.reset_seconds

    def _move(self, to: State) -> None:
        log.warning("circuit breaker %s: %s -> %s", self.dependency, self._state.value, to.value)
        self._state = to
        self.transitions.append((self._clock(), to))
        BREAKER_STATE.labels(self.dependency).set(_GAUGE_VALUE[to])
        BREAKER_TRANSITIONS.labels(self.dependency, to.value).inc()


class Bulkhead:
    """At most ``limit`` calls at once; the next one is refused instead of queueing.

    A slow dependency can then hold ``limit`` of the service's threads, never all of them.
    """

    def __init__(self, dependency: str, *, limit: int) -> None:
        self.dependency = dependency
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._in_use = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        """Calls holding a slot now."""
        return self._in_use

    def acquire(self) -> None:
        """Take a slot or raise ``Refused``; pair with ``release``."""
        if not self._slots.acquire(blocking=False):
            BULKHEAD_REJECTED.labels(self.dependency).inc()
            raise Refused(f"{self.dependency} bulkhead is full ({self.limit})", retry_after=1.0)
        with self._lock:
            self._in_use += 1
            BULKHEAD_IN_USE.labels(self.dependency).set(self._in_use)

    def release(self) -> None:
        """Give the slot back."""
        with self._lock:
            self._in_use -= 1
            BULKHEAD_IN_USE.labels(self.dependency).set(self._in_use)
        self._slots.release()


class RetryBudget:
    """Retries may add at most ``ratio`` of the first attempts, plus a small reserve.

    Each first attempt deposits ``ratio`` of a token (up to ``reserve``), each retry withdraws
    a whole one, so under a broad failure retries add about ``ratio`` more load instead of
    multiplying it.
    """

    def __init__(self, *, ratio: float = 0.2, reserve: float = 3.0) -> None:
        self.ratio = ratio
        self.reserve = reserve
        self._tokens = reserve
        self._lock = threading.Lock()

    def deposit(self) -> None:
        """Count a first attempt."""
        with self._lock:
            self._tokens = min(self._tokens + self.ratio, self.reserve)

    def withdraw(self) -> bool:
        """Spend a token on a retry; False when the budget is spent (do not retry)."""
        with self._lock:
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


def backoff(
    retry: int, *, base: float, cap: float, rng: random.Random, jitter: bool = True
) -> float:
    """Seconds before retry number ``retry`` (0-based): full jitter in [0, min(cap, base·2^n)].

    Without jitter every client waits the same, so clients that failed together retry together.
    """
    ceiling = min(cap, base * 2**retry)
    return rng.uniform(0, ceiling) if jitter else ceiling
