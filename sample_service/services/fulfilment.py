"""Fulfilment: staff move an order forward (placed → paid → shipped), one event each.

Each step writes its ``order.<status>`` event to the outbox in the same transaction, so
webhooks, the order's event stream and the read models all learn of it exactly when it
commits.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from sample_service.errors import Conflict
from sample_service.messaging.outbox import record_order_event
from sample_service.models import Order, User
from sample_service.services.orders import get_order
from sample_service.services.transactions import start_write

NEXT = {"placed": "paid", "paid": "shipped"}  # the only moves staff make


def advance(*, session: Session, order_id: int, user: User, status: str) -> Order:
    """Move the order to ``status`` if that is its next step; 409 otherwise."""
    try:
        start_write(session)
        order = get_order(session=session, order_id=order_id, user=user, for_update=True)
        if NEXT.get(order.status) != status:
            raise Conflict(f"order {order_id} is {order.status}; it cannot become {status}")
        now = dt.datetime.now(dt.UTC)
        order.status, order.updated_at = status, now
        event = record_order_event(session, kind=f"order.{status}", order=order)
        # Microseconds, not the database's default: on SQLite that keeps whole seconds, and a
        # step in the same second as the placement must still sort after it.
        event.created_at = now
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return order
