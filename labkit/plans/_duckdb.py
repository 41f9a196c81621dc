"""DuckDB: EXPLAIN (ANALYZE, FORMAT JSON); timings are exclusive per operator."""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa

from labkit.errors import ExplainError
from labkit.plans._model import Access, Plan, PlanNode
from labkit.plans._sql import run, timed, unquote

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


def read(conn: sa.Connection, text: str, args: Any, analyze: bool) -> Plan:
    # EXPLAIN (ANALYZE, FORMAT JSON) profiles this statement only: no profiler setting is
    # left on for the pooled connection.
    document: Any = None
    tops: list[Any] = []
    seconds = count = None
    if analyze:
        document = json.loads(run(conn, "EXPLAIN (ANALYZE, FORMAT JSON) " + text, args)[0][1])
        tops = document.get("operator") or document.get("children") or []
        query = document.get("query") or {}
        seconds = query.get("total_time", document.get("latency"))
    if not tops:  # not analyzed, or a statement the profiler does not cover (bare count(*))
        document = json.loads(run(conn, "EXPLAIN (FORMAT JSON) " + text, args)[0][1])
        tops = document if isinstance(document, list) else []
        if analyze:
            total_ms, count = timed(conn, text, args)
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
