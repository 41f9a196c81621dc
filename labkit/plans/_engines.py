"""Running EXPLAIN on SQLite, PostgreSQL, DuckDB and MySQL/MariaDB, each parsed into a `Plan`.

Parameters are bound as SQLAlchemy binds them for `conn.execute(text(sql), params)`:
untyped, so the server infers each type from where it is used.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from functools import lru_cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

from labkit.errors import ExplainError
from labkit.plans._model import Access, Plan, PlanNode
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


def _run(conn: sa.Connection, sql: str, args: Any) -> list[Any]:
    return list(conn.exec_driver_sql(sql, args).fetchall())


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
    runner = {"sqlite": _sqlite, "postgres": _postgres, "duckdb": _duckdb, "mysql": _mysql}[kind]
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


def _timed(conn: sa.Connection, text: str, args: Any) -> tuple[float, int]:
    """Run the statement itself: (milliseconds, rows returned or affected)."""
    start = time.perf_counter()
    result = conn.exec_driver_sql(text, args)
    count = len(result.fetchall()) if result.returns_rows else result.rowcount
    return (time.perf_counter() - start) * 1000, count


# --- SQLite: EXPLAIN QUERY PLAN gives structure only; time comes from running the query.

_SQLITE_ACCESS = re.compile(
    r"^(?P<op>SCAN|SEARCH) (?:TABLE )?(?P<rel>.+?)(?: AS (?P<as>\S+))?"
    r"(?: USING (?P<how>.*?INDEX|INTEGER PRIMARY KEY|PRIMARY KEY)(?: (?P<index>(?!\()\S+))?)?"
    r"(?: \((?P<cond>.*)\))?$"
)
_JOIN_FLAG = re.compile(r" (?:LEFT|RIGHT)-JOIN$")
_NAME = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|\w+)'
_ALIAS = re.compile(
    rf"(?P<lead>\bFROM|\bJOIN|,)\s+(?:{_NAME}\s*\.\s*)?(?P<table>{_NAME})"
    rf"(?:\s+(?:AS\s+)?(?P<alias>{_NAME}))?",
    re.I,
)
_NOT_ALIASES = {
    "on",
    "where",
    "join",
    "left",
    "right",
    "inner",
    "outer",
    "cross",
    "group",
    "order",
    "limit",
    "using",
    "natural",
    "full",
    "union",
    "set",
    "values",
    "window",
    "having",
    "except",
    "intersect",
    "as",
    "straight_join",
    "force",
    "use",
    "ignore",
}


def unquote(name: str) -> str:
    """An identifier as the catalog spells it: `"Order Lines"` -> `Order Lines`."""
    if name[:1] in ('"', "`", "[") and len(name) > 1:
        return name[1:-1].replace('""', '"')
    return name


@lru_cache(maxsize=512)
def aliases(sql: str) -> dict[str, str]:
    """Map each alias (and table name) after FROM, JOIN or a comma to its table.

    Names after a comma may be select-list items; the caller keeps only real tables,
    and FROM/JOIN readings win over comma readings of the same name.
    """
    found: dict[str, str] = {}
    matches = sorted(_ALIAS.finditer(sql), key=lambda m: m["lead"] != ",")
    for match in matches:
        table = unquote(match["table"])
        if table.lower() in _NOT_ALIASES:
            continue
        alias = match["alias"]
        found[table.lower()] = table
        if alias and alias.lower() not in _NOT_ALIASES:
            found[unquote(alias).lower()] = table
    return found


_SQLITE_TABLES: dict[tuple[str, int], dict[str, str]] = {}


def _sqlite_tables(conn: sa.Connection, version: int) -> dict[str, str]:
    """Real tables by lower-case name, read once per schema version of a database file."""
    key = (str(conn.engine.url), version)
    tables = _SQLITE_TABLES.get(key)
    if tables is None:
        names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {str(name).lower(): str(name) for (name,) in names}
        # A schema version seen inside a transaction (an index trial) may be rolled back
        # and reused for another schema: only committed versions are kept.
        if not conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
            if len(_SQLITE_TABLES) > 64:
                _SQLITE_TABLES.clear()
            _SQLITE_TABLES[key] = tables
    return tables


def _sqlite_node(detail: str, aliased: dict[str, str], real: dict[str, str]) -> PlanNode:
    bare = _JOIN_FLAG.sub("", detail)
    match = _SQLITE_ACCESS.match(bare)
    if match is None:
        sort = bare.startswith("USE TEMP B-TREE")
        operator = bare.replace("USE TEMP B-TREE FOR", "TEMP B-TREE FOR") if sort else bare
        return PlanNode(operator=operator, detail=detail, is_sort=sort and "ORDER BY" in bare)
    name = unquote(match["as"] or match["rel"])
    table = real.get(aliased.get(name.lower(), name).lower()) or real.get(match["rel"].lower())
    if table is None:  # a CTE, a derived table or a subquery: read, but not a table
        return PlanNode(operator=match["op"], detail=detail, relation=name)
    how = match["how"] or ""
    access: Access
    if "AUTOMATIC" in how:
        access = "temp index"
    elif match["op"] == "SEARCH":
        access = "index search"
    else:
        access = "index scan" if how else "full scan"
    index = match["index"] or (how if "PRIMARY KEY" in how else None)
    if access == "temp index":
        index = "automatic index"
    return PlanNode(
        operator=match["op"],
        detail=detail,
        relation=table,
        index=index,
        access=access,
        covering="COVERING" in how or "PRIMARY KEY" in how,
        reads_all=access == "index scan",  # SCAN ... USING INDEX walks every entry
        condition=match["cond"] or "",
    )


def _sqlite(conn: sa.Connection, text: str, args: Any, analyze: bool) -> Plan:
    # pysqlite caches statements and SQLite never re-plans a cached EXPLAIN after a schema
    # change; naming the schema version in the SQL keeps the cache honest.
    # The plan is read on the driver's own cursor: SQLAlchemy's result wrapping would cost
    # more than SQLite's planning for a small query.
    cursor: sqlite3.Cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        version = int(cursor.execute("PRAGMA schema_version").fetchone()[0])
        rows = cursor.execute(f"EXPLAIN QUERY PLAN {text}\n/* schema {version} */", args).fetchall()
    finally:
        cursor.close()
    real = _sqlite_tables(conn, version)
    aliased = aliases(text)
    root = PlanNode(operator="QUERY", detail="the statement")
    by_id: dict[int, PlanNode] = {0: root}
    for node_id, parent, _unused, detail in rows:
        node = _sqlite_node(str(detail), aliased, real)
        by_id[int(node_id)] = node
        by_id.get(int(parent), root).children.append(node)
    counted: dict[str, float] = {}
    for node in by_id.values():
        if node.is_full_scan and node.relation:  # a real table, checked above
            if node.relation not in counted:
                quoted = conn.dialect.identifier_preparer.quote(node.relation)
                count = conn.exec_driver_sql(f"SELECT count(*) FROM {quoted}").scalar_one()
                counted[node.relation] = float(count)
            node.est_rows = counted[node.relation]
    total_ms = count = None
    if analyze:
        total_ms, count = _timed(conn, text, args)
        root.actual_rows = float(count)
        root.time_ms = total_ms
    return Plan("sqlite", text, root, total_ms, analyze, count, rows)


# --- PostgreSQL: EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) gives everything per node.

_PG_SORTS = {"Sort", "Incremental Sort"}


def _unwrap_parens(text: str) -> str:
    """PostgreSQL wraps whole conditions in parentheses; drop one redundant pair."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and position < len(text) - 1:
            return text
    return text[1:-1]


