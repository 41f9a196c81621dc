"""Module 12 (async work and events): consumers that survive at-least-once, out-of-order delivery.

The consumer checks run the learner's handler as a broker would: on a real SQLite database, with
some messages delivered twice, a crash injected inside the handler's writes (a trigger aborts
them) followed by a redelivery, and events shuffled out of their order. The job client runs
against the live shop, whose worker starts only after a while.
"""

from __future__ import annotations

import itertools
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from labkit.check._registry import Failed, task
from labkit.check._shop import live_shop
from labkit.worker import LiveWorker

Message = dict[str, Any]
Handler = Callable[[sa.Engine, Message], Any]

SPEND_DDL = """
CREATE TABLE customer_spend (user_id INTEGER PRIMARY KEY, cents INTEGER NOT NULL);
CREATE TABLE processed_messages (message_id TEXT PRIMARY KEY);
"""
STATUS_DDL = """
CREATE TABLE order_status (
  order_id INTEGER PRIMARY KEY, status TEXT NOT NULL, version INTEGER NOT NULL
);
"""
# A crash inside the handler's transaction, armed for one message at a time: at "record" the
# processed id cannot be written, at "effect" the spend of that user cannot.
_CRASHES = """
CREATE TABLE check_crash (at TEXT NOT NULL, message_id TEXT, user_id INTEGER);
CREATE TRIGGER crash_at_record BEFORE INSERT ON processed_messages
WHEN EXISTS (SELECT 1 FROM check_crash WHERE at = 'record' AND message_id = NEW.message_id)
BEGIN SELECT RAISE(ABORT, 'the consumer crashed while recording the message id'); END;
CREATE TRIGGER crash_at_effect_insert BEFORE INSERT ON customer_spend
WHEN EXISTS (SELECT 1 FROM check_crash WHERE at = 'effect' AND user_id = NEW.user_id)
BEGIN SELECT RAISE(ABORT, 'the consumer crashed while applying the effect'); END;
CREATE TRIGGER crash_at_effect_update BEFORE UPDATE ON customer_spend
WHEN EXISTS (SELECT 1 FROM check_crash WHERE at = 'effect' AND user_id = NEW.user_id)
BEGIN SELECT RAISE(ABORT, 'the consumer crashed while applying the effect'); END;
"""


def payment_events(n: int = 40, *, seed: int = 12) -> list[Message]:
    """`n` payment events for 6 customers: captures, and refunds of some of them."""
    rng = random.Random(seed)
    events: list[Message] = []
    for _ in range(n):
        message_id = str(uuid.UUID(int=rng.getrandbits(128)))
        if events and rng.random() < 0.2:  # a refund of an earlier capture
            paid = rng.choice([e for e in events if e["type"] == "payment.captured"])
            events.append({**paid, "id": message_id, "type": "payment.refunded"})
            continue
        user, cents = rng.randint(1, 6), rng.randrange(100, 5_000, 5)
        events.append(
            {"id": message_id, "type": "payment.captured", "user_id": user, "amount_cents": cents}
        )
    return events


def status_events(orders: int = 12, *, seed: int = 12) -> list[Message]:
    """Each order's status changes, versioned 1, 2, …, in the order they happened."""
    rng = random.Random(seed)
    events: list[Message] = []
    for order_id in range(1, orders + 1):
        path = ["placed", "paid", "shipped", "delivered"][: rng.randint(2, 4)]
        if rng.random() < 0.25:
            path.append("cancelled")
        for version, status in enumerate(path, start=1):
            events.append(
                {
                    "id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "type": "order.status_changed",
                    "order_id": order_id,
                    "status": status,
                    "version": version,
                }
            )
    return events


