"""Module 05 (ORM and N+1): an order listing whose query count does not grow with the orders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labkit.check._registry import Failed, task
from labkit.check._shop import shop
from labkit.querylog import count_queries

_MOST_ORDERS = "SELECT user_id FROM orders GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1"
_FEWEST_ORDERS = "SELECT user_id FROM orders GROUP BY user_id ORDER BY count(*), user_id LIMIT 1"
_EXPECTED = """
SELECT o.id, p.name FROM orders o
JOIN order_items i ON i.order_id = o.id JOIN products p ON p.id = i.product_id
WHERE o.user_id = :user_id ORDER BY o.created_at DESC, o.id DESC, i.id
"""
_MAX_STATEMENTS = 3


def _expected(conn: sa.Connection, user_id: int) -> list[dict[str, Any]]:
    """The right answer, from one plain SQL join."""
    summaries: dict[int, list[str]] = {}
    for order_id, name in conn.execute(sa.text(_EXPECTED), {"user_id": user_id}):
        summaries.setdefault(order_id, []).append(name)
    return [{"order_id": k, "products": v} for k, v in summaries.items()]


@task(
    "05.1",
    "order_summaries",
    title="Order summaries in a constant number of queries",
    hints=(
        "Count the statements with lk.count_queries for a user with 1 order and one with many.",
        "Each `order.items` and `item.product` touched in a loop is a query of its own.",
        "Ask for the related rows up front: sqlalchemy.orm.selectinload, chained for each hop.",
    ),
)
def order_summaries(function: Callable[[Session, int], list[dict[str, Any]]]) -> None:
    """Right summaries for two users, with the same small number of statements for both."""
    if not callable(function):
        raise Failed("pass the function itself: lk.check.order_summaries(order_summaries)")
    db = shop()
    with db.engine.connect() as conn:
        users = [conn.execute(sa.text(sql)).scalar_one() for sql in (_MOST_ORDERS, _FEWEST_ORDERS)]
        expected = {user: _expected(conn, user) for user in users}
    counts = {}
    for user in users:
        with Session(db.engine) as session, count_queries(session) as log:
            got = function(session, user)
        if got != expected[user]:
            raise Failed(
                f"for user {user} the summaries differ from the orders in the database "
                f"(first expected {expected[user][:1]}, got {list(got)[:1]})"
            )
        counts[user] = log.count
    many, few = counts.values()
    orders = len(expected[users[0]])
    if many != few or many > _MAX_STATEMENTS:
        raise Failed(
            f"{many} statements for a user with {orders} orders, {few} for one with "
            f"{len(expected[users[1]])}: the count should not grow with the orders "
            f"(at most {_MAX_STATEMENTS})"
        )
