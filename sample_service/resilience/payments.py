"""The shop's client of the payments provider, with every policy of notebook 11 around the call.

Order of the wrappers, outermost first: bulkhead (a cap on calls in flight) → retries (only
for failures that are safe to repeat: the call carries an idempotency key) with exponential
backoff, full jitter and a budget → circuit breaker (per attempt) → one HTTP attempt with
connect and read timeouts, inside a total deadline that also bounds slow-drip bodies.

Synchronous on purpose: order placement runs in the threadpool, so a provider that hangs
holds threads, which is exactly what the bulkhead and the timeouts are there to bound.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from prometheus_client import Counter

from sample_service.resilience.policies import (
    Bulkhead,
    CircuitBreaker,
    Clock,
    Refused,
    RetryBudget,
    backoff,
)

if TYPE_CHECKING:
    from sample_service.config import Settings

DEPENDENCY = "payments"
ATTEMPTS = Counter(
    "shop_dependency_attempts_total", "HTTP attempts to a dependency", ["dependency", "outcome"]
)
log = logging.getLogger("sample_service.resilience")


class PaymentDeclined(Exception):
    """The provider answered and said no: final, never retried."""


class PaymentUnavailable(Exception):
    """No answer could be had: timeouts, failures, breaker open, bulkhead full, budget spent."""

    def __init__(self, reason: str, *, retry_after: float = 1.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Transient(Exception):
    """One attempt failed in a way a retry may fix."""


class PaymentsClient:
    """Authorize and refund through the provider at ``settings.payments_url``.

    Policies read the live settings on every call, so lab switches flip them at run time.
    ``clock``, ``sleep`` and ``rng`` are injectable so tests run without waiting.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.breaker = CircuitBreaker(
            DEPENDENCY,
            failure_threshold=settings.payments_breaker_failures,
            reset_seconds=settings.payments_breaker_reset_seconds,
            clock=clock,
        )
        self.bulkhead = Bulkhead(DEPENDENCY, limit=settings.payments_max_concurrency)
        self.budget = RetryBudget(ratio=settings.payments_retry_budget_ratio)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        # As many connections as the threadpool can use: the bulkhead is the cap, not the pool.
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        base_url = settings.payments_url or ""
        self._http = httpx.Client(base_url=base_url, transport=transport, limits=limits)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def authorize(self, *, amount_cents: int, reference: str, key: str) -> dict[str, Any]:
        """Authorize ``amount_cents`` once per ``key``; repeats are safe and retried."""
        body = {"amount_cents": amount_cents, "reference": reference}
        return self._call("POST", "/v1/payments", json=body, headers={"Idempotency-Key": key})

    def refund(self, payment_id: str) -> dict[str, Any]:
        """Refund a payment; refunding twice changes nothing, so it is retried too."""
        return self._call("POST", f"/v1/payments/{payment_id}/refund")

    def _call(self, method: str, path: str, **request: Any) -> dict[str, Any]:
        settings = self.settings
        deadline = None if settings.no_timeouts else self._clock() + settings.payments_total_timeout
        if not settings.no_bulkhead:
            try:
                self.bulkhead.acquire()
            except Refused as refused:
                raise PaymentUnavailable(refused.reason, retry_after=refused.retry_after) from None
        try:
            self.budget.deposit()
            return self._with_retries(method, path, deadline, request)
        finally:
            if not settings.no_bulkhead:
                self.bulkhead.release()

    def _with_retries(
        self, method: str, path: str, deadline: float | None, request: dict[str, Any]
    ) -> dict[str, Any]:
        settings = self.settings
        attempts = settings.payments_max_attempts
        last: _Transient | None = None
        for attempt in range(attempts):
            if attempt:
                if not settings.no_retry_budget and not self.budget.withdraw():
                    raise PaymentUnavailable(f"{DEPENDENCY}: retry budget spent ({last})")
                delay = backoff(
                    attempt - 1,
                    base=settings.payments_backoff_base,
                    cap=settings.payments_backoff_cap,
                    rng=self._rng,
                    jitter=not settings.no_retry_jitter,
                )
                if deadline is not None and self._clock() + delay >= deadline:
                    raise PaymentUnavailable(f"{DEPENDENCY}: deadline reached ({last})")
                self._sleep(delay)
            try:
                return self._attempt(method, path, deadline, request)
            except _Transient as failure:
                last = failure
        raise PaymentUnavailable(f"{DEPENDENCY}: {attempts} attempt(s) failed ({last})")

    def _attempt(
        self, method: str, path: str, deadline: float | None, request: dict[str, Any]
    ) -> dict[str, Any]:
        """One HTTP exchange under the breaker; raises ``_Transient`` when a retry may help."""
        if not self.settings.no_breaker:
            try:
                self.breaker.before()
            except Refused as refused:
                ATTEMPTS.labels(DEPENDENCY, "refused").inc()
                raise PaymentUnavailable(refused.reason, retry_after=refused.retry_after) from None
        try:
            status, body = self._exchange(method, path, deadline, request)
        except (httpx.TransportError, TimeoutError, ValueError) as exc:  # ValueError: not JSON
            self._report(ok=False, outcome="timeout" if _is_timeout(exc) else "error")
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        if status >= 500:
            self._report(ok=False, outcome="error")
            raise _Transient(f"HTTP {status}")
        self._report(ok=True, outcome="declined" if status == 402 else "ok")
        if status == 402:
            raise PaymentDeclined(body.get("id", "declined"))
        if status >= 400:
            raise PaymentUnavailable(f"{DEPENDENCY} refused the request: HTTP {status} {body}")
        return body

    def _exchange(
        self, method: str, path: str, deadline: float | None, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Send and read the whole body, giving up at the deadline even if bytes keep coming."""
        settings = self.settings
        timeout: httpx.Timeout | None = None
        if deadline is not None:
            left = max(deadline - self._clock(), 0.001)
            read = min(settings.payments_read_timeout, left)
            timeout = httpx.Timeout(read, connect=min(settings.payments_connect_timeout, left))
        chunks: list[bytes] = []
        with self._http.stream(method, path, timeout=timeout, **request) as response:
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if deadline is not None and self._clock() > deadline:
                    raise TimeoutError("total deadline passed while the body was arriving")
        raw = b"".join(chunks)
        return response.status_code, json.loads(raw) if raw else {}

    def _report(self, *, ok: bool, outcome: str) -> None:
        ATTEMPTS.labels(DEPENDENCY, outcome).inc()
        if self.settings.no_breaker:
            return
        if ok:
            self.breaker.success()
        else:
            self.breaker.failure()


def _is_timeout(exc: Exception) -> bool:
    return isinstance(exc, (httpx.TimeoutException, TimeoutError))
