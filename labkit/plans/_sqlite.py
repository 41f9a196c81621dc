"""SQLite: EXPLAIN QUERY PLAN gives structure only; time comes from running the query."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import sqlalchemy as sa

from labkit.plans._model import Access, Plan, PlanNode
from labkit.plans._sql import aliases, timed, unquote

_SQLITE_ACCESS = re.compile(
    r"^(?P<op>SCAN|SEARCH) (?:TABLE )?(?P<rel>.+?)(?: AS (?P<as>\S+))?"
    r"(?: USING (?P<how>.*?INDEX|INTEGER PRIMARY KEY|PRIMARY KEY)(?: (?P<index>(?!\()\S+))?)?"
    r"(?: \((?P<cond>.*)\))?$"
)
_JOIN_FLAG = re.compile(r" (?:LEFT|RIGHT)-JOIN$")
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


def read(conn: sa.Connection, text: str, args: Any, analyze: bool) -> Plan:
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
        total_ms, count = timed(conn, text, args)
        root.actual_rows = float(count)
        root.time_ms = total_ms
    return Plan("sqlite", text, root, total_ms, analyze, count, rows)
