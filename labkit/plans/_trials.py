"""Trying an index for real; the schema is always left as found.

Where the engine has transactional DDL (SQLite, PostgreSQL) a trial runs inside one
transaction that is rolled back, so even a killed process leaves nothing behind; on
DuckDB and MySQL the index is dropped in a `finally`, interrupts included.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape

import sqlalchemy as sa

from labkit.errors import ExplainError, IndexExists
from labkit.plans._engines import explain_on, fastest_of, fastest_plan, target
from labkit.plans._model import Plan, PlanComparison, ratio_words, time_ratio
from labkit.plans._sql import NAME, unquote
from labkit.plans._types import DatabaseLike, Params, QueryLike

_DDL = re.compile(
    rf"^\s*CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:(?P<ischema>{NAME})\s*\.\s*)?(?P<name>{NAME})\s+ON\s+"
    rf"(?:(?P<schema>{NAME})\s*\.\s*)?(?P<table>{NAME})\s*(?P<rest>.*?)\s*;?\s*$",
    re.I | re.S,
)
_TRANSACTIONAL = {"sqlite", "postgres"}
_PROBE_ROWS = 2_000


@dataclass(frozen=True)
class _Index:
    """The parts of a `CREATE INDEX` statement a trial needs, names as the catalog spells them."""

    ddl: str
    name: str
    table: str
    schema: str | None
    rest: str
    unique: bool


def parse_ddl(ddl: str) -> _Index:
    match = _DDL.match(ddl)
    if match is None:
        raise ExplainError(
            f"try_index() needs `CREATE [UNIQUE] INDEX name ON table (...)`; got {ddl!r}. "
            f"Write the DDL with an explicit index name."
        )
    schema = match["schema"] or match["ischema"]
    return _Index(
        ddl=ddl.strip().rstrip(";"),
        name=unquote(match["name"]),
        table=unquote(match["table"]),
        schema=unquote(schema) if schema else None,
        rest=match["rest"],
        unique=bool(match["unique"]),
    )


def _quoted(conn: sa.Connection, *parts: str | None) -> str:
    """A dotted name with each part quoted where the engine needs it (mixed case, spaces)."""
    quote = conn.dialect.identifier_preparer.quote
    return ".".join(quote(part) for part in parts if part)


def _index_taken(conn: sa.Connection, kind: str, index: _Index) -> bool:
    """True when an index of that name already exists where the trial would create it."""
    query = {
        "sqlite": "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
        "AND lower(name) = lower(:name)",
        "postgres": "SELECT count(*) FROM pg_indexes WHERE indexname = :name "
        "AND schemaname = coalesce(:schema, current_schema())",
        "duckdb": "SELECT count(*) FROM duckdb_indexes() WHERE index_name = :name "
        "AND schema_name = coalesce(:schema, current_schema())",
        "mysql": "SELECT count(*) FROM information_schema.statistics WHERE index_name = :name "
        "AND table_name = :table AND table_schema = coalesce(:schema, database())",
    }[kind]
    values = {"name": index.name, "schema": index.schema, "table": index.table}
    return bool(conn.execute(sa.text(query), values).scalar_one())


def _used_bytes(conn: sa.Connection, kind: str) -> int | None:
    """Bytes the SQLite or DuckDB database holds, to diff around CREATE INDEX."""
    if kind == "sqlite":
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
        size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        return int((pages - free) * size)
    if kind == "duckdb":
        conn.exec_driver_sql("CHECKPOINT")  # DuckDB: block-granular, 256 KiB steps
        row = conn.exec_driver_sql(
            "SELECT used_blocks * block_size FROM pragma_database_size() "
            "WHERE database_name = current_database()"
        ).first()
        return int(row[0]) if row is not None else None
    return None


def _index_size(conn: sa.Connection, kind: str, index: _Index) -> int | None:
    """The engine's own figure for one index, where it keeps one."""
    if kind == "postgres":
        name = _quoted(conn, index.schema, index.name)
        return int(
            conn.execute(
                sa.text("SELECT pg_relation_size(CAST(:i AS regclass))"), {"i": name}
            ).scalar_one()
        )
    if kind == "mysql":
        conn.exec_driver_sql(f"ANALYZE TABLE {_quoted(conn, index.schema, index.table)}").all()
        size = conn.execute(
            sa.text(
                "SELECT stat_value * @@innodb_page_size FROM mysql.innodb_index_stats "
                "WHERE database_name = coalesce(:schema, database()) AND table_name = :table "
                "AND index_name = :name AND stat_name = 'size'"
            ),
            {"schema": index.schema, "table": index.table, "name": index.name},
        ).scalar()
        return int(size) if size is not None else None
    return None


def _drop(engine: sa.Engine, kind: str, index: _Index) -> None:
    """DROP the trial index on a connection of its own, whatever state the trial left."""
    with engine.connect() as conn:
        if kind == "mysql":
            table = _quoted(conn, index.schema, index.table)
            if _index_taken(conn, kind, index):
                conn.exec_driver_sql(f"DROP INDEX {_quoted(conn, index.name)} ON {table}")
        else:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_quoted(conn, index.schema, index.name)}")
        conn.commit()


