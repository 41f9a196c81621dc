"""What happened to the shop's order events: produced, delivered, applied, lost, in order.

Read from the shop's own tables (``outbox``, ``jobs``, ``processed_messages``), so a lesson
counts what a relay crash or a killed consumer did instead of trusting a log line.
Taught in 12_async_work_and_events.

>>> counts = lk.events.settle(svc)      # waits until nothing is in flight
>>> counts.lost, counts.duplicates_absorbed
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labkit._shopdb import shop_engine
from labkit.errors import BadArgument, LabkitError

if TYPE_CHECKING:
    import pandas as pd

    from labkit.databases import Database
    from labkit.service import LiveService

__all__ = [
    "EventCounts",
    "Ordering",
    "compare_transports",
    "counts",
    "ordering",
    "replay_unapplied",
    "settle",
]

_CONSUMER = "product_sales"  # the read models' consumer, as the worker records it
_IN_FLIGHT = ("queued", "running")


@dataclass(frozen=True)
class EventCounts:
    """Order events end to end (database queue): each figure read from the shop's tables."""

    produced: int  # outbox rows: events committed with their orders
    unpublished: int  # still waiting in the outbox for the relay
    deliveries: int  # event jobs run to the end (each duplicate counts)
    in_flight: int  # event jobs queued or running
    dead: int  # event jobs set aside after their last attempt
    applied: int  # distinct events the read models applied
    lost: int  # produced, no longer waiting anywhere, never applied
    duplicates_absorbed: int  # deliveries of an event applied before

    def __sub__(self, earlier: EventCounts) -> EventCounts:
        """What changed since `earlier`: the events of one experiment."""
        return EventCounts(**{k: v - getattr(earlier, k) for k, v in asdict(self).items()})

    def frame(self) -> pd.DataFrame:
        """One labelled row, for a table."""
        import pandas as pd

        return pd.DataFrame([asdict(self)])

    def _repr_html_(self) -> str:
        return str(self.frame().to_html(index=False))


def counts(target: LiveService | Database | str) -> EventCounts:
    """Count the shop's order events now (see `EventCounts`).

    Taught in 12_async_work_and_events.
    """
    one = "SELECT count(*) FROM "
    applied = (
        f"{one}processed_messages p JOIN outbox o ON o.id = p.message_id "
        f"WHERE p.consumer = '{_CONSUMER}'"
    )
    with shop_engine(target) as engine, engine.connect() as conn:

        def value(sql: str) -> int:
            return int(conn.scalar(sa.text(sql)) or 0)

        produced = value(f"{one}outbox")
        unpublished = value(f"{one}outbox WHERE published_at IS NULL")
        events = f"{one}jobs WHERE queue = 'events' AND "
        deliveries = value(events + "status = 'done'")
        in_flight = value(events + "status IN ('queued', 'running')")
        dead = value(events + "status = 'dead'")
        done = value(applied)
        waiting_ids = (
            "SELECT o.id FROM outbox o WHERE o.published_at IS NULL UNION "
            "SELECT j.message_id FROM jobs j WHERE j.queue = 'events' "
            "AND j.status IN ('queued', 'running', 'dead')"
        )
        lost = value(
            f"{one}outbox o WHERE o.id NOT IN ({waiting_ids}) AND NOT EXISTS (SELECT 1 FROM "
            f"processed_messages p WHERE p.consumer = '{_CONSUMER}' AND p.message_id = o.id)"
        )
        absorbed = value(
            f"{one}jobs j JOIN processed_messages p ON p.message_id = j.message_id "
            f"AND p.consumer = '{_CONSUMER}' WHERE j.queue = 'events' AND j.status = 'done'"
        )
    return EventCounts(
        produced=produced, unpublished=unpublished, deliveries=deliveries, in_flight=in_flight,
        dead=dead, applied=done, lost=lost, duplicates_absorbed=max(absorbed - done, 0),
    )  # fmt: skip


