"""The sales report: an aggregate over orders and items (the OLAP query of the course)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from sample_service.errors import BadRequest
from sample_service.models import Category, Order, OrderItem, Product

GroupBy = Literal["day", "category"]


@dataclass(frozen=True)
class SalesLine:
    """Totals of one group."""

    key: str
    orders: int
    units: int
    revenue_cents: int


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def sales_report(
    *, session: Session, date_from: dt.date, date_to: dt.date, group_by: GroupBy
) -> list[SalesLine]:
    """Revenue, units and orders of non-cancelled orders placed in ``[date_from, date_to)``."""
    if date_from >= date_to:
        # A rule across two parameters, which the schema cannot state: 400, not 422.
        raise BadRequest(f"`from` ({date_from}) must be before `to` ({date_to})")
    key = func.date(Order.created_at) if group_by == "day" else Category.slug
    stmt = (
        select(
            key.label("key"),
            func.count(distinct(Order.id)),
            func.sum(OrderItem.quantity),
            func.sum(OrderItem.quantity * OrderItem.unit_price_cents),
        )
        .join(OrderItem, OrderItem.order_id == Order.id)
        .where(
            Order.status != "cancelled",
            Order.created_at >= _start_of(date_from),
            Order.created_at < _start_of(date_to),
        )
        .group_by(key)
        .order_by(key)
    )
    if group_by == "category":
        stmt = stmt.join(Product, Product.id == OrderItem.product_id).join(
            Category, Category.id == Product.category_id
        )
    return [
        SalesLine(key=str(k), orders=int(n), units=int(u), revenue_cents=int(r))
        for k, n, u, r in session.execute(stmt)
    ]
