"""Labs that cannot collide: fresh=True never pulls a database from under another kernel, and a
killed kernel's service database is reclaimed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from labkit.databases import Database, database, postgres_database_names
from labkit.errors import LabkitError
from labkit.service import _service_prefix, reclaim_service_databases
from tests.conftest import fresh_database, open_database


@pytest.fixture(params=["postgres-embedded", "postgres-server"])
def postgres(request: pytest.FixtureRequest) -> Iterator[Database]:
    with fresh_database(request.param, "collide") as db:
        yield db


def test_fresh_refuses_while_another_process_holds_the_database(postgres: Database) -> None:
    other_kernel = sa.create_engine(postgres.url, connect_args={"application_name": "kernel-2"})
    try:
        with other_kernel.connect() as held:
            with pytest.raises(LabkitError, match="in use by 1 connection"):
                database(postgres.url, fresh=True)
            assert held.execute(sa.text("SELECT 1")).scalar_one() == 1  # still alive
    finally:
        other_kernel.dispose()
    assert database(postgres.url, fresh=True).name == postgres.name  # free again: recreated


def test_fresh_still_recreates_a_database_this_process_holds(postgres: Database) -> None:
    with postgres.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    again = database(postgres.url, fresh=True)  # our own pooled connection is not a holder
    with again.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("kind", ["postgres-embedded", "postgres-server"])
def test_a_killed_kernels_service_database_is_reclaimed(kind: str) -> None:
    prefix = _service_prefix()
    left = open_database(kind, f"{prefix}{_dead_pid()}_40001")
    alive = open_database(kind, f"{prefix}{os.getpid()}_40002")
    try:
        with pytest.MonkeyPatch.context() as patch:
            if kind == "postgres-embedded":
                patch.delenv("LABKIT_POSTGRES_URL", raising=False)
            dropped = reclaim_service_databases()
            names = postgres_database_names(prefix)
        assert left.name in dropped and left.name not in names
        assert alive.name in names and alive.name not in dropped
    finally:
        alive.drop()
        left.drop()


def test_fresh_refuses_a_sqlite_file_another_process_has_open(tmp_path: Path) -> None:
    path = tmp_path / "lesson.db"
    url = f"sqlite:///{path}"
    sqlite3.connect(path).close()  # the lesson's database exists
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(LabkitError, match=r"lesson\.db is open in .*pid"):
            database(url, fresh=True)
        assert path.exists()
    finally:
        holder.terminate()
        holder.wait(10)
    database(url, fresh=True)
    assert not path.exists()


HOLD_OPEN = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT 1")
print("open", flush=True)
time.sleep(60)
"""
