"""Engines and sessions for the services, and a bare-driver path for the hottest read.

With a read replica configured, reads on that path may be answered by it (``replica``).

Business operations (orders, auth, writes) are sync ``Session`` code run in FastAPI's
threadpool: the clearest form for transactions, and what tests and notebooks call
directly. The hottest read (``GET /v1/products/{id}``) is different: a primary-key
lookup costs microseconds, so per-request machinery dominates. Measured on 2 cores for
one product row: pool checkout + Core execute ~15x a bare ``sqlite3`` execute,
aiosqlite ~30x (a thread hop per call), asyncpg's pool reset one extra round trip.
``FastRead`` therefore compiles one Core statement once and runs it on the bare driver:
sqlite3 inline on the event loop (a local B-tree lookup, no network wait) and an asyncpg
pool on PostgreSQL (awaited, so the loop never blocks on the network).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
from opentelemetry.trace import get_current_span
from sqlalchemy import Engine, Select, create_engine, event, make_url, select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import UpdateBase

from sample_service import metrics
from sample_service.config import Settings
from sample_service.errors import Saturated
from sample_service.replica import Replica

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

T = TypeVar("T")


def _configure_sqlite(engine: Engine | Any, *, lock_timeout: float) -> None:
    """WAL, foreign keys and a busy timeout; BEGIN issued by us so IMMEDIATE is possible."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event emit BEGIN
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    pool_timeout: float = 2.0,
    lock_timeout: float = 5.0,
) -> Engine:
    """A sync engine with the per-backend settings the service relies on.

    Every wait is bounded (a pool checkout by ``pool_timeout``, SQLite's write lock by
    ``lock_timeout``): past it the request answers 503 instead of holding its client.
    """
    parsed = make_url(url)
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": lock_timeout}, **pool
        )
        _configure_sqlite(engine, lock_timeout=lock_timeout)
        return engine
    return create_engine(parsed, pool_pre_ping=True, **pool)


class Admission:
    """At most ``capacity`` requests hold a database session at once; the rest queue briefly.

    Without it a burst deadlocks: requests holding pooled connections wait for a threadpool
    thread while every thread waits for a connection, until the pool times out (measured:
    70 concurrent requests froze the service for 30 s, then 500s). With it the queue is at
    most ``capacity`` long and a wait at most ``wait_seconds``; past either, a 503 with
    ``Retry-After`` at once, so clients back off instead of piling up.
    """

    def __init__(self, *, capacity: int, wait_seconds: float) -> None:
        self.capacity = capacity
        self.wait_seconds = wait_seconds
        self.in_use = 0
        self.waiting = 0
        self.shed = 0
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def saturated(self) -> bool:
        """Every slot is taken and requests are queueing for one."""
        return self.in_use >= self.capacity and self.waiting > 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block; 503 when none frees up in time or the queue is full."""
        semaphore = self._semaphore()
        if semaphore.locked() and self.waiting >= self.capacity:
            self._refuse("the queue for the database is full")
        self.waiting += 1
        try:
            await asyncio.wait_for(semaphore.acquire(), self.wait_seconds)
        except TimeoutError:
            self._refuse(f"no database connection freed up within {self.wait_seconds:g} s")
        finally:
            self.waiting -= 1
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
            semaphore.release()

    def _semaphore(self) -> asyncio.Semaphore:
        """One semaphore per event loop (an app may be served by several in tests)."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.capacity)
        return semaphore

    def _refuse(self, why: str) -> None:
        self.shed += 1
        raise Saturated(f"the service is saturated: {why}")


async def _keep_session(_connection: Any) -> None:
    """asyncpg pool reset hook that does nothing (see ``Database._open_asyncpg``)."""


