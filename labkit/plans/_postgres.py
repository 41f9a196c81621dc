"""PostgreSQL: EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) gives everything per node."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from labkit.plans._model import Access, Plan, PlanNode

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


def read(conn: sa.Connection, text: str, args: Any, analyze: bool) -> Plan:
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    value = conn.exec_driver_sql(f"EXPLAIN ({options}) {text}", args).scalar_one()
    document = (json.loads(value) if isinstance(value, str) else value)[0]
    root = _pg_node(document["Plan"])
    total = document.get("Execution Time")
    rows = int(root.actual_rows) if analyze and root.actual_rows is not None else None
    return Plan("postgres", text, root, total, analyze, rows, document)
