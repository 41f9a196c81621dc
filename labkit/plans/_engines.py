"""Running EXPLAIN on SQLite, PostgreSQL, DuckDB and MySQL/MariaDB, each parsed into a `Plan`
by the engine's own reader (`_sqlite`, `_postgres`, `_duckdb`, `_mysql`).

Parameters are bound as SQLAlchemy binds them for `conn.execute(text(sql), params)`:
untyped, so the server infers each type from where it is used.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

from labkit.errors import ExplainError
from labkit.plans._duckdb import read as read_duckdb
from labkit.plans._model import Plan
from labkit.plans._mysql import read as read_mysql
from labkit.plans._postgres import read as read_postgres
from labkit.plans._sqlite import read as read_sqlite
from labkit.plans._types import DatabaseLike, Params, QueryLike

__all__ = ["ExplainError", "explain_on", "explain_plan", "fastest_plan", "target"]

_KINDS = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "duckdb": "duckdb",
    "mysql": "mysql",
    "mariadb": "mysql",
}


def target(db: object) -> tuple[sa.Engine, str]:
    """The engine and kind ("sqlite", "postgres", "duckdb", "mysql") behind a Database or Engine."""
    engine = getattr(db, "engine", db)
    if not isinstance(engine, sa.Engine):
        raise ExplainError(
            f"expected a labkit Database or a SQLAlchemy Engine, got {type(db).__name__}. "
            f"Create one with `lk.database('sqlite')`."
        )
    kind = _KINDS.get(engine.dialect.name)
    if kind is None:
        raise ExplainError(
            f"EXPLAIN is supported on SQLite, PostgreSQL, DuckDB and MySQL/MariaDB; this engine "
            f"is {engine.dialect.name!r}. Use `lk.database('sqlite' | 'postgres' | 'duckdb')`."
        )
    return engine, kind


@lru_cache(maxsize=256)
def _compiled_text(dialect: sa.Dialect, sql: str) -> SQLCompiler:
    """Text SQL compiled once per dialect: the bind names and their order never change."""
    return sa.text(sql).compile(dialect=dialect)


def driver_sql(engine: sa.Engine, sql: QueryLike, params: Params) -> tuple[str, Any]:
    """Compile text or a SQLAlchemy statement to the driver's SQL and parameters.

    Text binds carry no type, as in `conn.execute(text(sql), params)`: PostgreSQL then
    reads a string compared with a timestamp as a timestamp, as the application does.
    """
    try:
        if isinstance(sql, str):
            compiled = _compiled_text(engine.dialect, sql)
            given = params or {}
            unused = sorted(set(given) - set(compiled.binds))
            if unused:
                raise sa.exc.ArgumentError(f"no placeholder for {unused}")
            values = compiled.construct_params(given)
        else:
            compiled = cast(
                SQLCompiler,
                sql.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True}),
            )
            values = compiled.construct_params(params)
    except (sa.exc.ArgumentError, sa.exc.InvalidRequestError) as error:
        raise ExplainError(
            f"the SQL's placeholders and the params do not match ({error}); params were "
            f"{sorted(params or {})}. Give one value per :name in the SQL."
        ) from None
    if compiled.positional:
        return str(compiled), tuple(values[key] for key in compiled.positiontup or ())
    return str(compiled), values


def _engine_message(error: sa.exc.DBAPIError | sqlite3.Error, sql: str) -> str:
    """The engine's own words for a failed statement, with the position where it gives one.

    The position is counted in the query as given, not in the EXPLAIN wrapped around it.
    """
    orig = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    text = str(orig).strip().splitlines()[0] if orig is not None else str(error)
    position = getattr(getattr(orig, "diag", None), "statement_position", None)
    sent = getattr(error, "statement", None) or sql
    if not position or sql not in sent:
        return text
    at = int(position) - sent.index(sql)
    return f"{text} (at character {at}: {sql[at - 1 : at + 19]!r})"


def explain_on(
    conn: sa.Connection, kind: str, sql: QueryLike, params: Params, analyze: bool
) -> Plan:
    """EXPLAIN on an open connection, leaving its transaction to the caller."""
    text, args = driver_sql(conn.engine, sql, params)
    runner = {
        "sqlite": read_sqlite,
        "postgres": read_postgres,
        "duckdb": read_duckdb,
        "mysql": read_mysql,
    }[kind]
    shown = sql if isinstance(sql, str) else text
    try:
        plan = runner(conn, text, args, analyze)
    except (sa.exc.DBAPIError, sqlite3.Error) as error:
        raise ExplainError(
            f"{kind} could not EXPLAIN {shown[:80]!r}: {_engine_message(error, text)}. The message is "
            f"{kind}'s own: check the SQL runs as is there (names, placeholders like :name)."
        ) from None
    plan.sql = shown  # as the reader wrote it, not the driver's placeholders
    return plan


def explain_plan(db: DatabaseLike, sql: QueryLike, params: Params, analyze: bool) -> Plan:
    """EXPLAIN `sql` on whichever engine `db` is, parsed into one Plan tree."""
    engine, kind = target(db)
    with engine.connect() as conn:
        try:
            return explain_on(conn, kind, sql, params, analyze)
        finally:
            conn.rollback()  # EXPLAIN ANALYZE of a write must not stick


def fastest_of(plans: list[Plan]) -> Plan:
    """The fastest of several analyzed runs of one query."""
    return min(plans, key=lambda plan: plan.total_ms if plan.total_ms is not None else float("inf"))


def fastest_plan(db: DatabaseLike, sql: QueryLike, params: Params, repeat: int) -> Plan:
    """The fastest of `repeat` analyzed runs: the first run also warms caches."""
    return fastest_of([explain_plan(db, sql, params, analyze=True) for _ in range(max(repeat, 1))])
