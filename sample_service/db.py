"""Engines and sessions: one sync engine for the services, one async engine for hot reads.

Why two: business operations (orders, auth, writes) are sync ``Session`` code run in
FastAPI's threadpool, the clearest form for transactions and what tests and notebooks
call directly. The hottest read (``GET /v1/products/{id}``) is an ``async def`` with a
lean Core query on the async driver (aiosqlite / asyncpg): the threadpool hop and ORM
unit of work cost more than the primary-key lookup itself (measured in ``labkit bench``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from sample_service.config import Settings

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def async_url(url: str | URL) -> URL:
    """The async-driver twin of a sync SQLAlchemy URL (sqlite → aiosqlite, postgresql → asyncpg)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        msg = f"no async driver for database URL {parsed.render_as_string(hide_password=True)!r}"
        raise ValueError(msg)
    return parsed.set(drivername=_ASYNC_DRIVERS[backend])


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


def make_async_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine on the same database, for the hot read path."""
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(parsed, pool_size=pool_size, connect_args={"timeout": 30})
        _configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(parsed, pool_size=pool_size, pool_pre_ping=True)


class Database:
    """The service's handle on its database: engines, a session factory, a readiness ping."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url
        self.kind = make_url(self.url).get_backend_name()
        self.engine = make_engine(
            self.url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        self.async_engine = make_async_engine(self.url, pool_size=settings.db_pool_size)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"<Database kind={self.kind!r} url={make_url(self.url).render_as_string()!r}>"

    async def ping(self) -> None:
        """Raise when the database cannot answer ``SELECT 1``."""
        async with self.async_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection (graceful shutdown)."""
        await self.async_engine.dispose()
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