class FastRead:
    """One SELECT compiled once, run on a bare driver connection (see the module docstring).

    ``await read.one(product_id=7)`` → the row as a dict, or None. Listeners get the SQL
    text of each run (the lab's per-request query count). A ``stale_ok`` read may be answered
    by the replica when one is configured (``sample_service.replica``).
    """

    def __init__(
        self, database: Database, stmt: Select[Any] | UpdateBase, *, stale_ok: bool = True
    ) -> None:
        # asyncpg speaks $1 placeholders; SQLite's own dialect gives sqlite3's ?.
        dialect: Any = database.engine.dialect
        if database.kind == "postgresql":
            dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self._order = list(compiled.positiontup or ())
        # Values the dialect bound itself (SQLite's OFFSET 0 after a LIMIT placeholder).
        self._fixed = {name: b.value for name, b in compiled.binds.items() if not b.required}
        # A SELECT's columns, or what an INSERT/UPDATE returns (``placement`` writes this way).
        self._columns = [str(column.key) for column in stmt.exported_columns]
        self._database = database
        self.stale_ok = stale_ok

    def _values(self, params: dict[str, Any]) -> list[Any]:
        """The parameters in placeholder order; listeners hear of the run."""
        for listener in self._database.read_listeners:
            listener(self.sql)
        return [params[name] if name in params else self._fixed[name] for name in self._order]

    async def one(self, **params: Any) -> dict[str, Any] | None:
        """The first row for these parameters, or None."""
        values = self._values(params)
        with self._span():
            return await self._fetch(values)

    def _span(self) -> AbstractContextManager[Any]:
        """A span for this statement inside a traced request; nothing otherwise (no cost)."""
        tracer = self._database.tracer
        if tracer is None or not get_current_span().is_recording():
            return nullcontext()
        # The bare driver has no instrumentation of its own: the span is made here.
        attributes = {"db.system": self._database.kind, "db.statement": self.sql}
        return tracer.start_as_current_span(self.sql.split(None, 1)[0], attributes=attributes)

    async def _fetch(self, values: list[Any]) -> dict[str, Any] | None:
        started = time.perf_counter()
        if self._database.kind == "sqlite":
            row = self._database.sqlite_connection().execute(self.sql, values).fetchone()
        else:
            row = await self._database.fetchrow(self.sql, values, stale_ok=self.stale_ok)
        self._log_if_slow(values, started)
        return dict(zip(self._columns, row, strict=True)) if row is not None else None

    async def all(self, **params: Any) -> list[dict[str, Any]]:
        """Every row for these parameters, each as a dict (a page of a listing)."""
        values = self._values(params)
        started = time.perf_counter()
        with self._span():
            if self._database.kind == "sqlite":
                rows = self._database.sqlite_connection().execute(self.sql, values).fetchall()
            else:
                rows = await self._database.read(
                    self.stale_ok, lambda pool: pool.fetch(self.sql, *values)
                )
        self._log_if_slow(values, started)
        return [dict(zip(self._columns, row, strict=True)) for row in rows]

    def _log_if_slow(self, values: list[Any], started: float) -> None:
        """The bare driver has no SQLAlchemy events: the slow-query log is fed here too."""
        threshold = self._database.slow_query_ms
        elapsed_ms = (time.perf_counter() - started) * 1000
        if threshold is not None and elapsed_ms >= threshold:
            from sample_service.middleware import current_request_id, write_line
            from sample_service.slowlog import slow_query_line

            write_line(slow_query_line(self.sql, values, elapsed_ms, current_request_id()))


