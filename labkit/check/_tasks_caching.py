"""Module 08 (caching and rate limits): cache-aside that a concurrent read cannot make stale; a
sliding-window limiter judged on a clock the check controls."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
import sqlalchemy as sa

from labkit.check._registry import Failed, task
from labkit.check._shop import shop
from labkit.errors import LabkitError
from labkit.querylog import count_queries

_MAX_TTL_S = 300
_PRODUCT = sa.text("SELECT id, name, price_cents FROM products WHERE id = :id")


class _Cache:
    """What the check hands the learner: get / set(ttl_seconds) / delete, as the shop's store.

    Backed by Redis when `REDIS_URL` is set (under a key prefix of its own), else by a dict
    with expiry; it remembers each entry's TTL so the check can read it.
    """

    def __init__(self) -> None:
        self.ttls: list[float | None] = []
        self._prefix = f"labkit-check-{uuid.uuid4().hex[:8]}:"
        self._items: dict[str, tuple[float, str]] = {}
        url = os.environ.get("REDIS_URL")
        self._redis = redis.Redis.from_url(url, decode_responses=True) if url else None
        if self._redis is not None:
            try:
                self._redis.ping()
            except redis.RedisError as exc:
                raise LabkitError(
                    f"REDIS_URL={url} does not answer ({exc}); start Redis, or unset REDIS_URL "
                    "to cache in memory"
                ) from None

    def get(self, key: str) -> str | None:
        """The cached text, or None on a miss (or once its TTL passed)."""
        if self._redis is not None:
            return (
                str(value) if (value := self._redis.get(self._prefix + key)) is not None else None
            )
        item = self._items.get(key)
        return item[1] if item and item[0] > time.monotonic() else None

    def set(
        self, key: str, value: str | bytes | int | float, ttl_seconds: float | None = None
    ) -> None:
        """Keep `value` (text, bytes or a number, as Redis takes) for `ttl_seconds`, or for ever."""
        if not isinstance(value, str | bytes | int | float):
            raise TypeError(f"a cache keeps text, bytes or numbers, not {type(value).__name__}; "
                            "serialise it first (json.dumps)")  # fmt: skip
        self.ttls.append(ttl_seconds)
        text = value.decode() if isinstance(value, bytes) else str(value)
        if self._redis is not None:
            ms = None if ttl_seconds is None else max(1, int(ttl_seconds * 1000))
            self._redis.set(self._prefix + key, text, px=ms)
        else:
            expires = time.monotonic() + (float("inf") if ttl_seconds is None else ttl_seconds)
            self._items[key] = (expires, text)

    def delete(self, key: str) -> None:
        """Drop the entry: the next get is a miss."""
        if self._redis is not None:
            self._redis.delete(self._prefix + key)
        else:
            self._items.pop(key, None)

    def close(self) -> None:
        if self._redis is not None:
            keys = list(self._redis.scan_iter(f"{self._prefix}*"))
            if keys:
                self._redis.delete(*keys)
            self._redis.close()


@contextmanager
def _reader_during_commit(engine: sa.Engine, read: Callable[[], Any]) -> Iterator[list[Any]]:
    """While armed, the first commit on `engine` first lets another connection `read`."""
    seen: list[Any] = []
    armed = True

    def before_commit(_conn: sa.Connection) -> None:
        nonlocal armed
        if armed:
            armed = False  # before reading: the reader's own commit must not read again
            seen.append(read())

    sa.event.listen(engine, "commit", before_commit)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "commit", before_commit)


def _price(engine: sa.Engine, product_id: int) -> int:
    with engine.connect() as conn:
        return int(conn.execute(_PRODUCT, {"id": product_id}).mappings().one()["price_cents"])


@task(
    "08.1",
    "cache_aside_products",
    title="Cache-aside reads that no write leaves stale",
    hints=(
        "The check reads through your function, writes through yours, and reads again; one "
        "read runs while your write is being committed, as another request would.",
        "Whatever a reader caches before your write commits is the old price; it must not "
        "survive your write.",
        "Write the database first and delete the key after the transaction has committed; give "
        f"every entry a TTL of at most {_MAX_TTL_S} s, so an invalidation that never came heals.",
    ),
)
def cache_aside_products(functions: tuple[Callable[..., Any], Callable[..., Any]]) -> None:
    """Right values, hits that skip the database, TTLs, and no stale read after a write."""
    if not (isinstance(functions, tuple) and len(functions) == 2 and all(map(callable, functions))):
        raise Failed("pass both functions: lk.check('08.1', (read_product, set_price))")
    read, write = functions
    engine = shop().engine
    cache = _Cache()
    try:
        _judge_cache_aside(cache, engine, read, write)
    finally:
        cache.close()


def _judge_cache_aside(
    cache: _Cache, engine: sa.Engine, read: Callable[..., Any], write: Callable[..., Any]
) -> None:
    first, written, raced = 5, 6, 7
    for product_id in (first, written, raced):
        got = read(cache, engine, product_id)
        if not isinstance(got, dict) or got.get("price_cents") != _price(engine, product_id):
            raise Failed(f"read_product(…, {product_id}) gave {got!r}, not the row's values")
    with count_queries(engine) as log:
        for _ in range(5):
            read(cache, engine, first)
    if log.count:
        raise Failed(f"5 reads of a cached product ran {log.count} statement(s); a hit should not")
    lives = [float("inf") if ttl is None else ttl for ttl in cache.ttls]
    if not lives:
        raise Failed("nothing went into the cache the check gave you; keep entries there")
    if float("inf") in lives:
        raise Failed("an entry was cached without a TTL: a write behind your back stays for ever")
    if max(lives) > _MAX_TTL_S:
        raise Failed(f"an entry lives {max(lives):g} s; at most {_MAX_TTL_S} s is allowed")
    new_price = _price(engine, written) + 100
    write(cache, engine, written, new_price)
    if _price(engine, written) != new_price:
        raise Failed(f"set_price(…, {new_price}) left the database's price as it was")
    if (shown := read(cache, engine, written)["price_cents"]) != new_price:
        raise Failed(
            f"after set_price(…, {new_price}) a read showed {shown}: the entry outlived it"
        )
    old_price = _price(engine, raced)
    with _reader_during_commit(engine, lambda: read(cache, engine, raced)) as concurrent:
        write(cache, engine, raced, old_price + 100)
    if not concurrent:
        raise Failed("set_price committed nothing through the engine it was given")
    if (shown := read(cache, engine, raced)["price_cents"]) != old_price + 100:
        raise Failed(
            f"a read that ran while your write committed cached the old price ({shown}); after "
            "set_price returned, readers still see it, until the TTL"
        )


class _Clock:
    """The time the check decides: the limiter calls it, the check moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


