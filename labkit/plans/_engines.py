"""Running EXPLAIN on SQLite, PostgreSQL and DuckDB and parsing each into a `Plan`."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import sqlalchemy as sa

from labkit.errors import LabkitError
from labkit.plans._model import Access, Plan, PlanNode

Params = dict[str, Any] | None
_KINDS = {"sqlite": "sqlite", "postgresql": "postgres", "duckdb": "duckdb"}


class ExplainError(LabkitError):
    """EXPLAIN could not run or its output could not be read."""


def target(db: Any) -> tuple[sa.Engine, str]:
    """The engine and kind ("sqlite", "postgres", "duckdb") behind a Database or an Engine."""
    engine = getattr(db, "engine", db)
    if not isinstance(engine, sa.Engine):
        raise ExplainError(
            f"expected a labkit Database or a SQLAlchemy Engine, got {type(db).__name__}. "
            f"Create one with `lk.database('sqlite')`."
        )
    kind = _KINDS.get(engine.dialect.name)
    if kind is None:
        raise ExplainError(
            f"EXPLAIN is supported on SQLite, PostgreSQL and DuckDB; this engine is "
            f"{engine.dialect.name!r}. Use `lk.database('sqlite' | 'postgres' | 'duckdb')`."
        )
    return engine, kind


def driver_sql(engine: sa.Engine, sql: Any, params: Params) -> tuple[str, Any]:
    """Compile text or a SQLAlchemy statement to the driver's SQL and parameters."""
    try:
        statement = sa.text(sql).bindparams(**(params or {})) if isinstance(sql, str) else sql
        compiled = statement.compile(
            dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
        )
        values = compiled.construct_params(None if isinstance(sql, str) else params)
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


def explain_plan(db: Any, sql: Any, params: Params, analyze: bool) -> Plan:
    """EXPLAIN `sql` on whichever engine `db` is, parsed into one Plan tree."""
    engine, kind = target(db)
    text, args = driver_sql(engine, sql, params)
    runner = {"sqlite": _sqlite, "postgres": _postgres, "duckdb": _duckdb}[kind]
    shown = sql if isinstance(sql, str) else text
    try:
        with engine.connect() as conn:
            plan = runner(conn, text, args, analyze)
            conn.rollback()  # EXPLAIN ANALYZE of a write must not stick
        plan.sql = shown  # as the reader wrote it, not the driver's placeholders
    except sa.exc.DBAPIError as error:
        first = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise ExplainError(
            f"{kind} could not EXPLAIN {shown[:80]!r}: {first}. Check the SQL runs as is "
            f"on {kind} (table names, placeholders like :name) and that the data is seeded."
        ) from None
    return plan


def fastest_plan(db: Any, sql: Any, params: Params, repeat: int) -> Plan:
    """The fastest of `repeat` analyzed runs: the first run also warms caches."""
    plans = [explain_plan(db, sql, params, analyze=True) for _ in range(max(repeat, 1))]
    return min(plans, key=lambda plan: plan.total_ms if plan.total_ms is not None else float("inf"))


# --- SQLite: EXPLAIN QUERY PLAN gives structure only; time comes from running the query.

_SQLITE_ACCESS = re.compile(
    r"^(?P<op>SCAN|SEARCH) (?P<rel>\S+)(?: USING (?P<how>.*?INDEX|INTEGER PRIMARY KEY|PRIMARY KEY)"
    r"(?: (?P<index>(?!\()\S+))?)?(?: \((?P<cond>.*)\))?$"
)
_ALIAS = re.compile(
    r"\b(?:FROM|JOIN)\s+\"?(?P<table>\w+)\"?(?:\s+(?:AS\s+)?\"?(?P<alias>\w+)\"?)?", re.I
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
}


def aliases(sql: str) -> dict[str, str]:
    """Map each alias (and table name) in FROM/JOIN clauses to its table."""
    found: dict[str, str] = {}
    for match in _ALIAS.finditer(sql):
        table, alias = match["table"], match["alias"]
        found[table.lower()] = table
        if alias and alias.lower() not in _NOT_ALIASES:
            found[alias.lower()] = table
    return found


