"""Module 03 (indexes and EXPLAIN): an index that serves a filter and a sort; keyset paging."""

from __future__ import annotations

import re

import sqlalchemy as sa

from labkit.check._registry import Failed, task
from labkit.check._shop import shop
from labkit.errors import LabkitError
from labkit.plans import try_index

RECENT_ORDERS = (
    "SELECT id, total_cents, created_at FROM orders "
    "WHERE user_id = :user_id AND status = :status ORDER BY created_at DESC LIMIT 20"
)
_RECENT_PARAMS = {"user_id": 3, "status": "placed"}
_CREATE_INDEX = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\b", re.I)


@task(
    "03.1",
    "recent_orders_index",
    title="One index that serves the filter and the sort",
    given={"query": RECENT_ORDERS, "params": _RECENT_PARAMS},
    hints=(
        "Read the plan of the query first: which step costs, the search or the sort?",
        "An index can hand rows over already ordered when the sort column follows the "
        "equality columns in it.",
        "Put both equality columns first, then the column the query sorts on.",
    ),
)
def recent_orders_index(ddl: str) -> None:
    """The planner uses the new index and the plan has no sort step left."""
    if not isinstance(ddl, str) or not _CREATE_INDEX.match(ddl):
        raise Failed("the answer must be one `CREATE INDEX name ON orders (...)` statement")
    try:
        trial = try_index(shop(), ddl, RECENT_ORDERS, _RECENT_PARAMS)
    except (LabkitError, sa.exc.SQLAlchemyError) as exc:
        raise Failed(f"the index could not be tried: {str(exc).splitlines()[0]}") from None
    if not trial.used:
        raise Failed(f"the planner did not use {trial.name}: {trial.after.text().splitlines()[0]}")
    if trial.after.sorts():
        raise Failed(f"{trial.name} is used, but the plan still sorts: {trial.after.sorts()[0]}")


_PAGE = 20
_PAGES = 6
_REFERENCE = "SELECT id, price_cents FROM products ORDER BY price_cents, id"


@task(
    "03.2",
    "products_keyset_page",
    title="Keyset pagination by price that never repeats or skips",
    hints=(
        "A keyset page starts after the last row of the previous page; it never counts rows.",
        "Prices repeat, so order by (price_cents, id) and compare the pair.",
        "SQLite and PostgreSQL compare rows as a whole: (a, b) > (x, y).",
    ),
)
def products_keyset_page(sql: str) -> None:
    """Walking pages with :after_price/:after_id gives exactly the rows of the full ordering."""
    if not isinstance(sql, str) or ":after_price" not in sql or ":after_id" not in sql:
        raise Failed("the query must take the previous page's last row as :after_price, :after_id")
    if re.search(r"\bOFFSET\b", sql, re.I):
        raise Failed("the query uses OFFSET; a keyset page needs no row counting")
    db = shop()
    with db.engine.connect() as conn:
        expected = [tuple(row) for row in conn.execute(sa.text(_REFERENCE))][: _PAGE * _PAGES]
        seen: list[tuple[int, int]] = []
        after = {"after_price": -1, "after_id": 0}
        for page in range(1, _PAGES + 1):
            try:
                rows = [tuple(row[:2]) for row in conn.execute(sa.text(sql), after)]
            except sa.exc.SQLAlchemyError as exc:
                raise Failed(f"page {page} failed: {str(exc).splitlines()[0]}") from None
            if len(rows) != _PAGE:
                raise Failed(f"page {page} has {len(rows)} rows; every page should have {_PAGE}")
            seen += rows
            after = {"after_id": rows[-1][0], "after_price": rows[-1][1]}
    if seen != expected:
        first = next(i for i, (a, b) in enumerate(zip(seen, expected, strict=True)) if a != b)
        raise Failed(
            f"row {first + 1} of the walk is {seen[first]} but the ordering has {expected[first]} "
            "there (select id, price_cents in that order)"
        )
