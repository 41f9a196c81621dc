"""Back up and restore a database with each engine's own tool, timed and sized.

PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore`` (pgserver's binaries, or the
ones on PATH when the server is newer); SQLite: the online backup API, which copies a
consistent snapshot while others keep writing; DuckDB: ``EXPORT DATABASE`` to Parquet
and ``IMPORT DATABASE``. `checksums` fingerprints every table so a restore can be proved
identical. Taught in 10_observability (the backup and restore drill).

>>> taken = lk.backup(db)
>>> db.drop()
>>> lk.restore(taken)                       # the same database, back
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from labkit._paths import labkit_home
from labkit.databases import Database, database
from labkit.errors import LabkitError

__all__ = ["Backup", "Restore", "backup", "checksums", "restore"]


@dataclass(frozen=True)
class Backup:
    """A finished backup: where it is, how big, how long it took, and what it was taken of."""

    db: Database
    path: Path
    bytes: int
    seconds: float
    taken_at: datetime

    def __repr__(self) -> str:
        return (
            f"<Backup {self.db.kind} {self.db.name!r} → {self.path.name}: "
            f"{self.bytes / 1024:.0f} KiB in {self.seconds:.2f} s>"
        )


@dataclass(frozen=True)
class Restore:
    """A finished restore: into which database, and how long it took."""

    db: Database
    seconds: float

    def __repr__(self) -> str:
        return f"<Restore {self.db.kind} {self.db.name!r} in {self.seconds:.2f} s>"


def backup(db: Database, path: str | Path | None = None) -> Backup:
    """Back `db` up to `path` (by default under the labkit folder) and time it.

    A file for PostgreSQL (custom format) and SQLite, a folder of Parquet files for DuckDB.

    Taught in 10_observability.
    """
    target = Path(path) if path is not None else _default_path(db)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove(target)
    db.dispose()
    taken_at = datetime.now(UTC)
    started = time.perf_counter()
    if db.kind == "sqlite":
        with _sqlite(db) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
    elif db.kind == "duckdb":
        _duckdb(db, f"EXPORT DATABASE '{target}' (FORMAT parquet)")
    else:
        _run(_pg_tool("pg_dump", db), "--format=custom", f"--file={target}", _libpq_url(db))
    seconds = time.perf_counter() - started
    return Backup(db, target, _size(target), seconds, taken_at)


def restore(taken: Backup, into: Database | None = None) -> Restore:
    """Restore a backup into `into` (by default the database it was taken of), replacing it.

    The database is recreated empty first, so a dropped or damaged one comes back whole.

    Taught in 10_observability.
    """
    target = into or taken.db
    if not taken.path.exists():
        raise LabkitError(f"the backup {taken.path} is gone; take a new one with lk.backup(db)")
    target.drop()
    started = time.perf_counter()
    if target.kind == "sqlite":
        with sqlite3.connect(taken.path) as source, _sqlite(target) as copy:
            source.backup(copy)
    elif target.kind == "duckdb":
        _duckdb(target, f"IMPORT DATABASE '{taken.path}'")
    else:
        database(target.url)  # CREATE DATABASE again
        _run(
            _pg_tool("pg_restore", target),
            "--no-owner",
            "--exit-on-error",
            f"--dbname={_libpq_url(target)}",
            str(taken.path),
        )
    return Restore(target, time.perf_counter() - started)


def checksums(db: Database) -> pd.DataFrame:
    """One row per table: its row count and a SHA-256 of its rows in primary-key order.

    Two databases with equal checksums hold the same rows; compare before and after a restore.

    Taught in 10_observability.
    """
    inspector = sa.inspect(db.engine)
    rows = []
    with db.engine.connect() as conn:
        for table in sorted(inspector.get_table_names()):
            if table == "alembic_version":
                continue
            # DuckDB's SQLAlchemy dialect cannot list keys; ORDER BY ALL sorts by every column.
            order = "ALL" if db.kind == "duckdb" else _key_order(inspector, table)
            digest = hashlib.sha256()
            count = 0
            for row in conn.exec_driver_sql(f'SELECT * FROM "{table}" ORDER BY {order}'):
                digest.update(repr(tuple(row)).encode())
                count += 1
            rows.append({"table": table, "rows": count, "sha256": digest.hexdigest()[:16]})
    db.dispose()
    return pd.DataFrame(rows)


def _key_order(inspector: sa.Inspector, table: str) -> str:
    """The primary key's columns, else every column: a stable order to hash rows in."""
    key = inspector.get_pk_constraint(table).get("constrained_columns") or [
        column["name"] for column in inspector.get_columns(table)
    ]
    return ", ".join(f'"{name}"' for name in key)


def _default_path(db: Database) -> Path:
    suffix = {"sqlite": ".db", "duckdb": "", "postgres": ".dump"}[db.kind]
    return labkit_home() / "backups" / f"{db.kind}-{db.name}{suffix}"


def _sqlite(db: Database) -> sqlite3.Connection:
    return sqlite3.connect(make_url(db.url).database or "")


def _duckdb(db: Database, statement: str) -> None:
    import duckdb

    with duckdb.connect(make_url(db.url).database or "") as conn:
        conn.execute(statement)


def _libpq_url(db: Database) -> str:
    """The URL as libpq tools take it (no SQLAlchemy driver suffix)."""
    return make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_tool(name: str, db: Database) -> str:
    """pgserver's tool, or the one on PATH, whichever is at least the server's major version."""
    with db.engine.connect() as conn:
        server_major = int(str(conn.exec_driver_sql("SHOW server_version_num").scalar())) // 10000
    db.dispose()
    candidates = [str(_pgserver_bin() / name), shutil.which(name)]
    for candidate in filter(None, candidates):
        if Path(candidate).exists() and _major(candidate) >= server_major:
            return candidate
    raise LabkitError(
        f"no {name} of PostgreSQL {server_major} or newer (tried {candidates}); install the "
        "server's client tools (e.g. apt install postgresql-client) and retry."
    )


def _pgserver_bin() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _major(tool: str) -> int:
    output = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"(\d+)(?:\.\d+)?", output.stdout)
    return int(found.group(1)) if found else 0


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        tool = Path(argv[0]).name
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise LabkitError(f"{tool} failed with exit code {result.returncode}: {detail}")


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return path.stat().st_size


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
