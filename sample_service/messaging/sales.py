"""Daily sales from the two other sources the sales report can read.

``stream``: the ``daily_sales`` table the event consumer keeps (fresh within the read
model's lag). ``batch``: ``daily_sales.parquet``, rebuilt by each batch ETL run (as fresh as
the last run). Both hold orders, units and revenue per day, cancelled orders taken out.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from sample_service.errors import Conflict
from sample_service.models import DailySales
from sample_service.services.reports import SalesLine


def from_stream(*, session: Session, date_from: dt.date, date_to: dt.date) -> list[SalesLine]:
    """Days in ``[date_from, date_to)`` of the read model the consumer keeps."""
    rows = session.execute(
        select(DailySales.day, DailySales.orders, DailySales.units, DailySales.revenue_cents)
        .where(DailySales.day >= date_from, DailySales.day < date_to, DailySales.orders > 0)
        .order_by(DailySales.day)
    )
    return [SalesLine(key=str(d), orders=n, units=u, revenue_cents=r) for d, n, u, r in rows]


def from_batch(*, lake: str | None, date_from: dt.date, date_to: dt.date) -> list[SalesLine]:
    """Days in ``[date_from, date_to)`` of the batch ETL's Parquet aggregate in ``lake``."""
    import duckdb  # only this source needs it

    path = Path(lake or "") / "daily_sales.parquet"
    if not lake or not path.is_file():
        raise Conflict(
            "no batch extract to read: run the ETL into SHOP_SALES_LAKE first "
            f"(lake={lake or 'not set'})"
        )
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT day, orders, units, revenue_cents FROM read_parquet(?) "
            "WHERE day >= ? AND day < ? ORDER BY day",
            [str(path), date_from, date_to],
        ).fetchall()
    return [
        SalesLine(key=str(d), orders=int(n), units=int(u), revenue_cents=int(r))
        for d, n, u, r in rows
    ]
