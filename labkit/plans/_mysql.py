"""MySQL/MariaDB: EXPLAIN FORMAT=JSON; MariaDB's ANALYZE FORMAT=JSON adds rows and times."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from labkit.plans._model import Access, Plan, PlanNode
from labkit.plans._sql import aliases, timed

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


def read(conn: sa.Connection, text: str, args: Any, analyze: bool) -> Plan:
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
        total_ms, count = timed(conn, text, args)
    document = json.loads(value)
    blocks = _mysql_children({"query_block": document["query_block"]}, aliases(text), real)
    root = blocks[0] if len(blocks) == 1 else PlanNode("QUERY", children=blocks)
    _mysql_times(root)
    if total_ms is not None and count is not None:  # the remainder is the statement's own
        below = sum(child.time_ms or 0.0 for child in root.children)
        root.time_ms, root.self_ms = total_ms, max(total_ms - below, 0.0)
        root.actual_rows = float(count)
    return Plan("mysql", text, root, total_ms, analyze, count, document)