@contextmanager
def _index_in_place(
    engine: sa.Engine, kind: str, index: _Index
) -> Iterator[tuple[sa.Connection, int | None]]:
    """A connection that sees the index, and the index's size in bytes where known.

    SQLite and PostgreSQL: one transaction, rolled back on the way out (and by the
    engine itself if the process dies). DuckDB and MySQL: created, then always dropped.
    """
    with engine.connect() as conn:
        if _index_taken(conn, kind, index):
            raise IndexExists(
                f"an index named {index.name!r} already exists, so trying it would change "
                f"nothing and dropping it afterwards would remove yours. Pick another name."
            )
        if kind in _TRANSACTIONAL:
            try:
                if kind == "sqlite":  # pysqlite runs DDL outside a transaction unless told
                    conn.exec_driver_sql("BEGIN")
                before = _used_bytes(conn, kind)
                conn.exec_driver_sql(index.ddl)
                after = _used_bytes(conn, kind)
                size = _index_size(conn, kind, index)
                if size is None and before is not None and after is not None:
                    size = after - before
                yield conn, size
            finally:
                conn.rollback()
            return
    try:
        with engine.connect() as conn:
            before = _used_bytes(conn, kind)
            conn.exec_driver_sql(index.ddl)
            conn.commit()
            after = _used_bytes(conn, kind)
            size = _index_size(conn, kind, index)
            if size is None and before is not None and after is not None:
                size = after - before
            yield conn, size
    finally:
        _drop(engine, kind, index)


def _insert_ms(conn: sa.Connection, scratch: str, table: str, rows: int) -> float:
    conn.exec_driver_sql(f"DELETE FROM {scratch}")
    start = time.perf_counter()
    conn.exec_driver_sql(f"INSERT INTO {scratch} SELECT * FROM {table} LIMIT {rows}")
    return (time.perf_counter() - start) * 1000


def _write_cost(conn: sa.Connection, kind: str, index: _Index) -> float | None:
    """Extra ms per 1,000 inserted rows that the index costs, measured on a scratch copy.

    Inside the trial's transaction where there is one; a temporary table on MySQL (whose
    DDL would commit); dropped in a `finally` on DuckDB.
    """
    scratch = f"lk_probe_{uuid.uuid4().hex[:10]}"
    table = _quoted(conn, index.schema, index.table)
    temporary = "TEMPORARY " if kind == "mysql" else ""
    conn.exec_driver_sql(f"CREATE {temporary}TABLE {scratch} AS SELECT * FROM {table} LIMIT 0")
    try:
        rows = int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
        rows = min(rows, _PROBE_ROWS)
        if rows == 0:
            return None
        bare = min(_insert_ms(conn, scratch, table, rows) for _ in range(3))
        unique = "UNIQUE " if index.unique else ""
        conn.exec_driver_sql(f"CREATE {unique}INDEX {scratch}_ix ON {scratch} {index.rest}")
        indexed = min(_insert_ms(conn, scratch, table, rows) for _ in range(3))
        return max(indexed - bare, 0.0) * 1000 / rows
    finally:
        if kind not in _TRANSACTIONAL:
            conn.rollback()
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {scratch}")
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


def try_index(
    db: DatabaseLike, ddl: str, sql: QueryLike, params: Params = None, *, repeat: int = 3
) -> IndexTrial:
    """Create an index, measure the query before and after, then take the index away again.

    Also reports the index's size (the engine's own figure on PostgreSQL and MySQL; for
    SQLite and DuckDB the growth of the database file, in 256 KiB blocks on DuckDB) and
    what it adds to the cost of inserting rows (measured on a scratch copy of the table).
    The schema is left as found on every path: errors, interrupts, a killed process.
    Taught in notebooks/03_indexes_and_explain.ipynb.

    >>> trial = lk.try_index(db, "CREATE INDEX ix_p_cat ON products (category_id)", q)
    >>> trial.used, trial.speedup, trial.size_bytes
    """
    index = parse_ddl(ddl)
    target(db)
    return trial_against(db, index, sql, params, repeat, fastest_plan(db, sql, params, repeat))


def trial_against(
    db: DatabaseLike, index: _Index, sql: QueryLike, params: Params, repeat: int, before: Plan
) -> IndexTrial:
    """Measure the query with the index in place against a `before` measured already.

    The query is timed again once the index is gone and the faster `before` is kept, so a
    machine that was busy (or caches that were cold) before the index cannot flatter it.
    """
    engine, kind = target(db)
    with _index_in_place(engine, kind, index) as (conn, size):
        runs = [explain_on(conn, kind, sql, params, analyze=True) for _ in range(max(repeat, 1))]
        if kind not in _TRANSACTIONAL:
            conn.rollback()  # EXPLAIN ANALYZE of a write must not stick
        cost = _write_cost(conn, kind, index)
    again = fastest_plan(db, sql, params, repeat)
    return IndexTrial(
        index.ddl,
        index.name,
        index.table,
        fastest_of([before, again]),
        fastest_of(runs),
        size,
        cost,
    )
