"""lk.concurrency and lk.transactions: barriers, retries, and each experiment's outcome."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from labkit import concurrency, transactions
from labkit.databases import Database
from labkit.errors import LabkitError
from tests.conftest import fresh_database


@pytest.fixture(params=["postgres-embedded", "postgres-server"], scope="module")
def pg(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A PostgreSQL database of its own (embedded, and the server when set)."""
    with fresh_database(request.param, "tx") as db:
        yield db


def test_all_at_once_releases_every_thread_together() -> None:
    arrived = threading.Barrier(8, timeout=5)  # breaks unless all 8 run at the same time
    assert concurrency.all_at_once(8, lambda n: arrived.wait() >= 0 and n, 3) == [3] * 8


class Flaky(Exception):
    sqlstate = "40001"


def test_retry_retries_only_what_it_is_told() -> None:
    calls: list[int] = []

    def twice_then_ok() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Flaky
        return "done"

    result = concurrency.retry(twice_then_ok, on=lambda e: isinstance(e, Flaky), backoff_s=0)
    assert (result.value, result.attempts, result.failures) == ("done", 3, ["40001", "40001"])
    with pytest.raises(ValueError):
        concurrency.retry(lambda: int("x"), on=lambda e: isinstance(e, Flaky))


def test_retry_gives_up_after_its_attempts() -> None:
    def always() -> None:
        raise Flaky

    with pytest.raises(LabkitError, match="failed 3 times"):
        concurrency.retry(always, on=lambda e: True, attempts=3, backoff_s=0)


def test_read_modify_write_loses_updates_and_the_fixes_lose_none(pg: Database) -> None:
    results = {s: transactions.lost_updates(pg, s, trials=4) for s in transactions.STRATEGIES}
    assert results["read-modify-write"]["lost"] > 0
    assert [results[s]["lost"] for s in transactions.STRATEGIES[1:]] == [0, 0, 0]
    assert results["version column"]["retries"] > 0


def test_isolation_levels_differ_in_what_they_let_through(pg: Database) -> None:
    assert transactions.read_twice(pg, "READ COMMITTED")["non-repeatable"] is True
    assert transactions.read_twice(pg, "REPEATABLE READ")["non-repeatable"] is False
    assert transactions.write_skew(pg, "REPEATABLE READ")["on call after"] == 0
    serial = transactions.write_skew(pg, "SERIALIZABLE", retry_failed=True)
    assert serial["bob's commit"] == "40001"
    assert (serial["bob leaves"], serial["on call after"]) == (False, 1)


def test_opposite_lock_orders_deadlock_and_a_fixed_order_does_not(pg: Database) -> None:
    opposite = transactions.deadlocks(pg, trials=2)
    assert sorted(row["outcome"] for row in opposite) == [
        "40P01",
        "40P01",
        "committed",
        "committed",
    ]
    fixed = transactions.deadlocks(pg, trials=2, fixed_order=True)
    assert {row["outcome"] for row in fixed} == {"committed"}


def test_pool_sizing_reports_throughput_and_waits(pg: Database) -> None:
    result = transactions.pool_sizing(pg, 2, workers=4, tasks=8, hold_s=0.001)
    assert result["pool size"] == 2 and result["queries per s"] > 0
    assert result["wait p95 ms"] >= result["wait mean ms"] >= 0


def test_postgres_experiments_refuse_sqlite() -> None:
    with fresh_database("sqlite") as lite, pytest.raises(LabkitError, match="PostgreSQL"):
        transactions.lost_updates(lite, "atomic update")


def test_a_second_sqlite_writer_waits_its_timeout_then_gets_in() -> None:
    with fresh_database("sqlite") as lite:
        with lite.engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        result = transactions.second_writer(lite, busy_timeout_s=0.05)
    assert result["while the first writes"] == "database is locked"
    assert result["after it commits"] == "admitted"
