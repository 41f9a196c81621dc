"""Cache-aside for product reads, in memory or in Redis, invalidated on every write.

The read path asks ``await cache.get(key)``; on a miss it loads from the
database and calls ``await cache.set(key, value)``; every write calls
``await cache.invalidate(key)`` after its transaction commits. Values are the
bytes the read path wants back (a serialised representation), so a hit costs
no database work and no re-serialisation.

``get_or_load`` adds a stampede guard: concurrent misses on one key in a process
share one load (single flight), and across workers a short lock in the store lets
one worker load while the others wait briefly for its value.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, cast

import anyio.from_thread
from prometheus_client import Counter

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from sample_service.config import Settings

LOOKUPS = Counter("shop_cache_lookups_total", "Product cache lookups", ["result"])
_HITS = LOOKUPS.labels("hit")
_MISSES = LOOKUPS.labels("miss")
_BYPASS = LOOKUPS.labels("bypass")
# Misses minus loads is what the stampede guard saved the database.
LOADS = Counter("shop_cache_loads_total", "Product loads from the database after a cache miss")

# Set per request by CacheHeaderMiddleware (lab mode only); get() records its outcome there.
_outcome: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "cache_outcome", default=None
)


def product_key(product_id: int) -> str:
    """The cache key of one product's representation."""
    return f"product:{product_id}"


class Store(Protocol):
    """Where cached bytes live."""

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        """Set ``key`` only if absent; True when this call set it (a lock)."""
        ...


class MemoryStore:
    """An LRU dict with expiry: fast, but each worker keeps (and invalidates) its own copy."""

    def __init__(self, *, max_items: int = 10_000) -> None:
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_items = max_items

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[1]

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        self._items[key] = (time.monotonic() + ttl_seconds, value)
        self._items.move_to_end(key)
        if len(self._items) > self._max_items:
            self._items.popitem(last=False)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._items.pop(key, None)

    async def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        if await self.get(key) is not None:
            return False
        self._items[key] = (time.monotonic() + ttl_seconds, value)
        return True


class RedisStore:
    """Redis: one copy shared by every worker, so one invalidation reaches all of them."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}cache:"

    async def get(self, key: str) -> bytes | None:
        # The client is made without decode_responses, so values come back as bytes.
        return cast("bytes | None", await self._redis.get(self._prefix + key))

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        await self._redis.set(self._prefix + key, value, ex=ttl_seconds)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(self._prefix + key for key in keys))

    async def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        done = await self._redis.set(self._prefix + key, value, px=int(ttl_seconds * 1000), nx=True)
        return bool(done)


class Cache:
    """Cache-aside front of a store, with hit/miss counting and the ``cache_off`` switch.

    ``enabled`` and ``guarded`` are asked on every call so a lab switch flipped at run
    time takes effect on the next request.
    """

    # Long enough for one load, short enough that a crashed loader delays others briefly.
    LOCK_SECONDS = 2.0
    POLL_SECONDS = 0.01

    def __init__(
        self,
        store: Store,
        *,
        ttl_seconds: int,
        enabled: Callable[[], bool] = lambda: True,
        guarded: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        # A TTL of zero turns caching off without lab mode (benchmarks of the database path).
        self._enabled = enabled if ttl_seconds > 0 else lambda: False
        self._guarded = guarded
        self._flights: dict[str, asyncio.Future[bytes]] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        redis: Redis | None = None,
        enabled: Callable[[], bool] = lambda: True,
        guarded: Callable[[], bool] = lambda: True,
    ) -> Cache:
        """Redis store when a Redis client is given, memory otherwise."""
        store: Store = RedisStore(redis, prefix=settings.redis_prefix) if redis else MemoryStore()
        return cls(store, ttl_seconds=settings.cache_ttl_seconds, enabled=enabled, guarded=guarded)

    async def get(self, key: str) -> bytes | None:
        """The cached bytes, or ``None`` on a miss (always a miss while the cache is off)."""
        if not self._enabled():
            _record(_BYPASS, "BYPASS")
            return None
        value = await self.store.get(key)
        if value is None:
            _record(_MISSES, "MISS")
        else:
            _record(_HITS, "HIT")
        return value

    async def set(self, key: str, value: bytes) -> None:
        """Remember a freshly loaded value for ``ttl_seconds``."""
        if self._enabled():
            await self.store.set(key, value, self.ttl_seconds)

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        """Cache-aside with a stampede guard: a hit, else ``load()`` once per key at a time.

        Without the guard (the ``no_stampede_guard`` switch) every concurrent miss loads.
        """
        value = await self.get(key)
        if value is not None:
            return value
        if not (self._enabled() and self._guarded()):
            return await self._load_and_store(key, load)
        while (flight := self._flights.get(key)) is not None:  # another request is loading it
            try:
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                if not flight.cancelled():
                    raise  # this request itself was cancelled
                # The loading request was cancelled (its client left): load in its place.
        return await self._lead(key, load)

    async def _lead(self, key: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        """Load ``key`` for every request of this process that misses it meanwhile."""
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            value = await self._load_across_workers(key, load)
            flight.set_result(value)
            return value
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except Exception as error:
            flight.set_exception(error)
            flight.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self._flights[key]

    async def _load_across_workers(self, key: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        """Take the store's short lock and load, or wait for the worker holding it."""
        lock = f"lock:{key}"
        deadline = time.monotonic() + self.LOCK_SECONDS
        while not await self.store.add(lock, b"1", self.LOCK_SECONDS):
            await asyncio.sleep(self.POLL_SECONDS)
            value = await self.store.get(key)
            if value is not None:
                return value
            if time.monotonic() > deadline:  # the holder died: load without it
                return await self._load_and_store(key, load)
        try:
            value = await self.store.get(key)  # stored while this worker waited for the lock
            return value if value is not None else await self._load_and_store(key, load)
        finally:
            await self.store.delete(lock)

    async def _load_and_store(self, key: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        LOADS.inc()
        value = await load()
        await self.set(key, value)
        return value

    async def invalidate(self, *keys: str) -> None:
        """Forget keys after a write, even while the cache is off, so it never turns on stale."""
        await self.store.delete(*keys)

    def invalidate_from_thread(self, *keys: str) -> None:
        """``invalidate`` for sync handlers, which FastAPI runs in its worker threads."""
        anyio.from_thread.run(self.invalidate, *keys)


def _record(counter: Counter, label: str) -> None:
    counter.inc()
    outcome = _outcome.get()
    if outcome is not None:
        outcome.append(label)


class CacheHeaderMiddleware:
    """Lab mode only: ``X-Cache: HIT|MISS|BYPASS`` on responses that consulted the cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        outcome: list[str] = []
        token = _outcome.set(outcome)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start" and outcome:
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-cache", outcome[-1].encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            _outcome.reset(token)
