"""Overload: many clients at once at a database-backed endpoint, and how the service answers.

A service that sheds load answers every request quickly, some with 503 + ``Retry-After``;
one that queues holds its clients for as long as its pool timeout, then fails them. One
burst of concurrent requests tells the two apart: throughput, P99 and the share of 503s.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from labkit.errors import LabkitError

__all__ = ["OverloadResult", "measure_overload", "overload_figures"]


@dataclass(frozen=True)
class OverloadResult:
    """One burst: what every request got and how long each took."""

    clients: int
    statuses: Counter[int]
    latencies: tuple[float, ...]  # seconds, one per request that got an answer
    failures: Counter[str]  # requests with no HTTP answer, by exception name
    elapsed: float  # seconds from the first request sent to the last answer
    retry_after_missing: int  # 503s without a Retry-After header
    shed_example: Mapping[str, object] | None = None  # the first 503: its headers and problem

    @property
    def throughput(self) -> float:
        """Answers per second over the burst."""
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def p99(self) -> float:
        """99th percentile latency in seconds (nearest rank)."""
        ordered = sorted(self.latencies)
        return ordered[max(0, round(0.99 * len(ordered)) - 1)] if ordered else float("nan")

    @property
    def slowest(self) -> float:
        """The longest any client waited for an answer, in seconds."""
        return max(self.latencies, default=float("nan"))

    @property
    def share_503(self) -> float:
        """Share of requests shed with 503."""
        return self.statuses[503] / self.clients if self.clients else 0.0

    def unexpected(self) -> dict[int | str, int]:
        """Everything other than a 2xx or a 503 with Retry-After (what overload must never give)."""
        odd: dict[int | str, int] = {
            status: count
            for status, count in self.statuses.items()
            if not (200 <= status < 300 or status == 503)
        }
        odd.update(self.failures)
        if self.retry_after_missing:
            odd["503 without Retry-After"] = self.retry_after_missing
        return odd

    def __repr__(self) -> str:
        return (
            f"<OverloadResult clients={self.clients} throughput={self.throughput:.0f}/s "
            f"p99={self.p99 * 1000:.0f} ms slowest={self.slowest * 1000:.0f} ms "
            f"503={self.share_503:.0%} statuses={dict(self.statuses)}>"
        )


def measure_overload(
    base_url: str,
    paths: Sequence[str] = ("/v1/products?limit=50",),
    *,
    clients: int = 300,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> OverloadResult:
    """Send ``clients`` requests at once, each on its own connection, spread over ``paths``.

    Loopback only: this is a burst against a service of the lab's own, not a load test of
    someone else's. Taught in 06_transactions_and_idempotency.

    >>> with lk.LiveService() as svc:
    ...     measure_overload(svc.url, clients=200).unexpected()
    {}
    """
    host = httpx.URL(base_url).host
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise LabkitError(f"measure_overload only targets loopback services, not {host!r}.")
    if clients < 1:
        raise LabkitError(f"clients must be at least 1, not {clients}.")
    burst = _burst(base_url, list(paths), clients, dict(headers or {}), timeout)
    # Its own thread and event loop, so it runs the same from a notebook (already in a loop).
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, burst).result()


async def _burst(
    base_url: str, paths: list[str], clients: int, headers: dict[str, str], timeout: float
) -> OverloadResult:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=0)
    statuses: Counter[int] = Counter()
    failures: Counter[str] = Counter()
    latencies: list[float] = []
    missing = 0
    shed_example: dict[str, object] | None = None
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=timeout, limits=limits
    ) as client:

        async def one(path: str) -> None:
            nonlocal missing, shed_example
            start = time.perf_counter()
            try:
                response = await client.get(path)
            except httpx.HTTPError as exc:
                failures[type(exc).__name__] += 1
                return
            latencies.append(time.perf_counter() - start)
            statuses[response.status_code] += 1
            if response.status_code == 503:
                missing += "retry-after" not in response.headers
                if shed_example is None:
                    shed_example = _shed_example(response)

        start = time.perf_counter()
        await asyncio.gather(*(one(paths[i % len(paths)]) for i in range(clients)))
        elapsed = time.perf_counter() - start
    return OverloadResult(
        clients=clients,
        statuses=statuses,
        latencies=tuple(latencies),
        failures=failures,
        elapsed=elapsed,
        retry_after_missing=missing,
        shed_example=shed_example,
    )


def _shed_example(response: httpx.Response) -> dict[str, object]:
    """What one shed request told its client: the headers that matter and the problem body."""
    try:
        problem = response.json()
    except ValueError:
        problem = {"body": response.text[:200]}
    return {
        "content-type": response.headers.get("content-type"),
        "retry-after": response.headers.get("retry-after"),
        "x-request-id": response.headers.get("x-request-id"),
        **(problem if isinstance(problem, dict) else {"body": problem}),
    }


def overload_figures(
    kind: str = "sqlite", *, clients: int = 300, path: str = "/v1/products?limit=50"
) -> dict[str, float]:
    """The bench's overload item: one burst at a database-backed page of a fresh service.

    Returns ``rps``, ``p99_ms``, ``share_503`` and ``errors`` (answers other than 2xx or a 503
    with Retry-After), the figures ``labkit bench`` records for its ``overload`` item.
    """
    from labkit.service import LiveService

    with LiveService(db=kind, scale=20, settings={"rate_limit_enabled": False}) as service:
        result = measure_overload(service.url, [path], clients=clients)
    return {
        "rps": result.throughput,
        "p99_ms": result.p99 * 1000,
        "share_503": result.share_503,
        "errors": float(sum(result.unexpected().values())),
    }
