"""An order's events, read from the outbox: the log its status changes were committed with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from sample_service.models import Order, OutboxEvent

FINAL_STATUSES = ("shipped", "cancelled")  # once an order is in one, its stream ends


def order_events(
    engine: Engine, order_id: int, *, after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """The order's events in commit order after the event id ``after``; and whether it is over.

    "Over" means no event will follow: the order is shipped or cancelled (read before the
    events, so the event of that last step, when it has one, is among them).

    An unknown ``after`` (not this order's, or never sent) replays from the start: a client
    may see an event twice, never miss one. An order has a handful of events, so the resume
    point is found here rather than in SQL (SQLite's timestamps mix two text formats).
    """
    with engine.connect() as conn:
        status = conn.scalar(select(Order.status).where(Order.id == order_id))
        rows = conn.execute(
            select(OutboxEvent.id, OutboxEvent.topic, OutboxEvent.payload)
            .where(OutboxEvent.key == str(order_id), OutboxEvent.topic.like("order.%"))
            .order_by(OutboxEvent.created_at, OutboxEvent.id)
        ).all()
    ids = [row.id for row in rows]
    start = ids.index(after) + 1 if after in ids else 0
    events = [
        {
            "id": row.id,
            "event": row.topic,
            "data": {"order_id": order_id, "status": row.payload.get("status")},
        }
        for row in rows[start:]
    ]
    return events, status in FINAL_STATUSES
