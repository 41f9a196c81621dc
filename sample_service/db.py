"""Engines and sessions for the services, and a bare-driver path for the hottest read.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Select, create_engine, event, make_url, select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.orm import Session, sessionmaker

from sample_service.config import Settings


def _configure_sqlite(engine: Engine | Any) -> None:
    """WAL, foreign keys and a busy timeout; BEGIN issued by us so IMMEDIATE is possible."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event emit BEGIN
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """A sync engine with the per-backend settings the service relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(parsed, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)


async def _keep_session(_connection: Any) -> None:
    """asyncpg pool reset hook that does nothing (see ``Database._open_asyncpg``)."""


class FastRead:
    """One SELECT compiled once, run on a bare driver connection (see the module docstring).

    ``await read.one(product_id=7)`` → the row as a dict, or None. Listeners get the SQL
    text of each run (the lab's per-request query count).
    """

    def __init__(self, database: Database, stmt: Select[Any]) -> None:
        # asyncpg speaks $1 placeholders; SQLite's own dialect gives sqlite3's ?.
        dialect: Any = database.engine.dialect
        if database.kind == "postgresql":
            dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self._order = list(compiled.positiontup or ())
        # Values the dialect bound itself (SQLite's OFFSET 0 after a LIMIT placeholder).
        self._fixed = {name: b.value for name, b in compiled.binds.items() if not b.required}
        self._columns = [str(column.key) for column in stmt.selected_columns]
        self._database = database

    def _values(self, params: dict[str, Any]) -> list[Any]:
        """The parameters in placeholder order; listeners hear of the run."""
        for listener in self._database.read_listeners:
            listener(self.sql)
        return [params[name] if name in params else self._fixed[name] for name in self._order]

    async def one(self, **params: Any) -> dict[str, Any] | None:
        """The first row for these parameters, or None."""
        values = self._values(params)
        if self._database.kind == "sqlite":
            row = self._database.sqlite_connection().execute(self.sql, values).fetchone()
        else:
            pool = await self._database.asyncpg_pool()
            row = await pool.fetchrow(self.sql, *values)
        return dict(zip(self._columns, row, strict=True)) if row is not None else None

    async def all(self, **params: Any) -> list[dict[str, Any]]:
        """Every row for these parameters, each as a dict (a page of a listing)."""
        values = self._values(params)
        if self._database.kind == "sqlite":
            rows = self._database.sqlite_connection().execute(self.sql, values).fetchall()
        else:
            pool = await self._database.asyncpg_pool()
            rows = await pool.fetch(self.sql, *values)
        return [dict(zip(self._columns, row, strict=True)) for row in rows]


class Database:
    """The service's handle on its database: engines, a session factory, a readiness ping."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url
        self.kind = make_url(self.url).get_backend_name()
        self.engine = make_engine(
            self.url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.read_listeners: list[Callable[..., None]] = []
        self._pool_size = settings.db_pool_size
        self._sqlite: sqlite3.Connection | None = None
        self._asyncpg: asyncio.Task[Any] | None = None
        self._reads: dict[Select[Any], FastRead] = {}
        self._ping = FastRead(self, select(1))

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
        self.engine.dispose()

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
    """A session whose transaction the service functions own; always closed."""
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
