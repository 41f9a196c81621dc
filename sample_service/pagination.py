"""Opaque cursors and keyset predicates for stable, index-friendly pagination.

A cursor holds the sort key and id of the last row served, so the next page is
``WHERE (key, id) > (last_key, last_id)``: its cost does not grow with depth the
way ``OFFSET`` does, and rows inserted meanwhile do not shift pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from sample_service.errors import BadRequest
from sample_service.models import MAX_ID
from sample_service.text import has_control_characters

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended, for one sort order."""

    sort: str
    value: Any
    last_id: int

    def encode(self) -> str:
        """Base64url JSON: opaque to clients, cheap to check."""
        raw = json.dumps([self.sort, self.value, self.last_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, sort: str, value_type: type[int] | type[str] = int) -> Cursor:
        """Parse a cursor made by ``encode`` for the same sort; 400 problem otherwise.

        A cursor comes back from the client, so every part is checked as strictly as a
        request body: a forged one (a huge number, a boolean, a null) is a 400, never a
        query the database refuses.
        """
        try:
            padded = token + "=" * (-len(token) % 4)
            parsed = json.loads(base64.urlsafe_b64decode(padded.encode()))
            cursor_sort, value, last_id = parsed
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise BadRequest(
                f"cursor {token[:40]!r} is not one this API issued; use the `next` link as given"
            ) from None
        if cursor_sort != sort:
            raise BadRequest(
                f"cursor was issued for sort={cursor_sort!r}, not sort={sort!r}; "
                "restart from the first page"
            )
        if not (_is_id(last_id) and _is_value(value, value_type)):
            raise BadRequest(
                f"cursor {token[:40]!r} is not one this API issued; use the `next` link as given"
            )
        return cls(sort=sort, value=value, last_id=last_id)


def _is_id(value: object) -> bool:
    """A row id as the API issues them: an int (not a bool) from 1 to ``MAX_ID``."""
    return type(value) is int and 1 <= value <= MAX_ID


def _is_value(value: object, value_type: type[int] | type[str]) -> bool:
    """A sort key of the expected type that the database can compare and store."""
    if value_type is str:
        return type(value) is str and not has_control_characters(value)
    return type(value) is int and -MAX_ID - 1 <= value <= MAX_ID


def after(
    column: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[Any],
    cursor: Cursor,
    *,
    descending: bool,
) -> ColumnElement[bool]:
    """Rows strictly after the cursor in ``(column, id)`` order, id breaking ties."""
    if column is id_column:
        return id_column < cursor.last_id if descending else id_column > cursor.last_id
    if descending:
        return or_(column < cursor.value, and_(column == cursor.value, id_column < cursor.last_id))
    return or_(column > cursor.value, and_(column == cursor.value, id_column > cursor.last_id))


def next_link(request: Request, response: Response, **query: str | int | None) -> str | None:
    """The next page's URL (this one's with ``query`` set), also sent as RFC 8288 ``Link``.

    None, and no header, when every value is None: this is the last page.
    """
    params = {name: value for name, value in query.items() if value is not None}
    if not params:
        return None
    url = str(request.url.include_query_params(**params))
    response.headers["Link"] = f'<{url}>; rel="next"'
    return url


def first_per_parent(
    stmt: Select[Any],
    parent: InstrumentedAttribute[Any],
    order: ColumnElement[Any] | InstrumentedAttribute[Any],
    *,
    parent_ids: list[int],
    limit: int,
) -> Select[Any]:
    """The first ``limit`` rows of ``stmt`` per parent id in one query (a window function).

    What a DataLoader needs for a to-many hop: one statement for a whole page of
    parents, instead of one per parent.
    """
    entity = stmt.column_descriptions[0]["entity"]
    rank = func.row_number().over(partition_by=parent, order_by=order).label("rank")
    ranked = stmt.where(parent.in_(parent_ids)).add_columns(rank).subquery()
    return (
        select(entity)
        .join(ranked, entity.id == ranked.c.id)
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c[parent.key], ranked.c.rank)
    )