def _lend_relation(node: PlanNode, relation: str) -> None:
    """Bitmap index scans (also under BitmapOr/BitmapAnd) name only their index: add the table."""
    for child in node.children:
        if child.relation is None and child.detail.startswith("Bitmap"):
            if child.access:
                child.relation = relation
            _lend_relation(child, relation)


def _pg_node(raw: dict[str, Any], processes: int = 1) -> PlanNode:
    """One node; `processes` > 1 below a Gather, where loops add up over the workers."""
    kind = str(raw["Node Type"])
    access: Access | None = None
    if kind == "Seq Scan":
        access = "full scan"
    elif kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        access = "index search" if "Index Cond" in raw else "index scan"
    loops = int(raw["Actual Loops"]) if "Actual Loops" in raw else None
    actual = raw.get("Actual Rows")
    # Actual Total Time is per loop; under a Gather the loops of all workers add up while
    # they run side by side, so one worker's share is loops / processes.
    time_ms = (
        raw["Actual Total Time"] * (loops or 1) / processes if "Actual Total Time" in raw else None
    )
    inner = processes
    if kind in ("Gather", "Gather Merge") and "Workers Launched" in raw:
        inner = int(raw["Workers Launched"]) + (0 if raw.get("Single Copy") else 1)
    removed = raw.get("Rows Removed by Filter", 0) + raw.get("Rows Removed by Index Recheck", 0)
    buffers = {
        label: int(raw[key])
        for label, key in (("hit", "Shared Hit Blocks"), ("read", "Shared Read Blocks"))
        if key in raw
    }
    condition = next(
        (
            _unwrap_parens(str(raw[key]))
            for key in (
                "Index Cond",
                "Hash Cond",
                "Merge Cond",
                "Recheck Cond",
                "Filter",
                "Join Filter",
            )
            if key in raw
        ),
        ", ".join(raw.get("Sort Key", [])),
    )
    node = PlanNode(
        operator=("Parallel " if raw.get("Parallel Aware") else "") + kind,
        detail=kind,
        relation=raw.get("Relation Name"),
        index=raw.get("Index Name"),
        access=access,
        covering=kind == "Index Only Scan",
        is_sort=kind in _PG_SORTS,
        condition=condition,
        est_rows=float(raw["Plan Rows"]),
        actual_rows=float(actual) if actual is not None else None,
        loops=loops,
        rows_read=(actual + removed) * (loops or 1) if access and actual is not None else None,
        time_ms=time_ms,
        buffers=buffers or None,
        children=[_pg_node(child, max(inner, 1)) for child in raw.get("Plans", [])],
    )
    if node.relation:
        _lend_relation(node, node.relation)
    if time_ms is not None:
        below = sum(child.time_ms or 0.0 for child in node.children)
        node.self_ms = max(time_ms - below, 0.0)
    return node