def settle(
    target: LiveService | Database | str, *, timeout: float = 30.0, quiet: float = 0.3
) -> EventCounts:
    """Wait until no event is unpublished or in flight (for `quiet` s), then count.

    Raises `LabkitError` with the last counts when that does not happen within `timeout`
    (are the workers running?).

    Taught in 12_async_work_and_events.
    """
    deadline = time.monotonic() + timeout
    calm_since: float | None = None
    while True:
        now = counts(target)
        if now.unpublished or now.in_flight:
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return now
        if time.monotonic() > deadline:
            raise LabkitError(
                f"order events still in flight after {timeout:.0f} s ({now}); "
                "is a LiveWorker running with the relay on?"
            )
        time.sleep(0.05)


def replay_unapplied(target: LiveService | Database | str) -> int:
    """Mark every published event the read models never applied as unpublished again.

    The relay then sends them once more (the consumer skips any it did apply): a repair
    only an outbox allows, since its rows outlive the publish. Returns how many.

    Taught in 12_async_work_and_events.
    """
    with shop_engine(target) as engine, engine.begin() as conn:
        replayed = conn.execute(
            sa.text(
                "UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM processed_messages p "
                f"WHERE p.consumer = '{_CONSUMER}' AND p.message_id = outbox.id) "
                "AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.message_id = outbox.id "
                "AND j.status IN ('queued', 'running', 'dead'))"
            )
        )
    return int(replayed.rowcount)


@dataclass(frozen=True)
class Ordering:
    """Whether each order's events were applied in the order they were produced."""

    keys: int  # orders with more than one applied event
    events: int
    out_of_order: int  # orders whose events were applied in another order

    def frame(self) -> pd.DataFrame:
        """One labelled row, for a table."""
        import pandas as pd

        return pd.DataFrame([asdict(self)])


def ordering(target: LiveService | Database | str) -> Ordering:
    """Compare, per order, the order events were produced in with the order they were applied.

    Production order is the outbox's ``created_at``; application order is the read models'
    ``processed_at`` (both to the microsecond).

    Taught in 12_async_work_and_events.
    """
    with shop_engine(target) as engine, engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT o.key, o.created_at, p.processed_at FROM outbox o "
                "JOIN processed_messages p ON p.message_id = o.id "
                f"AND p.consumer = '{_CONSUMER}'"
            )
        ).all()
    by_key: dict[str, list[tuple[Any, Any]]] = {}
    for key, produced_at, applied_at in rows:
        by_key.setdefault(key, []).append((str(produced_at), str(applied_at)))
    several = {k: v for k, v in by_key.items() if len(v) > 1}
    wrong = sum(
        1
        for events in several.values()
        if [a for _, a in sorted(events)] != sorted(a for _, a in events)
    )
    return Ordering(keys=len(several), events=sum(map(len, several.values())), out_of_order=wrong)


def compare_transports(
    database_url: str,
    *,
    messages: int = 300,
    rabbitmq_url: str | None = None,
    redis_url: str | None = None,
    timeout: float = 60.0,
) -> pd.DataFrame:
    """Messages per second and end-to-end latency P50/P99 per transport, in one table.

    The database queue (on `database_url`) always runs; RabbitMQ and Redis Streams run when
    their URL is given, and otherwise appear with the reason they were skipped. Each runs
    in a child process (`python -m sample_service.messaging.bench`) on a queue of its own,
    deleted afterwards.

    Taught in 12_async_work_and_events.
    """
    import pandas as pd

    if messages < 1:
        raise BadArgument(f"messages={messages}: measure at least one message")
    plans = {
        "database": ("database queue", database_url, ""),
        "rabbitmq": ("RabbitMQ", rabbitmq_url, "RABBITMQ_URL is not set"),
        "redis": ("Redis Streams", redis_url, "REDIS_URL is not set"),
    }
    argv = [sys.executable, "-m", "sample_service.messaging.bench", "--messages", str(messages)]
    argv += [arg for kind, (_, url, _) in plans.items() if url for arg in (f"--{kind}", url)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise LabkitError(f"the transport benchmark failed: {last}")
    results = json.loads(done.stdout)
    rows = []
    for kind, (label, url, why_not) in plans.items():
        result = results.get(kind, {})
        skipped = why_not if not url else result.get("error", "")
        figures = {} if "error" in result else result
        rows.append({"transport": label, **figures, "skipped": skipped})
    return pd.DataFrame(rows).set_index("transport")
