"""The orders export: a slow read run by a worker, reporting progress and honouring cancel."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, select

from sample_service.models import Order

COLUMNS = ("id", "user_id", "status", "total_cents", "created_at")


class Cancelled(Exception):
    """The job was cancelled (or its lease taken over) while it ran: stop, write nothing."""


def export_orders(
    engine: Engine, payload: dict[str, Any], *, report: Callable[[int], bool], page: int = 100
) -> str:
    """Every order (of ``payload["status"]`` when given) as CSV, read a page at a time.

    ``report(percent)`` is called after each page; it returns False once the job is
    cancelled, and the export stops there.
    """
    status = payload.get("status")
    where = [] if status is None else [Order.status == status]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    with engine.connect() as conn:
        total = int(conn.scalar(select(func.count()).select_from(Order).where(*where)) or 0)
    done, last_id = 0, 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(*(getattr(Order, c) for c in COLUMNS))
                .where(*where, Order.id > last_id)
                .order_by(Order.id)
                .limit(page)
            ).all()
        if not rows:
            return out.getvalue()
        writer.writerows(rows)
        done, last_id = done + len(rows), rows[-1][0]
        if not report(min(99, done * 100 // max(total, 1))):
            raise Cancelled(f"stopped after {done} of {total} orders")
