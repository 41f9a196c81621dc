"""Transaction experiments on a real database: lost updates, isolation anomalies, deadlocks, pools.

Each experiment makes its own small tables (``lab_stock``, ``lab_doctors``) and measures what
concurrent transactions really do. Taught in 06_transactions_and_idempotency.

>>> lk.transactions.lost_updates(db, "read-modify-write", trials=20)
>>> lk.transactions.write_skew(db, "SERIALIZABLE")
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from labkit.concurrency import all_at_once, retry, sqlstate
from labkit.databases import Database
from labkit.errors import LabkitError

__all__ = [
    "STRATEGIES",
    "deadlocks",
    "lost_updates",
    "pool_sizing",
    "read_twice",
    "second_writer",
    "timed",
    "write_skew",
]

Strategy = Literal["read-modify-write", "atomic update", "select for update", "version column"]
STRATEGIES: tuple[Strategy, ...] = (
    "read-modify-write",
    "atomic update",
    "select for update",
    "version column",
)
START_STOCK = 1_000
SERIALIZATION_FAILURE = "40001"
DEADLOCK = "40P01"

_meta = sa.MetaData()
stock = sa.Table(
    "lab_stock",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("stock", sa.Integer, sa.CheckConstraint("stock >= 0"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
doctors = sa.Table(
    "lab_doctors",
    _meta,
    sa.Column("name", sa.String(20), primary_key=True),
    sa.Column("on_call", sa.Boolean, nullable=False),
)


def _reset(db: Database) -> None:
    """Fresh experiment tables: two stock rows, two doctors on call."""
    _meta.drop_all(db.engine)
    _meta.create_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(
            stock.insert(), [{"id": i, "stock": START_STOCK, "version": 1} for i in (1, 2)]
        )
        conn.execute(doctors.insert(), [{"name": n, "on_call": True} for n in ("alice", "bob")])


def _require_postgres(db: Database, what: str) -> None:
    if db.kind != "postgres":
        raise LabkitError(
            f"{what} needs PostgreSQL (row locks and isolation levels), not {db.kind}; "
            'use lk.database("postgres")'
        )


def _stock(conn: Connection, *, lock: bool = False) -> tuple[int, int]:
    query = sa.select(stock.c.stock, stock.c.version).where(stock.c.id == 1)
    row = conn.execute(query.with_for_update() if lock else query).one()
    return int(row.stock), int(row.version)


def _take_one(engine: sa.Engine, strategy: Strategy, pause_s: float) -> int:
    """Take one unit of stock 1 the way ``strategy`` says; returns the retries it needed."""
    if strategy == "atomic update":
        with engine.begin() as conn:  # the check and the write are one statement
            conn.execute(stock.update().where(stock.c.id == 1, stock.c.stock >= 1)
                         .values(stock=stock.c.stock - 1))  # fmt: skip
        return 0
    retries = 0
    while True:
        with engine.begin() as conn:
            seen, version = _stock(conn, lock=strategy == "select for update")
            time.sleep(pause_s)  # the gap between read and write where another client runs
            update = stock.update().where(stock.c.id == 1).values(stock=seen - 1)
            if strategy == "version column":
                update = update.where(stock.c.version == version).values(version=version + 1)
            if conn.execute(update).rowcount == 1:
                return retries
        retries += 1  # the version moved under us: read again


def lost_updates(
    db: Database,
    strategy: Strategy,
    *,
    trials: int = 20,
    clients: int = 2,
    pause_s: float = 0.02,
) -> dict[str, Any]:
    """Run ``trials`` rounds of ``clients`` taking one unit each at once; count lost updates.

    A lost update is a decrement that happened (its client saw success) but left no trace in
    the stock: ``clients - (before - after)`` per round.

    Taught in 06_transactions_and_idempotency.
    """
    _require_postgres(db, "the lost-update experiment")
    if strategy not in STRATEGIES:
        raise LabkitError(f"unknown strategy {strategy!r}; use one of {STRATEGIES}")
    _reset(db)
    engine = sa.create_engine(db.url, pool_size=clients)
    lost = retries = 0
    try:
        for _ in range(trials):
            with engine.connect() as conn:
                before = _stock(conn)[0]
            retries += sum(all_at_once(clients, lambda e: _take_one(e, strategy, pause_s), engine))
            with engine.connect() as conn:
                lost += clients - (before - _stock(conn)[0])
    finally:
        engine.dispose()
    return {"strategy": strategy, "decrements": trials * clients, "lost": lost, "retries": retries}


def read_twice(db: Database, isolation: str) -> dict[str, Any]:
    """Read a row twice in one transaction while another commits a change in between.

    Taught in 06_transactions_and_idempotency.
    """
    _require_postgres(db, "isolation levels")
    _reset(db)
    with db.engine.connect() as reader, db.engine.connect() as writer:
        reader = reader.execution_options(isolation_level=isolation)
        with reader.begin():
            first = _stock(reader)[0]
            with writer.begin():
                writer.execute(stock.update().where(stock.c.id == 1).values(stock=first - 100))
            second = _stock(reader)[0]
    return {"isolation": isolation, "first read": first, "second read": second,
            "non-repeatable": first != second}  # fmt: skip


def _on_call(conn: Connection) -> int:
    return int(conn.scalar(sa.select(sa.func.count()).where(doctors.c.on_call)) or 0)


def _go_off_call(conn: Connection, name: str) -> bool:
    """The rule: a doctor may leave only while someone else stays on call."""
    if _on_call(conn) < 2:
        return False
    conn.execute(doctors.update().where(doctors.c.name == name).values(on_call=False))
    return True


def write_skew(db: Database, isolation: str, *, retry_failed: bool = False) -> dict[str, Any]:
    """Two doctors ask to leave at once; each transaction checks the rule, then writes.

    Interleaved step by step on two connections: both read, both write, both commit. Under
    ``REPEATABLE READ`` both commit and nobody is on call; under ``SERIALIZABLE`` the second
    commit fails with SQLSTATE 40001, and ``retry_failed`` runs it again with backoff.

    Taught in 06_transactions_and_idempotency.
    """
    _require_postgres(db, "write skew")
    _reset(db)
    outcome: dict[str, Any] = {"isolation": isolation}
    with db.engine.connect() as a, db.engine.connect() as b:
        a, b = (c.execution_options(isolation_level=isolation) for c in (a, b))
        ta, tb = a.begin(), b.begin()
        checks = [_on_call(a), _on_call(b)]
        outcome["alice leaves"] = _go_off_call(a, "alice")
        try:
            outcome["bob leaves"] = _go_off_call(b, "bob")
            ta.commit()
            tb.commit()
            outcome["bob's commit"] = "committed"
        except sa.exc.DBAPIError as error:
            outcome["bob's commit"] = sqlstate(error)
            tb.rollback()
            if ta.is_active:
                ta.commit()
            if retry_failed and sqlstate(error) == SERIALIZATION_FAILURE:
                again = retry(lambda: _leave(db, "bob", isolation), on=_is_serialization_failure)
                outcome["bob leaves"] = again.value
                outcome["bob's retry"] = f"{again.attempts} attempt(s)"
    with db.engine.connect() as conn:
        outcome["on call seen"] = checks
        outcome["on call after"] = _on_call(conn)
    return outcome


def _leave(db: Database, name: str, isolation: str) -> bool:
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level=isolation)
        with conn.begin():
            return _go_off_call(conn, name)


def _is_serialization_failure(error: BaseException) -> bool:
    return sqlstate(error) == SERIALIZATION_FAILURE


def _lock_both(
    engine: sa.Engine, order: tuple[int, int], barrier: threading.Barrier
) -> dict[str, Any]:
    """Lock the two stock rows in ``order``; the outcome and how long the transaction took."""
    start = time.perf_counter()
    first, second = (
        sa.select(stock.c.id).where(stock.c.id == row).with_for_update() for row in order
    )
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL deadlock_timeout = '50ms'")
            conn.execute(first)
            # Both hold their first row before either asks for its second; in a fixed order
            # the other is still queued for the first row, so the wait ends by timeout.
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=0.2)
            conn.execute(second)
        outcome = "committed"
    except sa.exc.DBAPIError as error:
        outcome = sqlstate(error) or type(error).__name__
    return {"order": order, "outcome": outcome, "ms": (time.perf_counter() - start) * 1000}


def deadlocks(db: Database, *, trials: int = 10, fixed_order: bool = False) -> list[dict[str, Any]]:
    """Two transactions lock the same two rows, in opposite orders or both in id order.

    Returns one row per transaction per trial: its lock order, outcome (``committed`` or the
    SQLSTATE, ``40P01`` for a deadlock victim) and milliseconds.

    Taught in 06_transactions_and_idempotency.
    """
    _require_postgres(db, "the deadlock experiment")
    _reset(db)
    orders = [(1, 2), (1, 2)] if fixed_order else [(1, 2), (2, 1)]
    engine = sa.create_engine(db.url, pool_size=2)
    rows = []
    try:
        for trial in range(trials):
            lock = partial(_lock_both, engine, barrier=threading.Barrier(2))
            with ThreadPoolExecutor(max_workers=2) as pool:
                results = list(pool.map(lock, orders))
            rows += [{"trial": trial + 1, **result} for result in results]
    finally:
        engine.dispose()
    return rows


def pool_sizing(
    db: Database,
    pool_size: int,
    *,
    workers: int = 16,
    tasks: int = 160,
    hold_s: float = 0.01,
) -> dict[str, Any]:
    """``workers`` threads run ``tasks`` queries of ``hold_s`` each through a pool of ``pool_size``.

    Returns throughput and the wait for a connection (checkout), mean and 95th percentile:
    a pool smaller than the concurrency makes requests queue for a connection.

    Taught in 06_transactions_and_idempotency.
    """
    _require_postgres(db, "the pool experiment")
    engine = sa.create_engine(db.url, pool_size=pool_size, max_overflow=0, pool_timeout=60)
    waits: list[float] = []
    lock = threading.Lock()

    def work(count: int) -> None:
        for _ in range(count):
            asked = time.perf_counter()
            with engine.connect() as conn:
                waited = time.perf_counter() - asked
                conn.exec_driver_sql(f"SELECT pg_sleep({hold_s})")
            with lock:
                waits.append(waited * 1000)

    _warm(engine, pool_size)
    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(work, [tasks // workers] * workers))
    finally:
        engine.dispose()
    elapsed = time.perf_counter() - start
    return {
        "pool size": pool_size,
        "queries per s": len(waits) / elapsed,
        "wait mean ms": statistics.fmean(waits),
        "wait p95 ms": statistics.quantiles(waits, n=20)[-1],
    }


def _warm(engine: sa.Engine, size: int) -> None:
    """Open the pool's connections up front so the first tasks do not pay for connecting."""
    conns = [engine.connect() for _ in range(size)]
    for conn in conns:
        conn.close()