@contextmanager
def _database(ddl: str, *, crashes: bool = False) -> Iterator[sa.Engine]:
    """A fresh SQLite file with `ddl` (and the crash triggers) applied, gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="labkit-check-") as folder:
        engine = sa.create_engine(f"sqlite:///{Path(folder) / 'consumer.db'}")
        with engine.begin() as conn:
            for statement in (ddl + _CRASHES if crashes else ddl).split(";\n"):
                if statement.strip():
                    conn.exec_driver_sql(statement)
        try:
            yield engine
        finally:
            engine.dispose()


def _deliver(handler: Handler, engine: sa.Engine, message: Message) -> None:
    try:
        handler(engine, dict(message))  # a copy: a handler that mutates it cannot fool the check
    except Exception as exc:
        raise Failed(
            f"the handler raised on a {message['type']} message ({type(exc).__name__}: "
            f"{str(exc)[:120]})"
        ) from None


def _spend(engine: sa.Engine) -> dict[int, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT user_id, cents FROM customer_spend")).all())


def _expected_spend(events: list[Message]) -> dict[int, int]:
    totals: Counter[int] = Counter()
    for event in events:
        totals[event["user_id"]] += _signed(event)
    return dict(totals)


def _with_duplicates(events: list[Message], rng: random.Random) -> list[Message]:
    """Every event, a third of them again a few places later (a redelivery)."""
    stream = list(events)
    for event in events:
        if rng.random() < 0.35:
            at = min(stream.index(event) + rng.randint(1, 6), len(stream))
            stream.insert(at, event)
    return stream


def _crash_then_redeliver(handler: Handler, engine: sa.Engine, message: Message, at: str) -> bool:
    """Deliver `message` with a crash armed at `at`, then again; True if the crash surfaced."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO check_crash VALUES (:at, :id, :user)"),
            {"at": at, "id": message["id"], "user": message["user_id"]},
        )
    try:
        handler(engine, dict(message))
        surfaced = False
    except Exception:
        surfaced = True  # the broker sees the failure and delivers the message again
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM check_crash"))
    if surfaced:
        _deliver(handler, engine, message)
    return surfaced


def _off(got: dict[int, int], expected: dict[int, int]) -> list[tuple[int, int, int]]:
    return [(u, got.get(u, 0), c) for u, c in sorted(expected.items()) if got.get(u, 0) != c]


@task(
    "12.1",
    "idempotent_spend_consumer",
    title="A spend consumer that counts each payment once, duplicates and crashes included",
    hints=(
        "Delivery is at least once: the check delivers some messages twice, and again after "
        "a crash inside your handler.",
        "Record each message id in processed_messages and skip an id you have already seen.",
        "Write the id and the effect in one transaction (one `with engine.begin()`), and let an "
        "error propagate: a crash then undoes both, and the redelivery applies the message once.",
    ),
    given={"ddl": SPEND_DDL, "messages": payment_events(8, seed=1)},
)
def idempotent_spend_consumer(handler: Handler) -> None:
    """Right totals after duplicates; after a crash at the record and one at the effect."""
    if not callable(handler):
        raise Failed("pass the function itself: lk.check('12.1', apply_payment)")
    events = payment_events()
    expected = _expected_spend(events)
    with _database(SPEND_DDL) as engine:
        for message in events:
            _deliver(handler, engine, message)
        if off := _off(_spend(engine), expected):
            user, got, want = off[0]
            raise Failed(
                f"with each of {len(events)} messages delivered once, customer {user} has {got} "
                f"cents, not {want}: a capture adds its amount, a refund takes it back"
            )
    with _database(SPEND_DDL) as engine:
        stream = _with_duplicates(events, random.Random(7))
        for message in stream:
            _deliver(handler, engine, message)
        if off := _off(_spend(engine), expected):
            user, got, want = off[0]
            raise Failed(
                f"after {len(stream)} deliveries of {len(events)} messages, customer {user} "
                f"has {got} cents, not {want}: duplicates were applied again"
            )
    for at, index in (("record", 4), ("effect", 9)):
        with _database(SPEND_DDL, crashes=True) as engine:
            for i, message in enumerate(events):
                if i == index:
                    surfaced = _crash_then_redeliver(handler, engine, message, at)
                else:
                    _deliver(handler, engine, message)
            if off := _off(_spend(engine), expected):
                user, got, want = off[0]
                what = "counted twice" if got - want == _signed(events[index]) else "lost"
                where = "recording its id" if at == "record" else "applying its effect"
                raise Failed(
                    f"a crash while {where}, then a redelivery: customer {user} has {got} cents,"
                    f" not {want} (the payment was {what})"
                    + ("" if surfaced else "; the handler hid the crash instead of raising")
                )


def _signed(event: Message) -> int:
    return int(event["amount_cents"]) * (1 if event["type"] == "payment.captured" else -1)


def _shuffled(events: list[Message], rng: random.Random) -> list[Message]:
    """The events out of order (each order's as well), a quarter of them delivered twice."""
    stream = list(events) + [e for e in events if rng.random() < 0.25]
    rng.shuffle(stream)
    return stream


