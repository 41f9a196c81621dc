"""Module 11 (resilience): a retry policy and a circuit breaker, run against the live provider.

Both checks drive the learner's code at the payments provider (`lk.PaymentsProvider`) with its
faults switched at run time, and judge by what reached the provider: attempts per payment,
keys per payment, the gaps between a payment's attempts, the calls let through an outage.
"""

from __future__ import annotations

import atexit
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from functools import cache
from typing import Any, Protocol

import httpx

from labkit.check._registry import Failed, task
from labkit.resilience import PaymentsProvider

_PAYMENTS = 40
_ERROR_RATE, _SEED = 0.2, 8  # the first 40 calls: 10 fail
_MIN_PAID = 0.9  # three attempts pay 99 %, one pays 75 %
_MIN_SPREAD = 0.3  # interquartile range of the retry waits over their median: jitter
_MIN_GAP_MS = 20.0  # a retry sooner than this did not back off
_MAX_CALLS_IN_OUTAGE = 1.6  # calls per intended payment while the provider is down
_THRESHOLD, _RESET = 5, 0.5  # the breaker the check builds


@cache
def provider() -> PaymentsProvider:
    """One payments provider per process for the checks, stopped when the process exits."""
    service = PaymentsProvider()
    atexit.register(service.close)
    service.start()
    return service


class _Payer(Protocol):
    def pay(self, client: httpx.Client, amount_cents: int, reference: str) -> Any: ...


def _pay_many(payer: _Payer, n: int, *, threads: int = 6) -> list[bool]:
    """`n` payments from `threads` threads through one payer; True for each that came back."""
    service = provider()

    def one(i: int) -> bool:
        with httpx.Client(base_url=service.url, timeout=2.0) as client:
            try:
                payer.pay(client, 1_000 + i, f"chk-{uuid.uuid4().hex[:12]}")
            except Exception:  # a payment that failed for good: the caller sees an error
                return False
            return True

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(n)))


@task(
    "11.1",
    "retry_policy",
    title="Retries that pay through a flaky provider without a storm when it is down",
    hints=(
        "A 503 or a transport error is worth another try; a 402 decline is an answer.",
        "Keep one Idempotency-Key per payment across its attempts, and before retry n wait a "
        "random time in [0, base·2ⁿ] (full jitter, base ≈ 0.05 s).",
        "Give the Payer a retry budget shared by all its payments: each first attempt adds a "
        "third of a token (up to a reserve of 2), each retry spends a whole one; none left, "
        "give up at once.",
    ),
)
def retry_policy(make_payer: Callable[[], _Payer]) -> None:
    """Payments through 30 % failures, retries keyed and jittered, declines once, outages cheap."""
    if not callable(make_payer):
        raise Failed("pass the class (or a function making a payer): lk.check('11.1', Payer)")
    service = provider()
    service.faults(error_rate=_ERROR_RATE, seed=_SEED)
    service.reset_stats()
    paid = sum(_pay_many(make_payer(), _PAYMENTS, threads=1)) / _PAYMENTS  # gaps without noise
    arrivals = service.arrivals()
    if paid < _MIN_PAID:
        raise Failed(
            f"{paid:.0%} of {_PAYMENTS} payments went through a provider failing "
            f"{_ERROR_RATE:.0%} of calls "
            f"({len(arrivals)} calls reached it); aim for at least {_MIN_PAID:.0%}"
        )
    retried = arrivals[arrivals["attempt"] == 2]
    if retried.empty:
        raise Failed(
            f"{len(arrivals)} calls for {_PAYMENTS} payments, and no Idempotency-Key came twice: "
            "each retry used a new key, so a retry after a lost answer would charge twice"
        )
    first = arrivals[arrivals["attempt"] == 1].set_index("key")["second"]
    gaps = [(row.second - first[row.key]) * 1000 for row in retried.itertuples()]
    median = statistics.median(gaps)
    if median < _MIN_GAP_MS:
        raise Failed(
            f"the median wait before a retry was {median:.1f} ms: retries that do not back off "
            "hit a struggling provider at once"
        )
    low, _, high = statistics.quantiles(gaps, n=4) if len(gaps) > 1 else (median,) * 3
    if (high - low) / median < _MIN_SPREAD:
        raise Failed(
            f"the first retries waited about the same (half of them {low:.0f} to {high:.0f} ms): "
            "clients that failed together retry together; add jitter"
        )
    service.faults(decline_rate=1.0)
    service.reset_stats()
    _pay_many(make_payer(), 5, threads=1)
    if (calls := service.stats()["attempts"]) > 5:
        raise Failed(f"5 declined payments took {calls} calls: a 402 decline was retried")
    service.faults(outage=True)
    service.reset_stats()
    _pay_many(make_payer(), 20, threads=4)
    per_payment = service.stats()["attempts"] / 20
    service.faults()
    if per_payment > _MAX_CALLS_IN_OUTAGE:
        raise Failed(
            f"during an outage each payment made {per_payment:.1f} calls to a provider that "
            f"was down; a retry budget keeps that under {_MAX_CALLS_IN_OUTAGE}"
        )


class _Breaker(Protocol):
    def call(self, fn: Callable[[], Any]) -> Any: ...


