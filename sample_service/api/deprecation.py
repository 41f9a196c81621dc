"""Deprecating an API version in the response itself: RFC 9745 and RFC 8594 headers.

A client that reads ``Deprecation`` learns the resource is on its way out, ``Sunset`` says
when it stops answering, and ``Link; rel="successor-version"`` where to go instead.
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime
from typing import Any

from starlette.responses import Response

# When /v1 order reads were deprecated, and the day they stop answering.
ORDERS_V1_DEPRECATED_AT = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
ORDERS_V1_SUNSET_AT = dt.datetime(2027, 6, 30, 23, 59, 59, tzinfo=dt.UTC)

DEPRECATED_HEADERS: dict[str, Any] = {
    "Deprecation": {
        "description": "RFC 9745: when this operation was deprecated (`@` Unix seconds)",
        "schema": {"type": "string", "examples": ["@1793491200"]},
    },
    "Sunset": {
        "description": "RFC 8594: when this operation stops answering (an HTTP-date)",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'The successor: `<…>; rel="successor-version"` (and `rel="next"` on pages)',
        "schema": {"type": "string"},
    },
}


def add_link(response: Response, href: str, rel: str) -> None:
    """Append one RFC 8288 link; several links share the header as a comma-separated list."""
    link = f'<{href}>; rel="{rel}"'
    existing = response.headers.get("Link")
    response.headers["Link"] = f"{existing}, {link}" if existing else link


def deprecate(response: Response, *, successor: str) -> None:
    """Mark this response as coming from a deprecated operation replaced by ``successor``."""
    response.headers["Deprecation"] = f"@{int(ORDERS_V1_DEPRECATED_AT.timestamp())}"
    response.headers["Sunset"] = format_datetime(ORDERS_V1_SUNSET_AT, usegmt=True)
    add_link(response, successor, "successor-version")
