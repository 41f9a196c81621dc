"""One index set for a whole workload: candidates per query, merged, measured, left behind none.

Each query's candidates come from `lk.suggest_indexes`; an index whose columns are a prefix
of another candidate's on the same table is merged into it (one composite serves both). Each
merged candidate is tried with `lk.try_index` (its size and write cost, and the speedup of
the query it came from). Then the whole set is created, every query is explained again and
its time weighted by frequency: the set is recommended only when the workload got faster.
Every index created is dropped again, whatever happens.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from labkit.databases import Database
from labkit.errors import ReviewError
from labkit.plans import Plan, explain, suggest_indexes, try_index

__all__ = ["Query", "WorkloadReview", "review_workload"]

_INDEX = re.compile(r"CREATE\s+INDEX\s+\"?(\w+)\"?\s+ON\s+\"?(\w+)\"?\s*\(([^)]*)\)", re.I)
#: Below this ratio a speedup is within the noise of a busy machine.
MIN_SPEEDUP = 1.2


@dataclass(frozen=True)
class Query:
    """One named query of a workload, its parameters and how often it runs (relative)."""

    name: str
    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)
    frequency: float = 1.0


@dataclass(frozen=True)
class _Candidate:
    table: str
    columns: tuple[str, ...]
    queries: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"ix_review_{self.table}_{'_'.join(self.columns)}"[:63]

    @property
    def ddl(self) -> str:
        return f"CREATE INDEX {self.name} ON {self.table} ({', '.join(self.columns)})"


@dataclass(frozen=True)
class WorkloadReview:
    """Per-query times without and with the recommended index set, weighted by frequency."""

    engine: str
    recommended: list[str]
    rejected: dict[str, str]
    per_query: pd.DataFrame
    before_ms: float
    after_ms: float
    size_bytes: int
    insert_ms_per_1k: float

    @property
    def speedup(self) -> float:
        """Frequency-weighted workload time before / after the recommended set."""
        return self.before_ms / self.after_ms if self.after_ms > 0 else 1.0

    def __repr__(self) -> str:
        return (
            f"WorkloadReview({self.engine}: {len(self.recommended)} indexes, workload "
            f"{self.speedup:.1f}x faster ({self.before_ms:.2f} → {self.after_ms:.2f} ms weighted), "
            f"{self.size_bytes / 1024:,.0f} KiB, +{self.insert_ms_per_1k:.2f} ms per 1,000 inserts)"
        )

    def _repr_html_(self) -> str:
        indexes = "".join(f"<li><code>{html.escape(d)}</code></li>" for d in self.recommended)
        rejected = "".join(
            f"<li><code>{html.escape(d)}</code>: {html.escape(why)}</li>"
            for d, why in self.rejected.items()
        )
        return (
            f"<p><b>Workload on {self.engine}</b>: {self.speedup:.1f}x faster weighted by "
            f"frequency; index size {self.size_bytes / 1024:,.0f} KiB; write cost "
            f"+{self.insert_ms_per_1k:.2f} ms per 1,000 inserts</p>"
            f"<p>Recommended:</p><ul>{indexes or '<li>none</li>'}</ul>"
            + (f"<p>Not recommended:</p><ul>{rejected}</ul>" if rejected else "")
            + str(self.per_query.to_html(index=False, float_format="{:.3f}".format))
        )


def review_workload(
    db: Database | sa.Engine,
    workload: Sequence[Query | Mapping[str, Any]],
    *,
    repeat: int = 3,
) -> WorkloadReview:
    """Recommend one index set for a workload on `db`, measured; the schema is left as it was.

    `workload` lists `Query` objects or dicts with the same keys (`name`, `sql`, `params`,
    `frequency`), as a YAML file of queries reads.
    """
    queries = [q if isinstance(q, Query) else _query(q) for q in workload]
    if not queries:
        raise ReviewError("the workload has no queries; pass a list of lk.review.Query(...).")
    engine = db.engine if isinstance(db, Database) else db
    before = {q.name: _time(db, q, repeat) for q in queries}
    rejected: dict[str, str] = {}
    kept: list[tuple[_Candidate, Any]] = []
    for candidate in _merged(_candidates(db, queries)):
        origin = next(q for q in queries if q.name == candidate.queries[0])
        trial = try_index(db, candidate.ddl, origin.sql, dict(origin.params), repeat=repeat)
        if not trial.used or (trial.speedup or 0.0) < MIN_SPEEDUP:
            rejected[candidate.ddl] = (
                f"{origin.name}: {'not used' if not trial.used else f'{trial.speedup:.2f}x only'}"
            )
            continue
        kept.append((candidate, trial))
    after = before  # with nothing to add, the workload is as it was
    if kept:
        with _created(engine, [c.ddl for c, _ in kept], [c.name for c, _ in kept]):
            after = {q.name: _time(db, q, repeat) for q in queries}
    weights = {q.name: q.frequency for q in queries}
    before_ms = sum(weights[n] * t for n, t in before.items())
    after_ms = sum(weights[n] * t for n, t in after.items())
    if kept and after_ms >= before_ms:  # never recommend a set that slowed the workload
        rejected.update({c.ddl: "the set did not make the workload faster" for c, _ in kept})
        kept, after, after_ms = [], before, before_ms
    per_query = pd.DataFrame(
        {
            "query": [q.name for q in queries],
            "frequency": [q.frequency for q in queries],
            "before_ms": [before[q.name] for q in queries],
            "after_ms": [after[q.name] for q in queries],
        }
    )
    per_query["speedup"] = per_query["before_ms"] / per_query["after_ms"]
    return WorkloadReview(
        engine.dialect.name,
        [c.ddl for c, _ in kept],
        rejected,
        per_query,
        before_ms,
        after_ms,
        sum(t.size_bytes or 0 for _, t in kept),
        sum(t.insert_ms_per_1k or 0.0 for _, t in kept),
    )


def _query(entry: Mapping[str, Any]) -> Query:
    try:
        return Query(**entry)
    except TypeError as error:
        raise ReviewError(
            f"workload entry {dict(entry)!r} is not a query ({error}); give it name and sql, "
            "optionally params and frequency."
        ) from error


def _time(db: Database | sa.Engine, query: Query, repeat: int) -> float:
    plan: Plan = explain(db, query.sql, dict(query.params), repeat=repeat)
    if plan.total_ms is None:
        raise ReviewError(f"query {query.name!r} gave no timing on this engine; run it with data.")
    return float(plan.total_ms)


def _candidates(db: Database | sa.Engine, queries: Sequence[Query]) -> list[_Candidate]:
    found: list[_Candidate] = []
    for query in queries:
        advice = suggest_indexes(db, query.sql, dict(query.params), verify=False)
        for suggestion in advice.suggestions:
            match = _INDEX.search(suggestion.ddl)
            if match:
                columns = tuple(c.strip().split()[0] for c in match[3].split(","))
                found.append(_Candidate(match[2], columns, (query.name,)))
    return found


def _merged(candidates: list[_Candidate]) -> list[_Candidate]:
    """Drop candidates that are a prefix of another on the same table; the longer serves both."""
    merged: list[_Candidate] = []
    for candidate in sorted(candidates, key=lambda c: -len(c.columns)):
        host = next(
            (
                m
                for m in merged
                if m.table == candidate.table
                and m.columns[: len(candidate.columns)] == candidate.columns
            ),
            None,
        )
        if host is None:
            merged.append(candidate)
        else:
            queries = host.queries + tuple(q for q in candidate.queries if q not in host.queries)
            merged[merged.index(host)] = _Candidate(host.table, host.columns, queries)
    return merged


@contextmanager
def _created(engine: sa.Engine, ddls: list[str], names: list[str]) -> Iterator[None]:
    """The indexes exist inside the block and are dropped after it, even on failure."""
    made: list[str] = []
    try:
        for ddl, name in zip(ddls, names, strict=True):
            with engine.begin() as connection:
                connection.exec_driver_sql(ddl)
            made.append(name)
        yield
    finally:
        for name in made:
            with engine.begin() as connection:
                connection.exec_driver_sql(f"DROP INDEX {name}")
