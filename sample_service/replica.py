"""Reads that may be stale go to a streaming replica; a client that just wrote reads its write.

With ``database_replica_url`` set, the catalog's bare-driver reads (a product, a page of
products) run on the replica and everything else (sessions, writes, readiness) on the
primary. A replica trails its primary, so a client that changed a price and reads it back
at once could see the old one: read-your-writes is lost. The rule kept here:

- After a successful write request (POST, PUT, PATCH, DELETE answered below 400) the
  response sets a cookie holding the primary's WAL insert position (an LSN) at that moment,
  which is at or past the write's commit record.
- A read carrying that cookie goes to the replica only once the replica has replayed that
  far (``pg_last_wal_replay_lsn()``, asked once per read while it trails; the answer is
  remembered, so reads after the catch-up cost nothing); until then it goes to the primary.

Why an LSN and not "the primary for a few seconds after a write": a time window is a guess at
the lag. Too short, and the anomaly returns exactly when a write burst makes the lag grow;
too long, and every writer's reads load the primary for nothing. The LSN says exactly when
the replica has the write. Falling back to the primary rather than waiting keeps the read
as fast as a primary read. Why a cookie: it travels with the client to whichever process
serves the next request, so several workers need no shared state (a client that drops
cookies, or a forged LSN, only sends that client's own reads to the primary).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from contextvars import ContextVar
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any

from sqlalchemy import make_url

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from sample_service.db import Database

COOKIE = "shop_read_after"
COOKIE_MAX_AGE = 60  # seconds: a replica that trails by more is broken, not lagging
_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The LSN the current request's client must see, from its cookie (None: it wrote nothing lately).
_read_after: ContextVar[int | None] = ContextVar("read_after", default=None)
_REPLAY_LSN = "SELECT pg_last_wal_replay_lsn()"
_DOWN_SECONDS = 5.0  # after a failure, reads skip the replica this long rather than each retry it
_log = logging.getLogger("sample_service.replica")
_LAG = """
SELECT pg_last_wal_replay_lsn(),
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END
"""


def parse_lsn(text: str) -> int | None:
    """``16/B374D848`` (PostgreSQL's notation) as a number; None when it is not one."""
    match = _LSN.match(text)
    return None if match is None else (int(match[1], 16) << 32) | int(match[2], 16)


def format_lsn(lsn: int) -> str:
    """A WAL position in PostgreSQL's notation."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


class Replica:
    """The service's side of one streaming replica: its asyncpg pool and what it has replayed."""

    def __init__(self, url: str, *, pool_size: int) -> None:
        self.url = url
        parsed = make_url(url)
        self.address = f"{parsed.host}:{parsed.port or 5432}"  # its label in /metrics
        self._pool_size = pool_size
        self._pool: asyncio.Task[Any] | None = None
        self.replayed = 0  # the furthest replay position seen; it only grows
        self._down_until = 0.0
        import asyncpg  # only a service with a replica needs it

        # A replica that cannot answer (down, restarting, a read cancelled by replay): the
        # primary does.
        self.failures = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)

    async def pool(self) -> Any:
        """An asyncpg pool on the replica, one per event loop, created on first use."""
        loop = asyncio.get_running_loop()
        task = self._pool
        if task is None or task.get_loop() is not loop or (task.done() and task.exception()):
            task = self._pool = loop.create_task(self._open())
        return await asyncio.shield(task)

    async def _open(self) -> Any:
        import asyncpg

        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        # A short connect timeout: while the replica cannot be reached, reads go to the primary.
        return await asyncpg.create_pool(dsn, min_size=1, max_size=self._pool_size, timeout=2.0)

    def failed(self, error: BaseException) -> None:
        """The replica failed a read: the primary serves reads for a while, then it is tried again."""
        if time.monotonic() >= self._down_until:
            _log.warning(
                "read replica %s failed (%r); reading from the primary", self.address, error
            )
        self._down_until = time.monotonic() + _DOWN_SECONDS

    async def serves(self, *, naive: bool) -> bool:
        """True when this read may go to the replica (see the module docstring for the rule).

        ``naive`` (a lesson switch) sends every read there, read-your-writes or not.
        """
        if self._down_until and time.monotonic() < self._down_until:
            return False
        needed = _read_after.get()
        if naive or needed is None or needed <= self.replayed:
            return True
        try:
            replayed = await (await self.pool()).fetchval(_REPLAY_LSN)  # None: not a standby
        except self.failures as exc:
            self.failed(exc)
            return False
        if replayed is not None:
            self.replayed = max(self.replayed, int(replayed))
        return needed <= self.replayed

    async def lag(self, primary_pool: Any) -> tuple[float, float]:
        """Seconds and WAL bytes the replica trails the primary by, for /metrics (NaN: unknown,
        the replica cannot be reached)."""
        written = await primary_pool.fetchval("SELECT pg_current_wal_lsn()")
        try:
            replayed, seconds = await (await self.pool()).fetchrow(_LAG)
        except self.failures as exc:
            self.failed(exc)
            return math.nan, math.nan
        if replayed is None:
            return 0.0, 0.0
        self.replayed = max(self.replayed, int(replayed))
        return float(seconds or 0.0), float(max(int(written) - int(replayed), 0))

    async def dispose(self) -> None:
        """Close the pool (graceful shutdown)."""
        task, self._pool = self._pool, None
        if task is not None and task.done() and not task.exception():
            await task.result().close()


class ReadYourWritesMiddleware:
    """Read the client's LSN cookie into the request; after a write, set it to the primary's LSN."""

    def __init__(self, app: ASGIApp, *, database: Database) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _read_after.set(_cookie_lsn(scope))
        write = scope["method"] in _WRITES

        async def send_with_lsn(message: Message) -> None:
            if write and message["type"] == "http.response.start" and message["status"] < 400:
                lsn = await self.database.primary_lsn()
                cookie = f"{COOKIE}={format_lsn(lsn)}; Max-Age={COOKIE_MAX_AGE}; Path=/; HttpOnly"
                cookie += "; SameSite=Lax" + ("; Secure" if scope.get("scheme") == "https" else "")
                message["headers"] = [*message.get("headers", ()), (b"set-cookie", cookie.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_lsn)
        finally:
            _read_after.reset(token)


def _cookie_lsn(scope: Scope) -> int | None:
    """The LSN in the request's cookie; None when absent or malformed (never an error)."""
    for name, value in scope["headers"]:
        if name == b"cookie" and COOKIE.encode() in value:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:  # a malformed Cookie header is the client's problem, not a 500
                return None
            morsel = jar.get(COOKIE)
            return parse_lsn(morsel.value) if morsel is not None else None
    return None
