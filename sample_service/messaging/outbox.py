"""The transactional outbox: events committed with the change, published by a relay.

Writing an event to a broker right after ``COMMIT`` loses it when the process dies between
the two. Here the event is a row in the same transaction as the order, so it exists exactly
when the order does; the relay publishes unpublished rows and marks them. A crash between
publishing and marking publishes a row twice, so consumers must be idempotent
(``consumers.py`` records each applied message id).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, select, update
from sqlalchemy.orm import Session

from sample_service.messaging.queue import EVENTS, write_transaction
from sample_service.models import Order, OutboxEvent

#: ``publish(queue=, kind=, payload=, message_id=, key=)``: the database queue's, or a broker's.
Publish = Callable[..., Any]


def record_order_event(session: Session, *, kind: str, order: Order) -> OutboxEvent:
    """Add an event about ``order`` to the caller's transaction (it commits with the order)."""
    event = OutboxEvent(
        id=str(uuid.uuid4()),
        topic=kind,
        key=str(order.id),
        payload={
            "order_id": order.id,
            "status": order.status,
            "placed_at": order.created_at.isoformat() if order.created_at else None,
            "items": [
                {
                    "product_id": i.product_id,
                    "quantity": i.quantity,
                    "unit_price_cents": i.unit_price_cents,
                }
                for i in order.items
            ],
        },
        # Set here, to the microsecond: the relay publishes in this order, and SQLite's
        # CURRENT_TIMESTAMP has whole seconds (an order placed and cancelled within one
        # second would tie).
        created_at=dt.datetime.now(dt.UTC),
    )
    session.add(event)
    return event


_Event = tuple[str, str, str, dict[str, Any], dt.datetime]  # id, topic, key, payload, created


def _unpublished(batch: int) -> Select[_Event]:
    """The oldest unpublished events, locked so a second relay skips them (PostgreSQL)."""
    return (
        select(
            OutboxEvent.id,
            OutboxEvent.topic,
            OutboxEvent.key,
            OutboxEvent.payload,
            OutboxEvent.created_at,
        )
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.created_at, OutboxEvent.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )


def _next_batch(conn: Connection, batch: int) -> list[Row[_Event]]:
    """The next events to publish: the oldest unpublished, less any that must wait.

    An event waits while an older event of its key is unpublished outside this batch: with
    ``SKIP LOCKED``, that one is held by another relay, and publishing this one now would
    put an order's ``order.cancelled`` ahead of its ``order.placed``.
    """
    events = conn.execute(_unpublished(batch)).all()
    if not events:
        return events
    keys, ids = {event.key for event in events}, [event.id for event in events]
    held = conn.execute(
        select(OutboxEvent.key, OutboxEvent.created_at, OutboxEvent.id).where(
            OutboxEvent.key.in_(keys),
            OutboxEvent.published_at.is_(None),
            OutboxEvent.id.not_in(ids),
        )
    ).all()
    oldest_held: dict[str, tuple[Any, str]] = {}
    for key, created_at, event_id in held:
        oldest_held[key] = min(oldest_held.get(key, (created_at, event_id)), (created_at, event_id))
    return [
        event
        for event in events
        if event.key not in oldest_held or (event.created_at, event.id) < oldest_held[event.key]
    ]


def _publish(events: Sequence[Row[_Event]], publish: Publish) -> None:
    for event in events:
        publish(
            queue=EVENTS,
            kind=event.topic,
            payload=event.payload,
            message_id=event.id,
            key=event.key,  # one order's events in order
        )


def _mark(conn: Connection, events: Sequence[Row[_Event]]) -> None:
    if events:
        conn.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_([event.id for event in events]))
            .values(published_at=dt.datetime.now(dt.UTC))
        )


def relay_once(
    engine: Engine, publish: Publish, *, batch: int = 100, mark_first: bool = False
) -> int:
    """Publish up to ``batch`` unpublished events in order, then mark them; how many went.

    If publishing fails or the process dies, nothing is marked and the same events go
    again on the next run. On PostgreSQL the rows stay locked while they are published
    (``SKIP LOCKED`` lets a second relay take the next ones). SQLite has a single writer:
    holding its lock while publishing into the same file would wait on itself, so there
    the events are read, published, then marked in a transaction of their own.

    ``mark_first`` is the lesson's broken relay (the ``relay_without_outbox`` switch): it
    commits the rows as sent, then publishes, as any "commit, then send" dual write does.
    A crash between the two loses every event not yet sent.
    """
    if mark_first:
        with write_transaction(engine) as conn:
            events = _next_batch(conn, batch)
            _mark(conn, events)
        _publish(events, publish)
        return len(events)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            events = _next_batch(conn, batch)
        _publish(events, publish)
        with write_transaction(engine) as conn:
            _mark(conn, events)
        return len(events)
    with write_transaction(engine) as conn:
        events = _next_batch(conn, batch)
        _publish(events, publish)
        _mark(conn, events)
    return len(events)
