"""Trying an index for real and proposing candidates; the schema is always left as found."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from typing import Any

import sqlalchemy as sa

from labkit.plans._engines import (
    ExplainError,
    Params,
    aliases,
    driver_sql,
    explain_plan,
    fastest_plan,
    target,
)
from labkit.plans._html import plan_html
from labkit.plans._model import Plan, PlanComparison, ratio_words, time_ratio

_DDL = re.compile(
    r"^\s*CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(?P<name>\w+)\"?"
    r"\s+ON\s+\"?(?P<table>\w+)\"?\s*(?P<rest>.*?)\s*;?\s*$",
    re.I | re.S,
)
_INDEX_EXISTS = {
    "sqlite": "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = :name",
    "postgres": "SELECT count(*) FROM pg_indexes WHERE indexname = :name",
    "duckdb": "SELECT count(*) FROM duckdb_indexes() WHERE index_name = :name",
}
_SCRATCH = "lk_index_write_probe"
_PROBE_ROWS = 2_000


def _used_bytes(conn: sa.Connection, kind: str) -> int | None:
    """Bytes the SQLite or DuckDB database holds, to diff around CREATE INDEX."""
    if kind == "sqlite":
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
        size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        return int((pages - free) * size)
    conn.exec_driver_sql("CHECKPOINT")  # DuckDB: block-granular, 256 KiB steps
    row = conn.exec_driver_sql(
        "SELECT used_blocks * block_size FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).first()
    return int(row[0]) if row is not None else None


@contextmanager
def _temporary_index(engine: sa.Engine, kind: str, ddl: str, name: str) -> Iterator[int | None]:
    """Create the index, yield its size in bytes where known, and always drop it."""
    with engine.connect() as conn:
        if conn.execute(sa.text(_INDEX_EXISTS[kind]), {"name": name}).scalar_one():
            raise ExplainError(
                f"an index named {name!r} already exists, so trying it would change nothing "
                f"and dropping it afterwards would remove yours. Pick another name in the DDL."
            )
        before = None if kind == "postgres" else _used_bytes(conn, kind)
        conn.execute(sa.text(ddl))
        conn.commit()
    try:
        with engine.connect() as conn:
            if kind == "postgres":  # PostgreSQL knows each index's own size
                size = conn.execute(
                    sa.text("SELECT pg_relation_size(CAST(:i AS regclass))"), {"i": name}
                ).scalar_one()
            else:
                after = _used_bytes(conn, kind)
                size = None if before is None or after is None else after - before
        yield None if size is None else int(size)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
            conn.commit()


def _insert_ms(conn: sa.Connection, table: str, rows: int) -> float:
    conn.exec_driver_sql(f"DELETE FROM {_SCRATCH}")
    start = time.perf_counter()
    conn.exec_driver_sql(f"INSERT INTO {_SCRATCH} SELECT * FROM {table} LIMIT {rows}")
    return (time.perf_counter() - start) * 1000


def _write_cost(engine: sa.Engine, table: str, rest: str, unique: bool) -> float | None:
    """Extra ms per 1,000 inserted rows that the index costs, measured on a scratch copy."""
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_SCRATCH}")
        conn.exec_driver_sql(f"CREATE TABLE {_SCRATCH} AS SELECT * FROM {table} LIMIT 0")
        try:
            rows = int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
            rows = min(rows, _PROBE_ROWS)
            if rows == 0:
                return None
            bare = min(_insert_ms(conn, table, rows) for _ in range(3))
            kind = "UNIQUE INDEX" if unique else "INDEX"
            conn.exec_driver_sql(f"CREATE {kind} {_SCRATCH}_ix ON {_SCRATCH} {rest}")
            indexed = min(_insert_ms(conn, table, rows) for _ in range(3))
            return max(indexed - bare, 0.0) * 1000 / rows
        finally:
            conn.rollback()
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_SCRATCH}")
            conn.commit()


@dataclass(frozen=True)
class IndexTrial:
    """What one index does for one query, measured, with the index already dropped again."""

    ddl: str
    name: str
    table: str
    before: Plan
    after: Plan
    size_bytes: int | None
    insert_ms_per_1k: float | None

    @property
    def speedup(self) -> float | None:
        """before / after total time of the query."""
        return time_ratio(self.before, self.after)

    @property
    def used(self) -> bool:
        """True if the planner chose the index."""
        return self.after.uses_index(self.name)

    def _summary(self) -> str:
        speed = ratio_words(self.speedup)
        size = f"{self.size_bytes / 1024:,.0f} KiB" if self.size_bytes is not None else "unknown"
        cost = (
            f"+{self.insert_ms_per_1k:.2f} ms per 1,000 inserts"
            if self.insert_ms_per_1k is not None
            else "insert cost unknown"
        )
        used = "used" if self.used else "NOT used by the planner"
        return f"{self.name} ({used}): query {speed}, size {size}, {cost}"

    def __repr__(self) -> str:
        return f"<IndexTrial {self._summary()}>"

    def _repr_html_(self) -> str:
        comparison = PlanComparison(self.before, self.after)._repr_html_()
        return f"<p><code>{escape(self.ddl)}</code><br>{escape(self._summary())}</p>" + comparison


def try_index(db: Any, ddl: str, sql: Any, params: Params = None, *, repeat: int = 3) -> IndexTrial:
    """Create an index, measure the query before and after, then drop it again.

    Also reports the index's size (PostgreSQL's own figure; for SQLite and DuckDB the
    growth of the database file, in 256 KiB blocks on DuckDB) and what it adds to the
    cost of inserting rows (measured on a scratch copy of the table, dropped afterwards).

    >>> trial = lk.try_index(db, "CREATE INDEX ix_p_cat ON products (category_id)", q)
    >>> trial.used, trial.speedup, trial.size_bytes
    """
    match = _DDL.match(ddl)
    if match is None:
        raise ExplainError(
            f"try_index() needs `CREATE [UNIQUE] INDEX name ON table (...)`; got {ddl!r}. "
            f"Write the DDL with an explicit index name."
        )
    engine, kind = target(db)
    name, table = match["name"], match["table"]
    before = fastest_plan(db, sql, params, repeat)
    with _temporary_index(engine, kind, ddl, name) as size:
        after = fastest_plan(db, sql, params, repeat)
    cost = _write_cost(engine, table, match["rest"], bool(match["unique"]))
    return IndexTrial(ddl.strip(), name, table, before, after, size, cost)


# --- suggestions: columns the query filters, joins and sorts on, per full-scanned table.

_CLAUSE_END = r"(?=\bGROUP\s+BY\b|\bORDER\s+BY\b|\bLIMIT\b|\bOFFSET\b|\bHAVING\b|$)"
_WHERE = re.compile(r"\bWHERE\b(?P<body>.*?)" + _CLAUSE_END, re.I | re.S)
_ORDER = re.compile(r"\bORDER\s+BY\b(?P<body>.*?)(?=\bLIMIT\b|\bOFFSET\b|$)", re.I | re.S)
_ON = re.compile(
    r"\bON\b(?P<body>.*?)(?=\b(?:LEFT|RIGHT|INNER|FULL|CROSS)?\s*JOIN\b|\bWHERE\b|"
    r"\bGROUP\b|\bORDER\b|\bLIMIT\b|$)",
    re.I | re.S,
)
_EQUALITY = r"\s*(?:=(?!=)|\bIN\b|\bIS\s+(?!NULL\b))"
_RANGE = r"\s*(?:<=|>=|<(?!>)|>|\bBETWEEN\b|\bLIKE\b)"


@dataclass(frozen=True)
class IndexSuggestion:
    """A candidate index, why it was proposed, and its measured trial."""

    ddl: str
    reason: str
    trial: IndexTrial | None = None

    def __repr__(self) -> str:
        measured = f"; {self.trial._summary()}" if self.trial else ""
        return f"<IndexSuggestion {self.ddl} -- {self.reason}{measured}>"


@dataclass(frozen=True)
class IndexAdvice:
    """Candidate indexes for one query, best first, each measured with `try_index`."""

    plan: Plan
    suggestions: list[IndexSuggestion] = field(default_factory=list)

    @property
    def best(self) -> IndexSuggestion | None:
        """The candidate the planner used with the largest speedup, if any helped."""
        useful = [s for s in self.suggestions if s.trial and s.trial.used]
        return useful[0] if useful else None

    def __repr__(self) -> str:
        lines = "\n".join(f"  {s!r}" for s in self.suggestions) or "  (no candidates)"
        return f"<IndexAdvice for {len(self.plan.full_scans())} full scan(s)>\n{lines}"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{escape(s.ddl)}</code></td><td>{escape(s.reason)}</td>"
            f"<td>{escape(s.trial._summary() if s.trial else 'not measured')}</td></tr>"
            for s in self.suggestions
        )
        return (
            "<table><tr><th>candidate</th><th>why</th><th>measured</th></tr>"
            f"{rows}</table>" + plan_html(self.plan)
        )


def _columns_used(
    body: str, names: set[str], columns: set[str], unique: set[str], pattern: str
) -> list[str]:
    """Columns of one table followed by an operator matching `pattern`, in order of use."""
    found: dict[str, None] = {}
    for match in re.finditer(r"(?:\b(?P<q>\w+)\.)?\b(?P<col>\w+)\b(?=" + pattern + ")", body, re.I):
        qualifier, column = (match["q"] or "").lower(), match["col"].lower()
        if column in columns and (qualifier in names or (not qualifier and column in unique)):
            found[column] = None
    return list(found)


def _candidates(
    sql: str, table: str, columns: set[str], unique: set[str], kind: str
) -> list[tuple[str, str]]:
    names = {alias for alias, real in aliases(sql).items() if real.lower() == table.lower()}
    names.add(table.lower())
    where = " ".join(m["body"] for m in _WHERE.finditer(sql))
    order = " ".join(m["body"] for m in _ORDER.finditer(sql))
    ons = " ".join(m["body"] for m in _ON.finditer(sql))
    equal = _columns_used(where, names, columns, unique, _EQUALITY)
    ranged = [c for c in _columns_used(where, names, columns, unique, _RANGE) if c not in equal]
    nulls = _columns_used(where, names, columns, unique, r"\s*\bIS\s+NULL\b")
    sort = _columns_used(order, names, columns, unique, r"\s*(?:\bASC\b|\bDESC\b|,|$)")
    joins = _columns_used(ons, names, columns, unique, r"\s*=")
    partial = (
        " WHERE " + " AND ".join(f"{c} IS NULL" for c in nulls)
        if nulls and kind != "duckdb"
        else ""
    )
    found: list[tuple[list[str], str, str]] = []
    if equal or ranged:
        found.append(
            (equal + ranged[:1], "filter: equality columns first, one range last", partial)
        )
    if sort:
        keys = equal + [c for c in sort if c not in equal]
        found.append(
            (keys, "filter then sort: rows come out of the index already ordered", partial)
        )
    for column in joins:
        found.append(([column], "join key: each outer row finds its matches by seek", ""))
    seen: set[tuple[str, ...]] = set()
    result = []
    for keys, reason, where_part in found:
        if tuple(keys) in seen:
            continue
        seen.add(tuple(keys))
        name = f"ix_try_{table}_{'_'.join(keys)}"[:60]
        ddl = f"CREATE INDEX {name} ON {table} ({', '.join(keys)}){where_part}"
        result.append((ddl, reason + (" (partial: only live rows)" if where_part else "")))
    return result


def _columns(engine: sa.Engine, table: str) -> set[str]:
    """Column names of a table, read from a zero-row query (works on every engine)."""
    with engine.connect() as conn:
        return {
            str(key).lower()
            for key in conn.exec_driver_sql(f"SELECT * FROM {table} LIMIT 0").keys()  # noqa: SIM118
        }


def suggest_indexes(
    db: Any, sql: Any, params: Params = None, *, verify: bool = True, repeat: int = 2
) -> IndexAdvice:
    """Propose indexes for the full-scanned tables of a query and measure each one.

    Candidates come from the query's filters (equality before range), sort keys
    and join keys; with `verify=True` each is tried with `try_index`, so each is
    created, measured and dropped. Nothing is left behind.

    >>> lk.suggest_indexes(db, "SELECT * FROM orders WHERE user_id = :u ORDER BY created_at", {"u": 7})
    """
    engine, kind = target(db)
    text = sql if isinstance(sql, str) else driver_sql(engine, sql, params)[0]
    plan = explain_plan(db, sql, params, analyze=True)
    all_tables = {t.lower(): t for t in aliases(text).values()}  # one spelling per table
    column_sets = {table: _columns(engine, table) for table in all_tables.values()}
    counts = Counter(col for cols in column_sets.values() for col in cols)
    unique = {col for col, n in counts.items() if n == 1}
    suggestions: list[IndexSuggestion] = []
    for table in dict.fromkeys(n.relation for n in plan.full_scans() if n.relation):
        columns = column_sets.get(table) or _columns(engine, table)
        for ddl, reason in _candidates(text, table, columns, unique & columns, kind):
            trial = try_index(db, ddl, sql, params, repeat=repeat) if verify else None
            suggestions.append(IndexSuggestion(ddl, reason, trial))
    suggestions.sort(key=lambda s: -(s.trial.speedup or 0.0) if s.trial and s.trial.used else 0.0)
    return IndexAdvice(plan, suggestions)