def _postgres(conn: sa.Connection, text: str, args: Any, analyze: bool) -> Plan:
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    value = conn.exec_driver_sql(f"EXPLAIN ({options}) {text}", args).scalar_one()
    document = (json.loads(value) if isinstance(value, str) else value)[0]
    root = _pg_node(document["Plan"])
    total = document.get("Execution Time")
    rows = int(root.actual_rows) if analyze and root.actual_rows is not None else None
    return Plan("postgres", text, root, total, analyze, rows, document)


# --- DuckDB: EXPLAIN ANALYZE with JSON profiling; timings are exclusive per operator.

_DUCK_WRAPPERS = {"RESULT_COLLECTOR", "EXPLAIN_ANALYZE", "QUERY"}
_DUCK_SORTS = {"ORDER_BY", "TOP_N"}


def _duck_field(raw: dict[str, Any], *keys: str) -> Any:
    """The first of `keys` present: field names moved between DuckDB releases."""
    return next((raw[key] for key in keys if key in raw), None)


def _number(value: Any) -> float | None:
    """A row count from text such as "98" or "~1,200"; None when there is none."""
    digits = re.sub(r"[^0-9.]", "", str(value)) if value is not None else ""
    return float(digits) if digits else None


def _duck_node(raw: dict[str, Any]) -> PlanNode:
    kind = str(_duck_field(raw, "type", "operator_type", "name") or "?").strip()
    extra = raw.get("extra_info")
    extra = extra if isinstance(extra, dict) else {}  # a plain string before DuckDB 1.1
    scan_type = str(extra.get("Type", ""))
    access: Access | None = None
    if kind in ("TABLE_SCAN", "SEQ_SCAN"):
        access = "index search" if "Index" in scan_type else "full scan"
    table = extra.get("Table")
    estimate = extra.get("Estimated Cardinality")
    rows = _duck_field(raw, "intermediate_rows", "operator_cardinality")
    seconds = _duck_field(raw, "timing", "operator_timing")
    condition = next(
        (extra[key] for key in ("Filters", "Conditions", "Order By", "Groups") if key in extra), ""
    )
    if "Dynamic Filters" in extra:  # filters a join pushes into the scan at run time
        condition = f"{condition} {extra['Dynamic Filters']}".strip()
    node = PlanNode(
        operator=kind,
        detail=scan_type or kind,
        relation=unquote(str(table).split(".")[-1]) if table else None,
        index="ART index" if access == "index search" else None,
        access=access,
        is_sort=kind in _DUCK_SORTS,
        condition=", ".join(condition) if isinstance(condition, list) else str(condition),
        est_rows=_number(estimate),
        actual_rows=float(rows) if rows is not None else None,
        rows_read=float(raw["rows_scanned"]) if "rows_scanned" in raw else None,
        self_ms=float(seconds) * 1000 if seconds is not None else None,
        children=[_duck_node(child) for child in raw.get("children", [])],
    )
    if node.self_ms is not None:
        node.time_ms = node.self_ms + sum(child.time_ms or 0.0 for child in node.children)
    return node