def timed(operation: Callable[[], Any]) -> tuple[Any, float]:
    """The result of ``operation`` (or the exception it raised) and the seconds it took.

    Taught in 06_transactions_and_idempotency.
    """
    start = time.perf_counter()
    try:
        result: Any = operation()
    except Exception as error:
        result = error
    return result, time.perf_counter() - start


def second_writer(db: Database, *, busy_timeout_s: float = 0.2) -> dict[str, Any]:
    """SQLite's model: one writer at a time. A second ``BEGIN IMMEDIATE`` waits, then fails.

    The second connection waits up to its busy timeout for the first writer, then gets
    "database is locked"; once the first ends, it gets in.

    Taught in 06_transactions_and_idempotency.
    """
    if db.kind != "sqlite":
        raise LabkitError(f"second_writer shows SQLite's write lock; got a {db.kind} database")
    path = sa.make_url(db.url).database or ""
    first = sqlite3.connect(path, isolation_level=None)
    second = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_s)
    try:
        first.execute("BEGIN IMMEDIATE")
        refused, waited = timed(lambda: second.execute("BEGIN IMMEDIATE"))
        first.execute("COMMIT")
        admitted, _ = timed(lambda: second.execute("BEGIN IMMEDIATE"))
        second.execute("COMMIT")
    finally:
        first.close()
        second.close()
    return {"busy timeout s": busy_timeout_s, "waited s": waited, "while the first writes": str(refused),
            "after it commits": "admitted" if not isinstance(admitted, Exception) else str(admitted)}  # fmt: skip
