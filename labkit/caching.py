"""Measure caches and rate limits against a live shop: taught in 08_caching_and_rate_limits.

Each helper sends real requests and returns what it saw as a small table (a DataFrame),
so a notebook computes its claims from the responses rather than typing them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import httpx
import numpy as np
import pandas as pd

from labkit.errors import BadArgument
from labkit.querylog import QUERY_COUNT_HEADER

T = TypeVar("T")

__all__ = [
    "FixedWindow",
    "burst",
    "busiest",
    "http_cache_client",
    "layers",
    "paced",
    "read_keys",
    "read_summary",
    "retrying",
    "seconds_until",
    "side_by_side",
    "stale_reads",
    "zipf_keys",
]


def zipf_keys(count: int, *, keys: Sequence[int], s: float = 1.1, seed: int = 8) -> list[int]:
    """``count`` keys drawn with Zipf weights (the first key is the most popular).

    Real catalogues are skewed: a few products get most reads, which is why a small
    cache hits often.

    >>> lk.caching.zipf_keys(5, keys=[1, 2, 3])

    Taught in 08_caching_and_rate_limits.
    """
    if count < 1 or not keys:
        raise BadArgument(f"zipf_keys needs count >= 1 and some keys (got {count}, {keys!r})")
    weights = 1.0 / np.arange(1, len(keys) + 1) ** s
    rng = np.random.default_rng(seed)
    return [int(k) for k in rng.choice(np.asarray(keys), size=count, p=weights / weights.sum())]


def read_keys(client: httpx.Client, keys: Iterable[int]) -> pd.DataFrame:
    """Read ``/v1/products/{key}`` for each key in turn: status, latency, cache outcome, queries.

    ``cache`` is the service's ``X-Cache`` (lab mode) and ``queries`` its statement count.

    Taught in 08_caching_and_rate_limits.
    """
    rows = []
    for key in keys:
        start = time.perf_counter()
        response = client.get(f"/v1/products/{key}")
        rows.append(
            {
                "key": key,
                "status": response.status_code,
                "ms": (time.perf_counter() - start) * 1000,
                "cache": response.headers.get("x-cache", ""),
                "queries": int(response.headers.get(QUERY_COUNT_HEADER, 0)),
            }
        )
    return pd.DataFrame(rows)


def read_summary(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per run: requests, hit ratio, P50 and P95 latency, database queries.

    Taught in 08_caching_and_rate_limits.
    """
    return pd.DataFrame(
        {
            name: {
                "requests": len(frame),
                "hit_ratio": float((frame["cache"] == "HIT").mean()),
                "p50_ms": float(frame["ms"].quantile(0.50)),
                "p95_ms": float(frame["ms"].quantile(0.95)),
                "queries": int(frame["queries"].sum()),
            }
            for name, frame in runs.items()
        }
    ).T


def seconds_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.02
) -> float:
    """Seconds until ``condition()`` holds (polled), ``math.inf`` if not within ``timeout``.

    Measures a stale window: how long readers still see the old value after a write.

    Taught in 08_caching_and_rate_limits.
    """
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if condition():
            return time.perf_counter() - start
        time.sleep(interval)
    return math.inf


def burst(client: httpx.Client, path: str, n: int) -> list[httpx.Response]:
    """``n`` GETs of ``path`` released together from ``n`` threads (a stampede on one key).

    Taught in 08_caching_and_rate_limits.
    """
    start = threading.Barrier(n)

    def one(_: int) -> httpx.Response:
        start.wait()
        return client.get(path)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def paced(clients: Sequence[httpx.Client], path: str, offsets: Sequence[float]) -> pd.DataFrame:
    """GET ``path`` at each offset (seconds from now), round-robin over ``clients``.

    Returns one row per request: when it was sent (``t``, seconds), its ``status`` and which
    ``client`` sent it; several clients pointed at several workers show where each worker's
    limit applies.

    Taught in 08_caching_and_rate_limits.
    """
    rows = []
    start = time.perf_counter()
    for i, offset in enumerate(sorted(offsets)):
        delay = offset - (time.perf_counter() - start)
        if delay > 0:
            time.sleep(delay)
        sent = time.perf_counter() - start
        response = clients[i % len(clients)].get(path)
        rows.append({"t": sent, "status": response.status_code, "client": i % len(clients)})
    return pd.DataFrame(rows)