_LIMIT, _WINDOW = 10, 1.0
# (what the traffic is, [(seconds, key)]): a request passes when fewer than _LIMIT of its
# key passed in the window (now - _WINDOW, now].
_TRAFFIC: tuple[tuple[str, list[tuple[float, str]]], ...] = (
    ("a steady 6 per second for 3 s", [(i / 6, "a") for i in range(18)]),
    ("10 just before a second's boundary and 10 just after",
     [(0.95, "a")] * 10 + [(1.05, "a")] * 10),
    ("10 at once, and 10 more 1.01 s later", [(0.0, "a")] * 10 + [(1.01, "a")] * 10),
    ("10 at once, 40 refused retries, then one 1.05 s after the first",
     [(0.0, "a")] * 10 + [(0.02 * i, "a") for i in range(1, 41)] + [(1.05, "a")]),
    ("two clients, one over its limit", [(0.01 * i, "ab"[i % 3 == 0]) for i in range(30)]),
)  # fmt: skip


def _passes(history: list[float], now: float) -> bool:
    return sum(t > now - _WINDOW for t in history) < _LIMIT


@task(
    "08.2",
    "sliding_window_limiter",
    title="A sliding-window limiter, judged on a clock the check controls",
    hints=(
        "The check replays 5 kinds of traffic (hidden) with limit=10, window_s=1.0 on a clock "
        "it moves, and names the first request you decide differently.",
        "A fixed window forgets everything at each boundary; a sliding one looks back exactly "
        "window_s seconds from now, per key, and counts only requests that passed.",
        "Keep per key a deque of the times of passed requests; drop those at or before "
        "now - window_s, then pass when fewer than limit remain.",
    ),
)
def sliding_window_limiter(limiter_class: Callable[..., Any]) -> None:
    """Every decision as the sliding window's, and old timestamps forgotten."""
    if not callable(limiter_class):
        raise Failed("pass the class itself: lk.check('08.2', SlidingWindowLimiter)")
    for what, traffic in _TRAFFIC:
        clock = _Clock()
        limiter = limiter_class(limit=_LIMIT, window_s=_WINDOW, clock=clock)
        passed: dict[str, list[float]] = {}
        for number, (at, key) in enumerate(traffic, start=1):
            clock.now = at
            truth = _passes(passed.setdefault(key, []), at)
            if truth:
                passed[key].append(at)
            decision = limiter.allow(key)
            if decision is not truth:
                verdict = ("let it pass", "refuses") if decision else ("refused it", "passes")
                raise Failed(
                    f"{what}: request {number} (t={at:.2f} s, key {key!r}) — you "
                    f"{verdict[0]}; the sliding window {verdict[1]} it"
                )
    _judge_memory(limiter_class)


