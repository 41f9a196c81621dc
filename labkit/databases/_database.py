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

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from labkit._paths import labkit_home
from labkit.errors import DatabaseInUse, DatabaseSpecError, ServerStartError, ServerUnreachable

__all__ = ["Database", "Kind", "database"]

Kind = Literal["sqlite", "postgres", "duckdb", "mysql"]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# How this process's own PostgreSQL sessions name themselves, to tell them from other kernels'.
_APPLICATION_NAME = f"labkit-{os.getpid()}"


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
        if self.kind == "postgres":
            return sa.create_engine(self.url, connect_args={"application_name": _APPLICATION_NAME})
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
        elif self.kind == "mysql":
            _mysql_admin(make_url(self.url), f"DROP DATABASE IF EXISTS `{self.name}`")
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
    if spec == "mysql":
        return _mysql_database(_mysql_server_url(), name, fresh)
    return _from_url(spec, fresh)


def _file_database(kind: Kind, name: str, fresh: bool) -> Database:
    suffix = ".db" if kind == "sqlite" else ".duckdb"
    folder = labkit_home() / kind
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}{suffix}"
    if fresh:
        _refuse_if_open(path)
        _remove_file_database(path)
    return Database(kind, f"{kind}:///{path}", name)


def _refuse_if_open(path: Path) -> None:
    """``fresh=True`` must not delete a file another process (a kernel, a service) has open."""
    if not path.exists():
        return
    holders = []
    for process in psutil.process_iter(["pid", "name"]):
        if process.pid == os.getpid():
            continue
        try:
            if any(Path(f.path) == path for f in process.open_files()):
                holders.append(f"{process.info['name']} (pid {process.pid})")
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    if holders:
        raise DatabaseInUse(
            f"{path.name} is open in {', '.join(holders)} (another kernel running this notebook, "
            "or a service); close that first, or pass another name=… for a database of your own."
        )


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
    if backend in ("mysql", "mariadb"):
        server = url.set(drivername="mysql+pymysql")
        return _mysql_database(server, url.database or "labkit", fresh)
    if backend in ("sqlite", "duckdb") and url.database:
        path = Path(url.database).expanduser().resolve()
        if fresh:
            _refuse_if_open(path)
            _remove_file_database(path)
        return Database(backend, f"{backend}:///{path}", path.stem)  # type: ignore[arg-type]
    raise DatabaseSpecError(
        f"labkit speaks SQLite, PostgreSQL, DuckDB and MySQL; {backend!r} in "
        f"{_hide_password(spec)!r} is none of them. Use a sqlite:///, postgresql://, duckdb:/// "
        "or mysql:// URL."
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


def _mysql_server_url() -> URL:
    """The MySQL/MariaDB server in LABKIT_MYSQL_URL: there is no embedded one."""
    configured = os.environ.get("LABKIT_MYSQL_URL")
    if not configured:
        raise ServerUnreachable(
            "no MySQL/MariaDB: LABKIT_MYSQL_URL is not set. Point it at a server, e.g. "
            "LABKIT_MYSQL_URL=mysql://root@127.0.0.1:3306/labkit (the database is created)."
        )
    return make_url(configured).set(drivername="mysql+pymysql")


def _mysql_admin(server: URL, statement: str) -> None:
    """Run CREATE/DROP DATABASE on the server, with a one-line error when it cannot be reached."""
    admin = sa.create_engine(server.set(database=None), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(statement)
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ServerUnreachable(
            f"cannot reach MySQL at {_hide_password(str(server))} ({reason}). Check that the "
            "server runs and LABKIT_MYSQL_URL is right."
        ) from None
    finally:
        admin.dispose()


def _mysql_database(server: URL, name: str, fresh: bool) -> Database:
    """Return database `name` on the MySQL/MariaDB server, creating (or recreating) it."""
    if fresh:
        _mysql_admin(server, f"DROP DATABASE IF EXISTS `{name}`")
    _mysql_admin(server, f"CREATE DATABASE IF NOT EXISTS `{name}`")
    url = server.set(database=name).render_as_string(hide_password=False)
    return Database("mysql", url, name)


def _postgres_database(server_url: str, name: str, fresh: bool) -> Database:
    """Return database `name` on the server at `server_url`, creating (or recreating) it."""
    server: URL = make_url(server_url)
    with _admin_connection(server, name) as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
        if exists and fresh:
            _refuse_if_held(conn, name)
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        if not exists or fresh:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    return Database("postgres", url, name)


def _refuse_if_held(conn: sa.Connection, name: str) -> None:
    """``fresh=True`` must not pull a database from under another kernel or service."""
    holders = conn.execute(
        sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :n "
            "AND pid <> pg_backend_pid() AND application_name <> :me"
        ),
        {"n": name, "me": _APPLICATION_NAME},
    ).scalar_one()
    if holders:
        raise DatabaseInUse(
            f"database {name!r} is in use by {holders} connection(s) of another process (another "
            "kernel running this notebook, or a service); close that first, or pass another "
            "name=… for a database of your own."
        )


def postgres_database_names(prefix: str) -> list[str]:
    """Names of the databases on labkit's PostgreSQL server that start with `prefix`."""
    with _admin_connection(make_url(_postgres_server_url()), "") as conn:
        rows = conn.execute(
            sa.text("SELECT datname FROM pg_database WHERE starts_with(datname, :p)"),
            {"p": prefix},
        )
        return sorted(str(row[0]) for row in rows)


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