@task(
    "12.2",
    "latest_status_wins",
    title="An order-status view that a late, older event cannot set back",
    hints=(
        "The check shuffles each order's events: 'paid' may arrive after 'shipped'.",
        "Every event carries the order's version (1, 2, …); keep the version you applied.",
        "Apply an event only when it is newer than the stored one: an upsert's DO UPDATE may "
        "carry a WHERE of its own, comparing the incoming (excluded) version with the row's.",
    ),
    given={"ddl": STATUS_DDL, "messages": status_events(2, seed=1)},
)
def latest_status_wins(handler: Handler) -> None:
    """After shuffled, duplicated deliveries each order shows its newest status."""
    if not callable(handler):
        raise Failed("pass the function itself: lk.check('12.2', apply_status)")
    events = status_events()
    newest = {e["order_id"]: e for e in events}  # each order's events are in version order
    with _database(STATUS_DDL) as engine:
        for message in _shuffled(events, random.Random(5)):
            _deliver(handler, engine, message)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT order_id, status, version FROM order_status"))
            got = {order: (status, version) for order, status, version in rows}
    for order, event in newest.items():
        if order not in got:
            raise Failed(f"order {order} has no row in order_status after all its events")
        status, version = got[order]
        if status != event["status"]:
            raise Failed(
                f"order {order} shows {status!r} (version {version}) though {event['status']!r} "
                f"(version {event['version']}) was delivered: an older event, arriving late, "
                "overwrote a newer one"
            )


# -- 12.3: a client of a 202 + job resource, against the live shop and a worker started late ---

_WORKER_LATE = 1.5  # seconds the job waits queued before a worker starts claiming
_POLITE = 0.8  # the shortest gap between two looks, as a share of the Retry-After asked for
_GIVE_UP = 30.0  # seconds the check waits for the function once the worker runs


def _run_with_late_worker(export: Callable[[httpx.Client], str], client: httpx.Client) -> str:
    """Run `export` in a thread and start a worker `_WORKER_LATE` s later, from this thread (a
    child process dies with the thread that started it); stop the worker afterwards."""
    worker = LiveWorker(live_shop(), queues=("exports",), relay=False)
    pool = ThreadPoolExecutor(1, thread_name_prefix="labkit-check")
    running = pool.submit(export, client)
    try:
        if not wait([running], timeout=_WORKER_LATE).done:  # no early return: start a worker
            worker.start()
            if not wait([running], timeout=_GIVE_UP).done:
                raise Failed(
                    f"the function had not returned {_GIVE_UP:.0f} s after a worker started"
                )
        return running.result()
    finally:
        worker.close()
        pool.shutdown(wait=False)


@task(
    "12.3",
    "export_client",
    title="A client that waits for a 202 job politely and brings back its result",
    hints=(
        "The export answers 202 at once; the work starts when a worker claims the job, which "
        "the check delays.",
        "Follow the Location header and read the job until its status is final; each answer "
        "that is not final carries Retry-After: wait that long before the next look.",
        "A job can end dead or cancelled as well as done: raise then, and fetch the CSV from "
        "the job's `links.result.href` only once it is done.",
    ),
)
def export_client(export: Callable[[httpx.Client], str]) -> None:
    """The whole CSV, every look at the job at least Retry-After after the answer before."""
    if not callable(export):
        raise Failed("pass the function itself: lk.check('12.3', export_orders)")
    polls: list[tuple[float, str | None]] = []

    def keep(response: httpx.Response) -> None:
        path = response.request.url.path  # the 202, then every look at the job
        if path == "/v1/exports/orders" or (path.startswith("/v1/jobs/") and "result" not in path):
            polls.append((time.monotonic(), response.headers.get("Retry-After")))

    service = live_shop()
    headers = dict(service.login("staff").headers)
    hooks = {"response": [keep]}
    with httpx.Client(base_url=service.url, headers=headers, event_hooks=hooks) as client:
        try:
            csv = _run_with_late_worker(export, client)
        except Failed:
            raise
        except Exception as exc:
            raise Failed(f"the function raised {type(exc).__name__}: {str(exc)[:160]}") from None
    assert service.db is not None  # live_shop() runs on a database of its own
    with service.db.engine.connect() as conn:
        orders = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
    rows = len(str(csv or "").strip().splitlines()) - 1
    if rows != orders:
        raise Failed(f"the CSV has {max(rows, 0)} order rows, the shop has {orders}")
    gaps = [(b - a, after) for (a, after), (b, _) in itertools.pairwise(polls) if after]
    hasty = [gap for gap, after in gaps if gap < _POLITE * float(after)]
    if hasty:
        raise Failed(
            f"{len(polls) - 1} looks at the job, {len(hasty)} of them sooner than the Retry-After "
            f"(the shortest gap {min(hasty) * 1000:.0f} ms)"
        )
