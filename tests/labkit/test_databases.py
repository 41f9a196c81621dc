"""`lk.database`: every kind answers SQL, names and `fresh` behave, bad input says what to do."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from labkit.databases import Database, database, seed
from labkit.errors import DatabaseSpecError, ServerUnreachable
from tests.conftest import unique_name


def _scalar(db: Database, sql: str) -> object:
    with db.engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar()


def test_every_kind_answers_a_query(any_database: Database) -> None:
    assert _scalar(any_database, "SELECT 40 + 2") == 42
    assert any_database.kind in ("sqlite", "postgres")


def test_duckdb_answers_a_query() -> None:
    db = database("duckdb", name=unique_name(), fresh=True)
    try:
        assert db.kind == "duckdb"
        assert _scalar(db, "SELECT 40 + 2") == 42
    finally:
        db.drop()


def test_fresh_drops_what_was_there(any_database: Database) -> None:
    with any_database.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE leftovers (id INTEGER)"))
    any_database.dispose()
    again = database(any_database.url, fresh=True)
    assert not sa.inspect(again.engine).has_table("leftovers")
    again.dispose()


def test_without_fresh_the_same_name_keeps_its_tables(any_database: Database) -> None:
    with any_database.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE kept (id INTEGER)"))
    again = database(any_database.url)
    assert sa.inspect(again.engine).has_table("kept")
    again.dispose()


def test_a_url_names_its_kind(tmp_path: Path) -> None:
    assert database(f"sqlite:///{tmp_path / 'a.db'}").kind == "sqlite"
    assert database(f"duckdb:///{tmp_path / 'b.duckdb'}").kind == "duckdb"


@pytest.mark.parametrize("spec", ["oracle://scott@localhost/shop", "not a url", "nosuchkind"])
def test_an_unknown_database_is_a_spec_error(spec: str) -> None:
    with pytest.raises(DatabaseSpecError):
        database(spec)


def test_a_database_name_that_is_not_an_identifier_is_refused() -> None:
    with pytest.raises(DatabaseSpecError):
        database("postgres", name='shop"; DROP DATABASE postgres; --')


def test_an_unreachable_postgres_url_is_a_server_unreachable_error() -> None:
    with pytest.raises(ServerUnreachable, match="cannot reach PostgreSQL"):
        database("postgresql://postgres@127.0.0.1:1/nothing")


# -- the embedded server ----------------------------------------------------------------------

_CLIENT = """
import json, os, sys, time
os.environ.pop("LABKIT_POSTGRES_URL", None)
from labkit.databases import database
db = database("postgres", name="probe")
print(json.dumps({"url": db.url}), flush=True)
time.sleep(float(sys.argv[1]))
"""


def _embedded_client(home: Path, seconds: float) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "LABKIT_HOME": str(home)}
    env.pop("LABKIT_POSTGRES_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", _CLIENT, str(seconds)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the client printed nothing"
    return proc, json.loads(line)["url"]


def _postmaster_pid(home: Path) -> int:
    return int((home / "postgres" / "data" / "postmaster.pid").read_text().split()[0])


def _wait_gone(pids: list[int], seconds: float = 20.0) -> list[int]:
    deadline = time.monotonic() + seconds
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [
            pid
            for pid in pids
            if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        ]
        time.sleep(0.2)
    return alive


@pytest.fixture
def embedded_home() -> Iterator[Path]:
    """A labkit home of the test's own, so its embedded server is the test's alone.

    Not under pytest's tmp_path: pytest keeps that tree private to root, and under root the
    server runs as another account that must be able to enter it.
    """
    home = Path(tempfile.mkdtemp(prefix="labkit-test-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_second_client_reuses_the_running_embedded_server(embedded_home: Path) -> None:
    first, first_url = _embedded_client(embedded_home, 30)
    second, second_url = _embedded_client(embedded_home, 0)
    second.wait(30)
    try:
        assert first_url == second_url
        assert psutil.pid_exists(_postmaster_pid(embedded_home))
    finally:
        first.kill()
        first.wait()


def test_embedded_server_stops_when_its_last_client_is_killed(embedded_home: Path) -> None:
    client, _ = _embedded_client(embedded_home, 60)
    state = json.loads((embedded_home / "postgres" / "server.json").read_text())
    client.send_signal(signal.SIGKILL)
    client.wait()
    assert _wait_gone([state["keeper_pid"], state["postmaster_pid"]]) == []


def test_a_postmaster_left_running_by_another_tool_is_stopped_and_replaced(
    embedded_home: Path,
) -> None:
    first, _ = _embedded_client(embedded_home, 0)
    state = json.loads((embedded_home / "postgres" / "server.json").read_text())
    first.wait(30)
    assert _wait_gone([state["keeper_pid"], state["postmaster_pid"]]) == []
    pgdata = embedded_home / "postgres" / "data"
    # pg_ctl daemonizes the postmaster, as pgserver does: nothing will stop it when we exit.
    from labkit._process import as_user
    from labkit.databases._embedded import run_as
    from labkit.databases._pgshared import bin_dir

    argv = [str(bin_dir() / "pg_ctl"), "-D", str(pgdata), "-w", "-o", f"-h '' -k {pgdata}"]
    argv += ["-l", str(pgdata / "orphan.log"), "start"]  # a pipe would be held open by the daemon
    subprocess.run(argv, **as_user(run_as(pgdata)), stdout=subprocess.DEVNULL, check=True)
    orphan = _postmaster_pid(embedded_home)
    client, _ = _embedded_client(embedded_home, 0)
    client.wait(30)
    assert client.returncode == 0
    assert _wait_gone([orphan], 5) == []
    assert (
        _wait_gone([_postmaster_pid(embedded_home)] if (pgdata / "postmaster.pid").exists() else [])
        == []
    )


def test_seeding_duckdb_gives_the_same_rows_as_sqlite() -> None:
    totals = []
    for kind in ("sqlite", "duckdb"):
        db = database(kind, name=unique_name(), fresh=True)
        try:
            report = seed(db, scale=300)
            with db.engine.connect() as conn:
                orders = conn.execute(
                    sa.text("SELECT count(*), sum(total_cents), max(created_at) FROM orders")
                ).one()
                items = conn.execute(sa.text("SELECT sum(quantity) FROM order_items")).scalar()
            totals.append((*orders[:2], str(orders[2])[:19], items, report.rows))
        finally:
            db.drop()
    assert report.rows["orders"] == 300
    assert totals[0] == totals[1]