def _judge_memory(limiter_class: Callable[..., Any]) -> None:
    """A long quiet run on one key must not leave every timestamp behind."""
    clock = _Clock()
    limiter = limiter_class(limit=_LIMIT, window_s=_WINDOW, clock=clock)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            clock.now = i * 0.5
            limiter.allow("a")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    if grown > 100_000:
        raise Failed(
            f"after 20,000 requests over 3 hours the limiter holds {grown // 1024} KiB more: "
            "it keeps times that left the window long ago"
        )


_CALLERS = 20
_PATIENCE_S = 3.0  # how long the check waits for a caller before calling it stuck


def _together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at the same moment, one thread each; results or exceptions, in order.

    A caller still running after `_PATIENCE_S` is reported as `TimeoutError` (its thread is a
    daemon, so a learner's deadlock cannot keep the kernel from exiting).
    """
    start = threading.Barrier(len(calls))
    out: list[Any] = [TimeoutError("still waiting")] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        start.wait()
        try:
            out[i] = call()
        except Exception as exc:  # the learner's error is an outcome
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + _PATIENCE_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return out


@task(
    "08.3",
    "single_flight_loads",
    title="One load for a burst of misses on one key, and no key waiting for another",
    hints=(
        f"The check sends {_CALLERS} callers of one missing key at once (the load takes 0.3 s), "
        "then loads of two keys that each wait for the other to start, then a load that fails.",
        "Callers of the same key must wait for the one that loads; callers of another key "
        "must not: one lock for the whole cache serialises every miss.",
        "A lock per key (made under a small guard), and a second look in the cache once you "
        "hold it: the value may have arrived while you waited.",
    ),
)
def single_flight_loads(get_or_load: Callable[[Any, str, Callable[[], str]], Any]) -> None:
    """One load per burst, cached after; other keys load in parallel; a failure strands nobody."""
    if not callable(get_or_load):
        raise Failed("pass the function itself: lk.check('08.3', get_or_load)")
    cache = _Cache()
    try:
        _judge_single_flight(cache, get_or_load)
    finally:
        cache.close()


def _judge_single_flight(cache: _Cache, get_or_load: Callable[..., Any]) -> None:
    loads: list[str] = []

    def slow(value: str) -> Callable[[], str]:
        def load() -> str:
            loads.append(value)
            time.sleep(0.3)
            return value

        return load

    got = _together([lambda: get_or_load(cache, "hot", slow("v1"))] * _CALLERS)
    if len(loads) != 1:
        raise Failed(f"{_CALLERS} callers missing one key at once ran the load {len(loads)} times")
    if wrong := [g for g in got if g != "v1"]:
        raise Failed(f"{len(wrong)} caller(s) got {wrong[0]!r} instead of the loaded value")
    if get_or_load(cache, "hot", slow("v2")) != "v1" or len(loads) != 1:
        raise Failed("a call after the burst loaded again: the loaded value was not cached")
    started = {key: threading.Event() for key in ("a", "b")}

    def meeting(key: str, other: str) -> Callable[[], str]:
        def load() -> str:
            started[key].set()
            if not started[other].wait(_PATIENCE_S / 2):
                raise TimeoutError(f"the load of {other!r} never started")
            return key

        return load

    pair = _together([lambda: get_or_load(cache, "a", meeting("a", "b")),
                      lambda: get_or_load(cache, "b", meeting("b", "a"))])  # fmt: skip
    if pair != ["a", "b"]:
        raise Failed("the load of one key waited for the load of another key to finish")

    def failing() -> str:
        raise RuntimeError("the database is down")

    stranded = _together([lambda: get_or_load(cache, "flaky", failing)] * 5)
    if any(isinstance(outcome, TimeoutError) for outcome in stranded):
        raise Failed(f"callers were still waiting {_PATIENCE_S:g} s after the load failed")
    if any(not isinstance(outcome, Exception) for outcome in stranded):
        raise Failed("a caller got a value although the only load failed")
    if get_or_load(cache, "flaky", lambda: "back") != "back":
        raise Failed("after a failed load the key stays broken: the next call did not load it")
