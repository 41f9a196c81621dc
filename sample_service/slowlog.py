"""The slow-query log: statements over a threshold as JSON lines, parameters redacted.

Each line names the request it ran for (and, with tracing on, that id is the trace id),
so a slow statement leads to its access-log line and its trace. Parameter values can
hold e-mails or tokens, so only their types are written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, event

from sample_service.middleware import current_request_id, write_line

_STARTED = "slowlog_started"


def install(engine: Engine, threshold_ms: float) -> None:
    """Log every statement on `engine` that takes longer than `threshold_ms`."""

    @event.listens_for(engine, "before_cursor_execute")
    def _start(
        conn: Any, _cursor: Any, _sql: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        conn.info[_STARTED] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _finish(conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, _many: bool) -> None:
        elapsed_ms = (time.perf_counter() - conn.info.pop(_STARTED)) * 1000
        if elapsed_ms >= threshold_ms:
            write_line(slow_query_line(sql, params, elapsed_ms, current_request_id()))


def slow_query_line(sql: str, params: Any, duration_ms: float, request_id: str | None) -> str:
    """One slow-query record as a JSON line."""
    return json.dumps(
        {
            "event": "slow_query",
            "duration_ms": round(duration_ms, 3),
            "statement": " ".join(sql.split()),
            "parameters": redact(params),
            "request_id": request_id,
        }
    )


def redact(params: Any) -> Any:
    """Parameter values replaced by their type names, keeping the shape (names, positions)."""
    if isinstance(params, Mapping):
        return {str(key): type(value).__name__ for key, value in params.items()}
    if isinstance(params, Sequence) and not isinstance(params, str | bytes):
        return [
            redact(value) if isinstance(value, Mapping | list | tuple) else type(value).__name__
            for value in params
        ]
    return type(params).__name__
