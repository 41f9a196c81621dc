"""`explain` and `compare`: the two calls a lesson makes on plans."""

from __future__ import annotations

from typing import Any

from labkit.plans._engines import explain_plan, fastest_plan
from labkit.plans._model import Plan, PlanComparison


def explain(
    db: Any,
    sql: Any,
    params: dict[str, Any] | None = None,
    analyze: bool = True,
    *,
    repeat: int = 1,
) -> Plan:
    """Run EXPLAIN for `sql` and return the plan as one engine-neutral tree.

    `db` is a labkit Database or a SQLAlchemy Engine; `sql` is text with `:name`
    placeholders or a SQLAlchemy statement. With `analyze=True` the query runs:
    PostgreSQL and DuckDB report time and rows per operator, SQLite reports the
    plan shape and the measured time of the whole query. Writes are rolled back.
    With `repeat=n` the query runs n times and the fastest plan is kept, so a
    cold cache on the first run does not decide a timing.

    >>> plan = lk.explain(db, "SELECT * FROM products WHERE category_id = :c", {"c": 3})
    >>> plan.uses_index(), plan.full_scans(), plan.hotspot()
    """
    if analyze and repeat > 1:
        return fastest_plan(db, sql, params, repeat)
    return explain_plan(db, sql, params, analyze)


def compare(before: Plan, after: Plan) -> PlanComparison:
    """Put two plans side by side with the time ratio and what changed.

    >>> lk.compare(lk.explain(db, q), lk.explain(db, q_with_index))
    """
    return PlanComparison(before, after)
