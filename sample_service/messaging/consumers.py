"""Event consumers: each applies a message once, however many times it is delivered.

Delivery is at least once (a relay or worker crash repeats a message), so a consumer
records the message id in ``processed_messages`` in the same transaction as its effect:
a second delivery finds the id and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from sample_service.messaging.queue import write_transaction
from sample_service.models import DailySales, OutboxEvent, ProcessedMessage, ProductSales
from sample_service.schemas.catalog import as_utc

SALES = "product_sales"  # the consumer name its processed ids are kept under


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (both SQLite and PostgreSQL speak it)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _day(payload: dict[str, Any]) -> dt.date:
    """The UTC day the order was placed (the sales report's day)."""
    return dt.datetime.fromisoformat(payload["placed_at"]).astimezone(dt.UTC).date()


def apply_order_event(
    engine: Engine,
    *,
    message_id: str,
    kind: str,
    payload: dict[str, Any],
    hold_seconds: float = 0.0,
) -> bool:
    """Fold one order event into ``product_sales`` and ``daily_sales``; False when it was
    applied before.

    ``order.placed`` adds the order, its units and revenue; ``order.cancelled`` takes them
    back. ``hold_seconds`` is work done before the write (the ``event_handle_ms`` switch):
    a consumer killed meanwhile has taken the message and applied nothing.
    """
    sign = {"order.placed": 1, "order.cancelled": -1}.get(kind)
    if sign is None:
        raise ValueError(f"the sales read models do not take {kind!r} events")
    items = [
        (int(i["product_id"]), int(i["quantity"]), int(i.get("unit_price_cents", 0)))
        for i in payload["items"]
    ]
    day = _day(payload)
    time.sleep(hold_seconds)  # work before the write: consumers overlap here, even on SQLite
    with write_transaction(engine) as conn:
        now = dt.datetime.now(dt.UTC)  # to the microsecond: the order messages were applied in
        first = conn.execute(
            _insert(conn, ProcessedMessage)
            .values(consumer=SALES, message_id=message_id, processed_at=now)
            .on_conflict_do_nothing()
            .returning(ProcessedMessage.message_id)  # a row only when this id is new
        ).first()
        if first is None:
            return False
        for product_id, quantity, _ in sorted(items):  # a fixed order: no deadlock between two
            upsert = _insert(conn, ProductSales).values(
                product_id=product_id, orders=sign, units=sign * quantity, updated_at=now
            )
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[ProductSales.product_id],
                    set_={
                        "orders": ProductSales.orders + sign,
                        "units": ProductSales.units + sign * quantity,
                        "updated_at": now,
                    },
                )
            )
        units = sign * sum(q for _, q, _ in items)
        revenue = sign * sum(q * price for _, q, price in items)
        daily = _insert(conn, DailySales).values(
            day=day, orders=sign, units=units, revenue_cents=revenue, updated_at=now
        )
        conn.execute(
            daily.on_conflict_do_update(
                index_elements=[DailySales.day],
                set_={
                    "orders": DailySales.orders + sign,
                    "units": DailySales.units + units,
                    "revenue_cents": DailySales.revenue_cents + revenue,
                    "updated_at": now,
                },
            )
        )
    return True


def read_model_lag(conn: Connection) -> tuple[int, float]:
    """Events newer than the newest one the sales read models applied, and the oldest one's
    age in seconds: how far the read models trail the orders, as a consumer's offset does.

    Exposed in ``/metrics``. Like a broker's consumer lag it sees a backlog, not a hole: an
    event lost on its way (a relay that committed, then died before publishing) is older
    than what was applied since, and counts nowhere.
    """
    applied_up_to = (
        select(func.max(OutboxEvent.created_at))
        .join(ProcessedMessage, ProcessedMessage.message_id == OutboxEvent.id)
        .where(ProcessedMessage.consumer == SALES)
        .scalar_subquery()
    )
    newer = or_(applied_up_to.is_(None), OutboxEvent.created_at > applied_up_to)
    pending, oldest = conn.execute(
        select(func.count(), func.min(OutboxEvent.created_at)).where(newer)
    ).one()
    if oldest is None:
        return int(pending), 0.0
    return int(pending), max((dt.datetime.now(dt.UTC) - as_utc(oldest)).total_seconds(), 0.0)
