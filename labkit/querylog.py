"""Counting the SQL a block of code or a request runs, so N+1 loading shows as a number.

>>> with lk.count_queries(db) as q:
...     orders = session.scalars(select(Order)).all()
...     _ = [o.items for o in orders]
>>> q.count, q.repeated()
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from typing import Any

import httpx
import sqlalchemy as sa

from labkit._types import DatabaseLike
from labkit.errors import QueryLogError

__all__ = ["QUERY_COUNT_HEADER", "QueryLog", "QueryLogError", "count_queries", "request_queries"]

#: The response header the sample service sets in lab mode: statements run for this request.
QUERY_COUNT_HEADER = "X-DB-Queries"

_SPACES = re.compile(r"\s+")


@dataclass
class QueryLog:
    """The statements one block ran, in order; `count` is what N+1 lessons watch."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many statements ran."""
        return len(self.statements)

    def repeated(self, at_least: int = 2) -> dict[str, int]:
        """Statements that ran `at_least` times, most frequent first: the N in N+1."""
        counts = Counter(self.statements)
        return {sql: n for sql, n in counts.most_common() if n >= at_least}

    def __repr__(self) -> str:
        repeats = self.repeated()
        most = f"; most repeated x{next(iter(repeats.values()))}" if repeats else ""
        return f"<QueryLog {self.count} statements{most}>"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:right'>{n}</td><td><code>{escape(sql[:200])}</code></td></tr>"
            for sql, n in Counter(self.statements).most_common()
        )
        return (
            f"<p><b>{self.count}</b> statements</p><table><tr><th>times</th>"
            f"<th>statement</th></tr>{rows}</table>"
        )


def _engine_of(target: object) -> sa.Engine:
    """The sync Engine behind an Engine, Connection, Session, async engine or session, or Database."""
    if isinstance(target, sa.Engine):
        return target
    if isinstance(target, sa.Connection):
        return target.engine
    for attribute in ("sync_engine", "engine", "bind"):
        inner = getattr(target, attribute, None)
        if inner is not None and inner is not target:
            return _engine_of(inner)
    get_bind = getattr(target, "get_bind", None)
    if callable(get_bind):
        return _engine_of(get_bind())
    raise QueryLogError(
        f"count_queries() needs an Engine, Session, Connection or labkit Database; got "
        f"{type(target).__name__}. Pass e.g. `db.engine` or your Session."
    )


@contextmanager
def count_queries(target: DatabaseLike) -> Iterator[QueryLog]:
    """Record every statement `target`'s engine runs inside the block.

    Taught in 05_orm_and_n_plus_one.

    `target` is an Engine, Connection, Session, AsyncEngine, AsyncSession or labkit Database.
    Statements are kept with whitespace collapsed, so repeats compare equal.

    >>> with lk.count_queries(db) as q:
    ...     ...
    >>> assert q.count == 2, q
    """
    engine = _engine_of(target)
    log = QueryLog()

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        log.statements.append(_SPACES.sub(" ", statement).strip())

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def request_queries(response: httpx.Response) -> int:
    """How many SQL statements the service ran for this response (lab mode only).

    Taught in 05_orm_and_n_plus_one.

    >>> r = svc.client().get("/v1/orders", headers=auth)
    >>> lk.request_queries(r)
    """
    value = response.headers.get(QUERY_COUNT_HEADER)
    if value is None:
        raise QueryLogError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} without a {QUERY_COUNT_HEADER} header: the service counts "
            f"queries only in lab mode. Start it with LiveService(settings={{'lab_mode': True}})."
        )
    return int(value)