def side_by_side(runs: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run each measurement at the same time (one thread each) and return their results.

    Two services given the same traffic at once compare fairly and take half the time.

    Taught in 08_caching_and_rate_limits.
    """
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {name: pool.submit(run) for name, run in runs.items()}
        return {name: future.result() for name, future in futures.items()}


def busiest(frame: pd.DataFrame, seconds: float) -> int:
    """The most requests let through (2xx) in any span of ``seconds``, from a `paced` frame.

    Taught in 08_caching_and_rate_limits.
    """
    times = np.sort(frame.loc[frame["status"] < 300, "t"].to_numpy())
    if len(times) == 0:
        return 0
    ends = np.searchsorted(times, times + seconds, side="left")
    return int((ends - np.arange(len(times))).max())


def stale_reads(writer: httpx.Client, reader: httpx.Client, product_id: int, reads: int) -> int:
    """Change a product's price through ``writer``, then count ``reader``'s reads that miss it.

    The reader reads first, so its worker holds the product in its cache; a staff client is
    needed to write.

    Taught in 08_caching_and_rate_limits.
    """
    path = f"/v1/products/{product_id}"
    reader.get(path).raise_for_status()
    current = writer.get(path)
    price = current.json()["price_cents"] + 1
    writer.patch(
        path, json={"price_cents": price}, headers={"If-Match": current.headers["etag"]}
    ).raise_for_status()
    return sum(reader.get(path).json()["price_cents"] != price for _ in range(reads))


def retrying(
    client: httpx.Client, path: str, *, seconds: float, honour_retry_after: bool
) -> dict[str, float]:
    """Call ``path`` as often as allowed for ``seconds``; on 429 wait ``Retry-After`` or not.

    Returns requests sent, work completed (2xx) and 429s received: the cost a client that
    hammers puts on the service for the same work.

    Taught in 08_caching_and_rate_limits.
    """
    sent = done = refused = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        response = client.get(path)
        sent += 1
        if response.status_code == 429:
            refused += 1
            if honour_retry_after:
                wait = float(response.headers.get("retry-after", "1"))
                time.sleep(max(0.0, min(wait, end - time.perf_counter())))
        elif response.is_success:
            done += 1
    return {"requests": sent, "completed": done, "refused_429": refused}


@dataclass
class FixedWindow:
    """A fixed-window counter (``limit`` per calendar window), the limiter the shop does not use.

    Written by hand because it is the lesson: its count resets at each window boundary,
    so ``limit`` requests just before and ``limit`` just after a boundary all pass.

    Taught in 08_caching_and_rate_limits.
    """

    limit: int
    window_seconds: float

    def allowed(self, offsets: Sequence[float]) -> list[bool]:
        """For requests at these times (seconds), whether each one passes."""
        counts: dict[int, int] = {}
        out = []
        for t in offsets:
            window = math.floor(t / self.window_seconds)
            counts[window] = counts.get(window, 0) + 1
            out.append(counts[window] <= self.limit)
        return out


def http_cache_client(base_url: str, *, headers: dict[str, str] | None = None) -> httpx.Client:
    """An httpx client with a private HTTP cache (hishel) that honours ``Cache-Control``.

    Like a browser's: it lives in memory for this client only, and
    ``response.extensions["caching"]`` tells whether an answer came from it.

    Taught in 08_caching_and_rate_limits.
    """
    import sqlite3

    from hishel import CacheOptions, SqliteStorage
    from hishel.httpx import CacheClient

    storage = SqliteStorage(connection=sqlite3.connect(":memory:", check_same_thread=False))
    return CacheClient(
        base_url=base_url,
        headers=headers,
        storage=storage,
        rfc=CacheOptions(shared=False),
        timeout=10.0,
    )


def layers(clients: Sequence[httpx.Client], keys: Iterable[int]) -> pd.DataFrame:
    """Read products round-robin through ``clients`` and count where each read was answered.

    One row per layer: requests that reached it, and how many it answered itself
    (each client's HTTP cache, the service's cache, the database).

    Taught in 08_caching_and_rate_limits.
    """
    reads = served_by_http = reached_app = app_hits = queries = 0
    for i, key in enumerate(keys):
        response = clients[i % len(clients)].get(f"/v1/products/{key}")
        reads += 1
        if response.extensions.get("caching", {}).get("from_cache"):
            served_by_http += 1
            continue
        reached_app += 1
        app_hits += response.headers.get("x-cache") == "HIT"
        queries += int(response.headers.get(QUERY_COUNT_HEADER, 0))
    return pd.DataFrame(
        {
            "reached": [reads, reached_app, reached_app - app_hits],
            "answered": [served_by_http, app_hits, reached_app - app_hits],
            "queries": [0, 0, queries],
        },
        index=pd.Index(["http cache (client)", "app cache", "database"], name="layer"),
    )
