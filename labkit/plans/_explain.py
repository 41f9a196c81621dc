"""`explain` and `compare`: the two calls a lesson makes on plans."""

from __future__ import annotations

from labkit.plans._engines import explain_plan, fastest_plan
from labkit.plans._model import Plan, PlanComparison
from labkit.plans._types import DatabaseLike, Params, QueryLike


def explain(
    db: DatabaseLike,
    sql: QueryLike,
    params: Params = None,
    analyze: bool = True,
    *,
    repeat: int = 1,
) -> Plan:
    """Run EXPLAIN for `sql` and return the plan as one engine-neutral tree.

    `db` is a labkit Database or a SQLAlchemy Engine (SQLite, PostgreSQL, DuckDB or
    MySQL/MariaDB); `sql` is text with `:name` placeholders, bound as SQLAlchemy binds
    them (the server infers their types), or a SQLAlchemy statement. With
    `analyze=True` the query runs: PostgreSQL, DuckDB and MariaDB report time and rows
    per operator, SQLite and MySQL the plan shape and the measured time of the whole
    query. Writes are rolled back. With `repeat=n` the query runs n times and the
    fastest plan is kept, so a cold cache on the first run does not decide a timing.
    Taught in notebooks/03_indexes_and_explain.ipynb.

    >>> plan = lk.explain(db, "SELECT * FROM products WHERE category_id = :c", {"c": 3})
    >>> plan.uses_index(), plan.full_scans(), plan.hotspot()
    """
    if analyze and repeat > 1:
        return fastest_plan(db, sql, params, repeat)
    return explain_plan(db, sql, params, analyze)


def compare(before: Plan, after: Plan) -> PlanComparison:
    """Put two plans side by side with the time ratio and what changed.

    Every read of every table counts, so a changed access path inside a subquery shows.
    Taught in notebooks/03_indexes_and_explain.ipynb.

    >>> lk.compare(lk.explain(db, q), lk.explain(db, q_with_index))
    """
    return PlanComparison(before, after)