def _duck_unwrap(node: PlanNode) -> PlanNode:
    """Drop the profiler's wrappers and fold pure projections into their input."""
    while node.operator in _DUCK_WRAPPERS and len(node.children) == 1:
        node = node.children[0]
    node.children = [_duck_unwrap(child) for child in node.children]
    if node.operator == "PROJECTION" and len(node.children) == 1:
        child = node.children[0]
        if node.self_ms is not None and child.self_ms is not None:
            child.self_ms += node.self_ms
            child.time_ms = node.time_ms
        return child
    return node


def _name_duck_indexes(conn: sa.Connection, plan: Plan) -> None:
    """DuckDB's plan says only "Index Scan"; name the index when one matches the filter."""
    searches = [n for n in plan.nodes() if n.access == "index search" and n.relation]
    if not searches:
        return
    # Primary keys and unique constraints have ART indexes too, not listed by duckdb_indexes().
    query = (
        "SELECT index_name, table_name, expressions FROM duckdb_indexes() UNION ALL "
        "SELECT lower(constraint_type), table_name, CAST(constraint_column_names AS VARCHAR) "
        "FROM duckdb_constraints() WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
    )
    indexes = [(str(n), str(t), str(e)) for n, t, e in conn.exec_driver_sql(query).fetchall()]
    for node in searches:
        # The leading column decides whether an ART index can serve the filter (a join's
        # dynamic filter included).
        names = [
            name
            for name, table, expressions in indexes
            if table == node.relation
            and (lead := re.findall(r"\w+", expressions)[:1])
            and re.search(rf"\b{re.escape(lead[0])}\b", node.condition)
        ]
        node.index = names[0] if len(names) == 1 else "ART index"


def _duckdb(conn: sa.Connection, text: str, args: Any, analyze: bool) -> Plan:
    # EXPLAIN (ANALYZE, FORMAT JSON) profiles this statement only: no profiler setting is
    # left on for the pooled connection.
    document: Any = None
    tops: list[Any] = []
    seconds = count = None
    if analyze:
        document = json.loads(_run(conn, "EXPLAIN (ANALYZE, FORMAT JSON) " + text, args)[0][1])
        tops = document.get("operator") or document.get("children") or []
        query = document.get("query") or {}
        seconds = query.get("total_time", document.get("latency"))
    if not tops:  # not analyzed, or a statement the profiler does not cover (bare count(*))
        document = json.loads(_run(conn, "EXPLAIN (FORMAT JSON) " + text, args)[0][1])
        tops = document if isinstance(document, list) else []
        if analyze:
            total_ms, count = _timed(conn, text, args)
            seconds = total_ms / 1000
    if not tops:
        raise ExplainError(
            f"DuckDB returned a plan without operators for {text[:80]!r} (DuckDB "
            f"{conn.exec_driver_sql('SELECT version()').scalar()}). Upgrade duckdb to 1.1 or later."
        )
    root = _duck_unwrap(_duck_node(tops[0]))
    total = float(seconds) * 1000 if seconds is not None else None
    result = root
    while result.operator == "CTE" and result.children:  # materialises first, answers last
        result = result.children[-1]
    if count is None and analyze and result.actual_rows is not None:
        count = int(result.actual_rows)
    plan = Plan("duckdb", text, root, total, analyze, count, document)
    _name_duck_indexes(conn, plan)
    return plan


# --- MySQL/MariaDB: EXPLAIN FORMAT=JSON; MariaDB's ANALYZE FORMAT=JSON adds rows and times.

_MYSQL_SEARCH = {
    "const",
    "system",
    "eq_ref",
    "ref",
    "ref_or_null",
    "range",
    "index_merge",
    "fulltext",
    "unique_subquery",
    "index_subquery",
}
_MYSQL_WRAPPERS = {
    "nested_loop": "NESTED LOOP",
    "block-nl-join": "BLOCK NESTED LOOP JOIN",
    "union_result": "UNION",
    "duplicates_removal": "DISTINCT",
    "grouping_operation": "GROUP BY",
    "temporary_table": "TEMPORARY TABLE",
}


