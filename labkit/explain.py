"""Query plans made readable and comparable on SQLite, PostgreSQL and DuckDB.

`explain` parses each engine's EXPLAIN into one `Plan` tree; `compare` says what
changed between two plans; `try_index` and `suggest_indexes` measure an index
before you keep it, and always leave the schema as they found it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from labkit._plan_advice import IndexAdvice, IndexSuggestion, IndexTrial, suggest_indexes, try_index
from labkit._plan_engines import ExplainError, explain_plan, fastest_plan
from labkit._plan_html import plan_html
from labkit._plan_model import Misestimate, Plan, PlanNode, ratio_words, time_ratio

__all__ = [
    "ExplainError",
    "IndexAdvice",
    "IndexSuggestion",
    "IndexTrial",
    "Misestimate",
    "Plan",
    "PlanComparison",
    "PlanNode",
    "compare",
    "explain",
    "suggest_indexes",
    "try_index",
]


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


def _access_by_relation(plan: Plan) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in plan.nodes():
        if node.relation and node.access:
            how = node.access + (" (covering)" if node.covering else "")
            if node.index and node.access != "full scan":
                how += f" using {node.index}"
            found.setdefault(node.relation, how)
    return found


@dataclass(frozen=True)
class PlanComparison:
    """Two plans of the same query, and what changed between them."""

    before: Plan
    after: Plan

    @property
    def speedup(self) -> float | None:
        """before / after total time: 10.0 means ten times faster."""
        return time_ratio(self.before, self.after)

    def changes(self) -> list[str]:
        """What changed, in words: access paths, sorts, rows read."""
        found = []
        old, new = _access_by_relation(self.before), _access_by_relation(self.after)
        for relation in dict.fromkeys([*old, *new]):
            was, now = old.get(relation, "not read"), new.get(relation, "not read")
            if was != now:
                found.append(f"{relation}: {was} -> {now}")
        sorts_before, sorts_after = len(self.before.sorts()), len(self.after.sorts())
        if sorts_before > sorts_after:
            found.append(f"sort removed ({sorts_before} -> {sorts_after})")
        elif sorts_after > sorts_before:
            found.append(f"sort added ({sorts_before} -> {sorts_after})")
        read_before, read_after = self.before.rows_read, self.after.rows_read
        if read_before is not None and read_after is not None and read_before != read_after:
            found.append(f"rows read {read_before:,.0f} -> {read_after:,.0f}")
        return found or ["same plan shape"]

    def __repr__(self) -> str:
        lines = "\n".join(f"  - {change}" for change in self.changes())
        return f"<PlanComparison {self.before.engine}: {ratio_words(self.speedup)}>\n{lines}"

    def _repr_html_(self) -> str:
        ratio = ratio_words(self.speedup)
        changes = "".join(f"<li>{escape(c)}</li>" for c in self.changes())
        cell = "<td style='vertical-align:top'><h4>{}</h4>{}</td>"
        return (
            f"<div><p><b>{ratio}</b></p><ul>{changes}</ul><table><tr>"
            + cell.format("before", plan_html(self.before))
            + cell.format("after", plan_html(self.after, style=False))
            + "</tr></table></div>"
        )


def compare(before: Plan, after: Plan) -> PlanComparison:
    """Put two plans side by side with the time ratio and what changed.

    >>> lk.compare(lk.explain(db, q), lk.explain(db, q_with_index))
    """
    return PlanComparison(before, after)
