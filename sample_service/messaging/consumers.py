"""Event consumers: each applies a message once, however many times it is delivered.

Delivery is at least once (a relay or worker crash repeats a message), so a consumer
records the message id in ``processed_messages`` in the same transaction as its effect:
a second delivery finds the id and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite

from sample_service.messaging.queue import write_transaction
from sample_service.models import ProcessedMessage, ProductSales

SALES = "product_sales"  # the consumer name its processed ids are kept under


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (both SQLite and PostgreSQL speak it)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def apply_order_event(
    engine: Engine, *, message_id: str, kind: str, payload: dict[str, Any]
) -> bool:
    """Fold one order event into ``product_sales``; False when it was applied before.

    ``order.placed`` adds the items' units, ``order.cancelled`` takes them back.
    """
    sign = {"order.placed": 1, "order.cancelled": -1}.get(kind)
    if sign is None:
        raise ValueError(f"the sales read model does not take {kind!r} events")
    items = [(int(i["product_id"]), int(i["quantity"])) for i in payload["items"]]
    with write_transaction(engine) as conn:
        first = conn.execute(
            _insert(conn, ProcessedMessage)
            .values(consumer=SALES, message_id=message_id)
            .on_conflict_do_nothing()
            .returning(ProcessedMessage.message_id)  # a row only when this id is new
        ).first()
        if first is None:
            return False
        now = dt.datetime.now(dt.UTC)
        for product_id, quantity in sorted(items):  # a fixed order: two consumers cannot deadlock
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
    return True