def _calls(breaker: _Breaker, n: int) -> tuple[int, int]:
    """`n` provider calls through the breaker, one after another: (succeeded, reached)."""
    service = provider()
    before = service.stats()["attempts"]
    succeeded = 0
    with httpx.Client(base_url=service.url, timeout=2.0) as client:

        def authorize() -> Any:
            response = client.post(
                "/v1/payments",
                json={"amount_cents": 500, "reference": "breaker-check"},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            response.raise_for_status()
            return response.json()

        for _ in range(n):
            try:
                breaker.call(authorize)
                succeeded += 1
            except Exception:  # a provider failure, or the breaker refusing the call
                pass
    return succeeded, service.stats()["attempts"] - before


@task(
    "11.2",
    "circuit_breaker",
    title="A breaker that opens on a run of failures, probes, and closes on recovery",
    hints=(
        "The check calls Breaker(failures=5, reset_seconds=0.5) through scattered failures, an "
        "outage, and a recovery, and counts the calls that reach the provider.",
        "Count consecutive failures (a success sets the count back to 0); open at the "
        "threshold and remember when.",
        "Once reset_seconds have passed, let one call through (half-open): its success closes "
        "the breaker, its failure opens it again for another pause.",
    ),
)
def circuit_breaker(make_breaker: Callable[..., _Breaker]) -> None:
    """Stays closed through scattered failures; opens after 5 in a row; probes; recovers."""
    if not callable(make_breaker):
        raise Failed("pass the class itself: lk.check('11.2', Breaker)")
    service = provider()

    def fresh() -> _Breaker:
        return make_breaker(failures=_THRESHOLD, reset_seconds=_RESET)

    service.faults(error_rate=0.25, seed=12)  # 14 failures in 40 calls, never 3 in a row
    _, reached = _calls(fresh(), 40)
    if reached < 40:
        raise Failed(
            f"only {reached} of 40 calls reached a provider failing a quarter of them, never 3 "
            "times in a row: the breaker opened on scattered failures"
        )
    service.faults(outage=True)
    breaker = fresh()
    started = time.monotonic()
    _, reached = _calls(breaker, 20)
    # On a slow machine the pause may end within the 20 calls: one probe more is then right.
    probed = int(time.monotonic() - started > _RESET)
    if not _THRESHOLD <= reached <= _THRESHOLD + probed:
        raise Failed(
            f"{reached} of 20 calls reached a provider that was down: the breaker should let "
            f"exactly {_THRESHOLD} fail, then refuse the rest"
        )
    time.sleep(_RESET + 0.1)
    _, probes = _calls(breaker, 5)
    if probes != 1:
        raise Failed(
            f"after the pause, during the outage, {probes} of 5 calls reached the provider: "
            "half-open lets exactly one probe through, and its failure opens the breaker again"
        )
    service.faults()
    time.sleep(_RESET + 0.1)
    succeeded, _ = _calls(breaker, 5)
    if succeeded != 5:
        raise Failed(
            f"the provider recovered and the pause passed, yet {5 - succeeded} of 5 calls "
            "failed: the breaker never closed again"
        )


_DEADLINE = 1.0  # seconds the check gives each authorization
_LATE = 0.6  # how far past the deadline a call may end on a slow machine
_GIVE_UP = 4.0  # the check stops waiting for a call after this long


def _timed(
    authorize: Callable[..., Any], client: httpx.Client
) -> tuple[float, Any, Exception | None]:
    """One authorization with the check's deadline, in a thread the check stops waiting for."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="labkit-check")
    body = {"amount_cents": 700, "reference": "deadline-check"}
    started = time.monotonic()
    running = pool.submit(authorize, client, body, uuid.uuid4().hex, _DEADLINE)
    try:
        if not wait([running], timeout=_GIVE_UP).done:
            return _GIVE_UP, None, None
        took = time.monotonic() - started
        if (error := running.exception()) is not None:  # it gave up: how soon is what counts
            return took, None, error if isinstance(error, Exception) else None
        return took, running.result(), None
    finally:
        pool.shutdown(wait=False)


@task(
    "11.3",
    "payment_deadline",
    title="A deadline for the whole payment call, slow bodies included",
    hints=(
        "The check calls authorize(...) with a 1 s deadline while the provider is slow but "
        "healthy, then while it hangs, then while it sends its answer one byte at a time.",
        "A timeout bounds each wait for the network, not the call: a body whose bytes keep "
        "coming, each in time, outlasts any read timeout.",
        "Stream the response (client.stream) and compare the clock with your deadline between "
        "chunks; no single wait (connect, read) may be longer than the time left.",
    ),
)
def payment_deadline(authorize: Callable[..., Any]) -> None:
    """Answers through 300 ms latency; gives up near 1 s on a hang and on a dripping body."""
    if not callable(authorize):
        raise Failed("pass the function itself: lk.check('11.3', authorize)")
    service = provider()
    with httpx.Client(base_url=service.url, timeout=None) as client:
        try:
            service.faults(latency_ms=300)
            for _ in range(2):
                took, answer, error = _timed(authorize, client)
                if error is not None or not isinstance(answer, dict) or "status" not in answer:
                    why = f"raised {type(error).__name__}" if error else f"returned {answer!r:.80}"
                    raise Failed(
                        f"a provider answering in 300 ms, within the 1 s deadline: the call {why}"
                    )
            for fault, faults in (
                ("hangs", {"hang_rate": 1.0}),
                ("sends its answer a byte every 50 ms", {"drip_rate": 1.0, "drip_interval_ms": 50}),
            ):
                service.faults(**faults)
                took, answer, error = _timed(authorize, client)
                service.faults()  # a hung request is let go
                if took > _DEADLINE + _LATE:
                    ended = "had not ended" if took >= _GIVE_UP else "ended"
                    raise Failed(
                        f"the provider {fault}: with a deadline of {_DEADLINE:.0f} s the call "
                        f"{ended} after {took:.1f} s"
                    )
                if error is None:
                    raise Failed(f"the provider {fault}, yet the call returned {answer!r:.80}")
        finally:
            service.faults()