def _sqlite_node(detail: str, tables: dict[str, str]) -> PlanNode:
    match = _SQLITE_ACCESS.match(detail)
    if match is None:
        sort = detail.startswith("USE TEMP B-TREE")
        operator = detail.replace("USE TEMP B-TREE FOR", "TEMP B-TREE FOR") if sort else detail
        return PlanNode(operator=operator, detail=detail, is_sort=sort and "ORDER BY" in detail)
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
    relation = tables.get(match["rel"].lower(), match["rel"])
    return PlanNode(
        operator=match["op"],
        detail=detail,
        relation=relation,
        index=index,
        access=access,
        covering="COVERING" in how or "PRIMARY KEY" in how,
        condition=match["cond"] or "",
    )


def _sqlite(conn: sa.Connection, text: str, args: Any, analyze: bool) -> Plan:
    # pysqlite caches statements and SQLite never re-plans a cached EXPLAIN after a schema
    # change; naming the schema version in the SQL keeps the cache honest.
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    rows = _run(conn, f"EXPLAIN QUERY PLAN {text}\n/* schema {version} */", args)
    tables = aliases(text)
    root = PlanNode(operator="QUERY", detail="the statement")
    by_id: dict[int, PlanNode] = {0: root}
    for node_id, parent, _unused, detail in rows:
        node = _sqlite_node(str(detail), tables)
        by_id[int(node_id)] = node
        by_id.get(int(parent), root).children.append(node)
    for node in by_id.values():
        if node.is_full_scan and node.relation:
            quoted = conn.dialect.identifier_preparer.quote(node.relation)
            node.est_rows = float(
                conn.exec_driver_sql(f"SELECT count(*) FROM {quoted}").scalar_one()
            )
    total_ms = count = None
    if analyze:
        start = time.perf_counter()
        result = conn.exec_driver_sql(text, args)
        count = len(result.fetchall()) if result.returns_rows else result.rowcount
        total_ms = (time.perf_counter() - start) * 1000
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


def _pg_node(raw: dict[str, Any]) -> PlanNode:
    kind = str(raw["Node Type"])
    access: Access | None = None
    if kind == "Seq Scan":
        access = "full scan"
    elif kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        access = "index search" if "Index Cond" in raw else "index scan"
    loops = int(raw["Actual Loops"]) if "Actual Loops" in raw else None
    actual = raw.get("Actual Rows")
    time_ms = raw["Actual Total Time"] * (loops or 1) if "Actual Total Time" in raw else None
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
        children=[_pg_node(child) for child in raw.get("Plans", [])],
    )
    for child in node.children:  # a bitmap index scan names only its index
        if child.relation is None and child.access and node.relation:
            child.relation = node.relation
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
    node = PlanNode(
        operator=kind,
        detail=scan_type or kind,
        relation=str(table).split(".")[-1] if table else None,
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
    query = "SELECT index_name, table_name, expressions FROM duckdb_indexes()"
    indexes = [(str(n), str(t), str(e)) for n, t, e in conn.exec_driver_sql(query).fetchall()]
    for node in searches:
        names = [
            name
            for name, table, expressions in indexes
            if table == node.relation
            and any(
                re.search(rf"\b{re.escape(col)}\b", node.condition)
                for col in re.findall(r"\w+", expressions)
            )
        ]
        node.index = names[0] if len(names) == 1 else "ART index"


def _duckdb(conn: sa.Connection, text: str, args: Any, analyze: bool) -> Plan:
    if analyze:
        conn.exec_driver_sql("PRAGMA enable_profiling='json'")
        try:
            rows = _run(conn, "EXPLAIN ANALYZE " + text, args)
        finally:
            conn.exec_driver_sql("PRAGMA disable_profiling")
        document = json.loads(rows[0][1])
        tops = document.get("operator") or document.get("children") or []
        query = document.get("query") or {}
        seconds = query.get("total_time", document.get("latency"))
    else:
        rows = _run(conn, "EXPLAIN (FORMAT JSON) " + text, args)
        document = json.loads(rows[0][1])
        tops, seconds = document, None
    if not tops:
        raise ExplainError(
            f"DuckDB returned a plan without operators for {text[:80]!r} (DuckDB "
            f"{conn.exec_driver_sql('SELECT version()').scalar()}). Upgrade duckdb to 1.1 or later."
        )
    root = _duck_unwrap(_duck_node(tops[0]))
    total = float(seconds) * 1000 if seconds is not None else None
    count = int(root.actual_rows) if analyze and root.actual_rows is not None else None
    plan = Plan("duckdb", text, root, total, analyze, count, document)
    _name_duck_indexes(conn, plan)
    return plan