def _mysql_table(raw: dict[str, Any], aliased: dict[str, str], real: dict[str, str]) -> PlanNode:
    """One `table` entry: how MySQL reads it, by alias resolved to the real table."""
    name = str(raw.get("table_name", "?"))
    table = real.get(aliased.get(name.lower(), name).lower())
    kind = str(raw.get("access_type", "")).removeprefix("hash_")
    access: Access | None = None
    if table is not None:
        if kind == "ALL":
            access = "full scan"
        elif kind == "index":
            access = "index scan"
        elif kind in _MYSQL_SEARCH:
            access = "index search"
    loops = raw.get("r_loops")
    actual = raw.get("r_rows")
    est = raw.get("rows", raw.get("rows_examined_per_scan"))
    rows_read = float(actual) * float(loops or 1) if access and actual is not None else None
    self_ms = raw.get("r_table_time_ms")
    if self_ms is not None:
        self_ms = float(self_ms) + float(raw.get("r_other_time_ms", 0.0))
    return PlanNode(
        operator=kind or "TABLE",
        detail=name,
        relation=table or name,
        index=raw.get("key") if access and access != "full scan" else None,
        access=access,
        covering=bool(raw.get("using_index")),
        reads_all=access == "index scan",
        condition=str(raw.get("attached_condition", "")),
        est_rows=float(est) if est is not None else None,
        actual_rows=float(actual) if actual is not None else None,
        loops=int(loops) if loops is not None else None,
        rows_read=rows_read,
        self_ms=self_ms,
        children=_mysql_children(raw, aliased, real),
    )


def _mysql_children(
    raw: dict[str, Any], aliased: dict[str, str], real: dict[str, str]
) -> list[PlanNode]:
    """Nodes for what a JSON object holds: tables, loops, sorts and nested query blocks."""
    found: list[PlanNode] = []
    for key, value in raw.items():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    found.extend(_mysql_children(item, aliased, real))
            continue
        if not isinstance(value, dict):
            continue
        if key == "table" and "table_name" in value:
            found.append(_mysql_table(value, aliased, real))
        elif key in ("filesort", "ordering_operation") and (
            key == "filesort" or value.get("using_filesort")
        ):
            found.append(
                PlanNode(
                    operator="SORT",
                    detail=key,
                    is_sort=True,
                    self_ms=float(value["r_total_time_ms"]) if "r_total_time_ms" in value else None,
                    condition=str(value.get("sort_key", "")),
                    children=_mysql_children(value, aliased, real),
                )
            )
        elif key == "query_block":
            found.append(
                PlanNode(
                    operator=f"SELECT #{value.get('select_id', '?')}",
                    detail=str(value.get("operation", "query block")),
                    condition=str(value.get("having_condition", "")),
                    children=_mysql_children(value, aliased, real),
                )
            )
        elif key in _MYSQL_WRAPPERS:
            found.append(
                PlanNode(
                    operator=_MYSQL_WRAPPERS[key],
                    detail=key,
                    condition=str(value.get("attached_condition", "")),
                    children=_mysql_children(value, aliased, real),
                )
            )
        else:
            found.extend(_mysql_children(value, aliased, real))
    return found


def _mysql_times(node: PlanNode) -> None:
    """Inclusive times from MariaDB's per-table and per-sort times, children first."""
    for child in node.children:
        _mysql_times(child)
    below = [child.time_ms for child in node.children if child.time_ms is not None]
    if node.self_ms is not None or below:
        node.time_ms = (node.self_ms or 0.0) + sum(below)


def _mysql(conn: sa.Connection, text: str, args: Any, analyze: bool) -> Plan:
    names = conn.exec_driver_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = database()"
    )
    real = {str(name).lower(): str(name) for (name,) in names}
    mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
    total_ms = count = None
    if analyze and mariadb:  # runs the statement and reports rows and times per table
        value = conn.exec_driver_sql("ANALYZE FORMAT=JSON " + text, args).scalar_one()
    else:
        value = conn.exec_driver_sql("EXPLAIN FORMAT=JSON " + text, args).scalar_one()
    if analyze:  # the statement's own time and row count, as for SQLite
        total_ms, count = _timed(conn, text, args)
    document = json.loads(value)
    blocks = _mysql_children({"query_block": document["query_block"]}, aliases(text), real)
    root = blocks[0] if len(blocks) == 1 else PlanNode("QUERY", children=blocks)
    _mysql_times(root)
    if total_ms is not None and count is not None:  # the remainder is the statement's own
        below = sum(child.time_ms or 0.0 for child in root.children)
        root.time_ms, root.self_ms = total_ms, max(total_ms - below, 0.0)
        root.actual_rows = float(count)
    return Plan("mysql", text, root, total_ms, analyze, count, document)
