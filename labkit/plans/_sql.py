"""SQL as text and as a statement: names and aliases read from the query, and the query run."""

from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

#: An identifier as SQL writes it: bare, or quoted the ANSI, MySQL or SQL Server way.
NAME = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|\w+)'
_ALIAS = re.compile(
    rf"(?P<lead>\bFROM|\bJOIN|,)\s+(?:{NAME}\s*\.\s*)?(?P<table>{NAME})"
    rf"(?:\s+(?:AS\s+)?(?P<alias>{NAME}))?",
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


def run(conn: sa.Connection, sql: str, args: Any) -> list[Any]:
    """Run a statement and fetch every row."""
    return list(conn.exec_driver_sql(sql, args).fetchall())


def timed(conn: sa.Connection, text: str, args: Any) -> tuple[float, int]:
    """Run the statement itself: (milliseconds, rows returned or affected)."""
    start = time.perf_counter()
    result = conn.exec_driver_sql(text, args)
    count = len(result.fetchall()) if result.returns_rows else result.rowcount
    return (time.perf_counter() - start) * 1000, count
