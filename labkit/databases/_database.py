"""`database()`: a name or a URL becomes a `Database`, created on its server or disk when missing."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from labkit._paths import labkit_home
from labkit.errors import DatabaseSpecError, ServerStartError, ServerUnreachable

__all__ = ["Database", "Kind", "database"]

Kind = Literal["sqlite", "postgres", "duckdb"]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Database:
    """One database: its kind, its SQLAlchemy URL and (created on first use) an engine.

    Taught in 00_welcome.
    """

    kind: Kind
    url: str
    name: str

    @cached_property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine for this database, created once."""
        return sa.create_engine(self.url)

    def dispose(self) -> None:
        """Close pooled connections (before dropping the database, or at the end of a lesson)."""
        if "engine" in self.__dict__:
            self.engine.dispose()

    def drop(self) -> None:
        """Delete this database (its file, or the database on the server): clean-up for tests."""
        self.dispose()
        if self.kind == "postgres":
            _drop_postgres_database(make_url(self.url))
        else:
            _remove_file_database(Path(make_url(self.url).database or ""))

    def __repr__(self) -> str:
        return f"Database(kind={self.kind!r}, name={self.name!r}, url={_hide_password(self.url)!r})"


def database(spec: str = "sqlite", *, name: str = "shop", fresh: bool = False) -> Database:
    """Return the database `spec` names: "sqlite", "postgres", "duckdb" or a SQLAlchemy URL.

    Taught in 00_welcome, 02_schema_design and 03_indexes_and_explain.

    Args:
        spec: a kind, or a URL (`sqlite:///shop.db`, `postgresql://…`, `duckdb:///x.duckdb`).
        name: which database of that kind: a file name for SQLite and DuckDB, a database on the
            PostgreSQL server; created when missing. Ignored for a full URL.
        fresh: drop it first, so it starts empty.

    Example: `db = lk.database("postgres", name="lesson03", fresh=True)`
    """
    if not _NAME.match(name):
        raise DatabaseSpecError(
            f"database name {name!r} is not a plain identifier; use letters, digits and "
            "underscores, starting with a letter (e.g. name='lesson03')."
        )
    if spec == "sqlite":
        return _file_database("sqlite", name, fresh)
    if spec == "duckdb":
        return _file_database("duckdb", name, fresh)
    if spec == "postgres":
        return _postgres_database(_postgres_server_url(), name, fresh)
    return _from_url(spec, fresh)


def _file_database(kind: Kind, name: str, fresh: bool) -> Database:
    suffix = ".db" if kind == "sqlite" else ".duckdb"
    folder = labkit_home() / kind
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}{suffix}"
    if fresh:
        _remove_file_database(path)
    return Database(kind, f"{kind}:///{path}", name)


def _remove_file_database(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _from_url(spec: str, fresh: bool) -> Database:
    try:
        url = make_url(spec)
    except sa.exc.ArgumentError:
        raise DatabaseSpecError(
            f"{spec!r} is neither a database kind nor a URL; use 'sqlite', 'postgres', 'duckdb' "
            "or a SQLAlchemy URL such as postgresql://user@127.0.0.1:5432/shop."
        ) from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        server = url.set(drivername="postgresql+psycopg", database="postgres")
        return _postgres_database(
            server.render_as_string(hide_password=False), url.database or "postgres", fresh
        )
    if backend in ("sqlite", "duckdb") and url.database:
        path = Path(url.database).expanduser().resolve()
        if fresh:
            _remove_file_database(path)
        return Database(backend, f"{backend}:///{path}", path.stem)  # type: ignore[arg-type]
    raise DatabaseSpecError(
        f"labkit speaks SQLite, PostgreSQL and DuckDB; {backend!r} in {_hide_password(spec)!r} "
        "is none of them. Use a sqlite:///, postgresql:// or duckdb:/// URL."
    )


def _postgres_server_url() -> str:
    """The server to use: LABKIT_POSTGRES_URL when set, otherwise the embedded one."""
    configured = os.environ.get("LABKIT_POSTGRES_URL")
    if configured:
        url = make_url(configured)
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    try:
        from labkit.databases._embedded import embedded_postgres_url
    except ImportError as exc:  # pgserver or psycopg missing
        raise ServerStartError(
            f"no PostgreSQL: LABKIT_POSTGRES_URL is not set and the embedded server cannot load "
            f"({exc}). Run `pip install pgserver 'psycopg[binary]'` or set LABKIT_POSTGRES_URL."
        ) from None
    return embedded_postgres_url()


def _postgres_database(server_url: str, name: str, fresh: bool) -> Database:
    """Return database `name` on the server at `server_url`, creating (or recreating) it."""
    server: URL = make_url(server_url)
    with _admin_connection(server, name) as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
        if exists and fresh:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        if not exists or fresh:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    return Database("postgres", url, name)


def _drop_postgres_database(url: URL) -> None:
    name = url.database or ""
    with _admin_connection(url, name) as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def _admin_connection(server: URL, target: str) -> Iterator[sa.Connection]:
    """Connect for CREATE/DROP DATABASE: to the URL's database unless that is the target."""
    admin_db = server.database if server.database and server.database != target else "postgres"
    if admin_db == target:
        admin_db = "template1"
    admin = sa.create_engine(server.set(database=admin_db), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            yield conn
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ServerUnreachable(
            f"cannot reach PostgreSQL at {_hide_password(str(server))} ({reason}). Check that the "
            "server runs and LABKIT_POSTGRES_URL is right, or unset it to use the embedded server."
        ) from None
    finally:
        admin.dispose()


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url
