"""Pure ASGI middleware: request ids, access log, metrics, security headers, body guard.

Pure ASGI rather than ``BaseHTTPMiddleware``: these run on every request, and the
task-and-stream machinery of ``BaseHTTPMiddleware`` costs more than the work they do.
"""

from __future__ import annotations

import os
import re
import sys
import time
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sample_service import metrics
from sample_service.api.problems import error_response
from sample_service.errors import PayloadTooLarge, UnsupportedMediaType

_REQUEST_ID_OK = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
]
# The API serves JSON only; the interactive docs page needs scripts and styles.
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_DOCS_PATHS = ("/docs", "/redoc")  # and /docs-assets


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def route_template(scope: Scope) -> str:
    """The matched route's template (``/v1/products/{product_id}``): bounded label values."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestContextMiddleware:
    """Give every request an id, then log, count and time it once it is answered.

    An incoming ``X-Request-ID`` is kept when it looks sane so ids follow a call
    across services; otherwise one is made. The id is echoed on the response and
    stored in ``scope["state"]`` where error handlers and logs read it.
    """

    def __init__(self, app: ASGIApp, *, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        if incoming is not None and _REQUEST_ID_OK.match(incoming):
            request_id = incoming.decode()
        else:
            request_id = os.urandom(16).hex()  # 128 random bits, cheaper than uuid4()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        rid_header = (b"x-request-id", request_id.encode())
        extra = (
            _SECURITY_HEADERS
            if scope["path"].startswith(_DOCS_PATHS)
            else [
                *_SECURITY_HEADERS,
                _API_CSP,
            ]
        )
        status = 500

        async def send_with_context(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header, *extra]
            await send(message)

        start = time.perf_counter()
        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_context)
        finally:
            metrics.IN_FLIGHT.dec()
            duration = time.perf_counter() - start
            route = route_template(scope)
            metrics.observe(scope["method"], route, status, duration)
            if self.log_requests:
                self._log(scope, route, status, duration, state)

    @staticmethod
    def _log(scope: Scope, route: str, status: int, duration: float, state: dict[str, Any]) -> None:
        """One JSON line per request on stdout; never headers or bodies, so no password or token.

        Written straight to ``sys.stdout`` and built with the C string encoder, not through
        ``logging`` and ``json.dumps``: measured on 2 cores, a LogRecord plus a generic
        encode cost a fifth of a cached product read, and this line has one destination.
        """
        user_id = state.get("user_id")
        _write_line(
            f'{{"event":"request","method":{_json_str(scope["method"])},'
            f'"route":{_json_str(route)},"path":{_json_str(scope["path"])},'
            f'"status":{int(status)},"duration_ms":{duration * 1000:.3f},'
            f'"request_id":{_json_str(state["request_id"])},'
            f'"user_id":{int(user_id) if user_id is not None else "null"}}}'
        )


def _write_line(line: str) -> None:
    """Write and flush at once, so a supervisor reading stdout sees each request as it ends."""
    stream = sys.stdout  # looked up per call: tests and notebooks may swap it
    stream.write(line + "\n")
    stream.flush()


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ACCEPTED_TYPES = (b"application/json", b"application/x-www-form-urlencoded")


def _is_accepted_type(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media in _ACCEPTED_TYPES or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


class BodyGuardMiddleware:
    """Refuse bodies that are too large (413) or not JSON/form (415) before any handler runs."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        chunked = _header(scope, b"transfer-encoding") is not None
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            detail = f"body of {int(length)} bytes exceeds the limit of {self.max_body_bytes}"
            await error_response(Request(scope), PayloadTooLarge(detail))(scope, receive, send)
            return
        has_body = chunked or (length is not None and length not in (b"", b"0"))
        content_type = _header(scope, b"content-type")
        if has_body and (content_type is None or not _is_accepted_type(content_type)):
            seen = content_type.decode("latin-1") if content_type else "none"
            detail = f"content-type {seen} is not accepted; send application/json"
            refusal = UnsupportedMediaType(detail)
            await error_response(Request(scope), refusal)(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        """Count streamed bytes too: a chunked body has no Content-Length to check up front."""
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # Raised inside the route's body read. FastAPI turns any other exception
                    # there into a 400, so this is an HTTPException, which the problem
                    # handler renders as PayloadTooLarge like the check above.
                    raise HTTPException(413, f"body exceeds {self.max_body_bytes} bytes")
            return message

        return counted