class Database:
    """The service's handle on its database: engines, a session factory, a readiness ping."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url
        self.kind = make_url(self.url).get_backend_name()
        self.engine = make_engine(
            self.url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_wait_seconds,
            lock_timeout=settings.db_lock_timeout_seconds,
        )
        # As many sessions as the pool has connections: a session never waits for one.
        self.admission = Admission(
            capacity=settings.db_pool_size + settings.db_max_overflow,
            wait_seconds=settings.db_wait_seconds,
        )
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # Catalog reads that may be stale go to a streaming replica when one is configured.
        self.replica = (
            Replica(settings.database_replica_url, pool_size=settings.db_pool_size)
            if settings.database_replica_url
            else None
        )
        self._settings = settings  # live: the naive_replica_routing switch changes at run time
        self.read_listeners: list[Callable[..., None]] = []
        self.tracer: Tracer | None = None  # set when tracing is on (sample_service.tracing)
        self.slow_query_ms: float | None = None  # set when the slow-query log is on
        self._pool_size = settings.db_pool_size
        self._wait_seconds = settings.db_wait_seconds
        self._sqlite: sqlite3.Connection | None = None
        self._asyncpg: asyncio.Task[Any] | None = None
        self._reads: dict[Select[Any], FastRead] = {}
        self._ping = FastRead(self, select(1), stale_ok=False)  # readiness is the primary's

    def __repr__(self) -> str:
        return f"<Database kind={self.kind!r} url={make_url(self.url).render_as_string()!r}>"

    def fast_read(self, stmt: Select[Any]) -> FastRead:
        """``stmt`` (with ``bindparam`` placeholders) compiled once for the bare-driver path."""
        read = self._reads.get(stmt)
        if read is None:
            read = self._reads[stmt] = FastRead(self, stmt)
        return read

    def sqlite_connection(self) -> sqlite3.Connection:
        """The event loop's own autocommit sqlite3 connection, opened on first use."""
        if self._sqlite is None:
            path = make_url(self.url).database or ""
            self._sqlite = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            # WAL: readers never wait for a writer, so the loop never sleeps on a lock.
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA busy_timeout=1000")
        return self._sqlite

    async def asyncpg_pool(self) -> Any:
        """An asyncpg pool on the same database, one per event loop, created on first use.

        Concurrent first requests share one creation task; a failed creation (database
        down) is retried by the next request.
        """
        loop = asyncio.get_running_loop()
        task = self._asyncpg
        if task is None or task.get_loop() is not loop or (task.done() and task.exception()):
            task = self._asyncpg = loop.create_task(self._open_asyncpg())
        return await asyncio.shield(task)

    async def read(self, stale_ok: bool, run: Callable[[Any], Awaitable[T]]) -> T:
        """``run(pool)`` on the replica for a ``stale_ok`` read the rule lets through
        (``sample_service.replica``), on the primary otherwise, or when the replica fails."""
        replica = self.replica
        if stale_ok and replica is not None:
            if await replica.serves(naive=self._settings.naive_replica_routing):
                try:
                    result = await run(await replica.pool())
                except replica.failures as exc:
                    replica.failed(exc)  # the primary answers: fresher, never staler
                else:
                    metrics.count_read("replica")
                    return result
            metrics.count_read("primary")
        return await run(await self.asyncpg_pool())

    async def primary_lsn(self) -> int:
        """The primary's WAL insert position: at or past every commit made so far."""
        pool = await self.asyncpg_pool()
        return int(await pool.fetchval("SELECT pg_current_wal_insert_lsn()"))

    async def replica_lag(self) -> tuple[str, float, float] | None:
        """The replica's address, and the seconds and WAL bytes it trails by; None without one."""
        if self.replica is None:
            return None
        seconds, lag_bytes = await self.replica.lag(await self.asyncpg_pool())
        return self.replica.address, seconds, lag_bytes

    async def fetchrow(self, sql: str, values: list[Any], *, stale_ok: bool = False) -> Any:
        """One row from the asyncpg pool; 503 when no connection frees up in time."""
        if stale_ok and self.replica is not None:
            return await self.read(True, lambda pool: self._fetchrow(pool, sql, values))
        # The hot path without a replica: no routing call at all.
        return await self._fetchrow(await self.asyncpg_pool(), sql, values)

    async def _fetchrow(self, pool: Any, sql: str, values: list[Any]) -> Any:
        try:
            async with pool.acquire(timeout=self._wait_seconds) as connection:
                return await connection.fetchrow(sql, *values)
        except TimeoutError:
            raise Saturated(
                f"no database connection freed up within {self._wait_seconds:g} s"
            ) from None

    async def _open_asyncpg(self) -> Any:
        import asyncpg  # only PostgreSQL services need it

        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        # No reset on release: these connections only run the compiled SELECTs and keep no
        # session state, and asyncpg's default reset is one more round trip per read.
        return await asyncpg.create_pool(
            dsn, min_size=1, max_size=self._pool_size, reset=_keep_session
        )

    async def ping(self) -> None:
        """Raise when the database cannot answer ``SELECT 1``."""
        await self._ping.one()

    async def dispose(self) -> None:
        """Close every connection (graceful shutdown)."""
        task, self._asyncpg = self._asyncpg, None
        if task is not None and task.done() and not task.exception():
            await task.result().close()
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self.replica is not None:
            await self.replica.dispose()
        self.engine.dispose()

    def widen_threadpool(self) -> None:
        """Give the threadpool more threads than there are sessions, so none waits for one."""
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, self.admission.capacity + 10)

    def pool_stats(self) -> dict[str, int]:
        """Connections checked out and idle in the sync pool, for /metrics."""
        pool: Any = self.engine.pool
        return {
            "checked_out": int(pool.checkedout()),
            "idle": int(pool.checkedin()),
            "overflow": max(int(pool.overflow()), 0),
        }


@contextmanager
def session_scope(database: Database) -> Iterator[Session]:
    """A session whose transaction the service functions own; always closed (background work:
    requests get theirs from the bounded dependency instead)."""
    session = database.sessionmaker()
    try:
        yield session
    finally:
        session.close()


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer.

    On SQLite this is ``BEGIN IMMEDIATE``: the database-wide write lock taken up
    front, SQLite's equivalent of PostgreSQL's ``SELECT … FOR UPDATE`` row lock, so
    two read-then-write transactions cannot interleave. Call it before the first
    statement of the transaction; on PostgreSQL it is a plain BEGIN (lock rows with
    ``with_for_update()``).
    """
    session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
