"""The mock as an ASGI app: route, check the request, wait the configured latency, answer.

Every answer carries an `X-Request-ID`; a refused request gets RFC 9457 problem+json that
lists each violation. `GET /openapi.json` serves the contract itself (unless the contract
has that path), so contract tests and `lk.contract.load(mock)` find it where FastAPI keeps it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from labkit.contract import Spec
from labkit.mock._requests import Problem, Router, check_request
from labkit.mock._responses import Responder
from labkit.mock._schema import Schemas

__all__ = ["MockApp"]

_log = logging.getLogger("labkit.mock")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class MockApp:
    """Serve `spec` from its examples and schemas; `latency_ms` is fixed or a (low, high) range."""

    def __init__(
        self,
        spec: Spec,
        *,
        latency_ms: float | tuple[float, float] = 0.0,
        security: bool = True,
        seed: int = 0,
    ) -> None:
        self.spec = spec
        self.router = Router(spec)
        self.schemas = Schemas(spec)
        self.responder = Responder(self.schemas)
        self.latency = latency_ms if isinstance(latency_ms, tuple) else (latency_ms, latency_ms)
        self.security = security
        self._random = random.Random(seed)
        self._document = json.dumps(spec.doc, default=str).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        low, high = self.latency
        if high > 0:
            await asyncio.sleep(self._random.uniform(low, high) / 1000)
        try:
            response = await self._answer(request)
        except Problem as problem:
            response = _problem(problem, request, request_id)
        except Exception as error:  # a mock must answer: the log keeps the traceback
            _log.exception("the mock failed on %s %s", request.method, request.url.path)
            failure = Problem(500, "Mock Failure", f"{type(error).__name__}: {str(error)[:200]}")
            response = _problem(failure, request, request_id)
        response.headers["X-Request-ID"] = request_id
        return response

    async def _answer(self, request: Request) -> Response:
        path = request.url.path
        if path == "/openapi.json" and path not in (self.spec.doc.get("paths") or {}):
            return Response(self._document, media_type="application/json")
        op, values = self.router.match(request.method, path)
        await check_request(request, op, values, self.schemas, security=self.security)
        answer = self.responder.answer(
            op,
            accept=request.headers.get("accept", "*/*"),
            prefer=_prefer(request.headers.get("prefer", "")),
        )
        return Response(
            answer.encoded(),
            status_code=answer.status,
            headers=answer.headers,
            media_type=answer.media,
        )


def _prefer(header: str) -> dict[str, str]:
    """`Prefer: code=404, example=sold_out` as a dict (the mock's controls, as in Prism)."""
    pairs = (part.strip().split("=", 1) for part in header.split(",") if "=" in part)
    return {k.strip().lower(): v.strip().strip('"') for k, v in pairs}


def _problem(problem: Problem, request: Request, request_id: str) -> Response:
    body = {
        "type": "about:blank",
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
        "request_id": request_id,
    }
    if problem.errors:
        body["errors"] = [asdict(e) for e in problem.errors]
    return Response(
        json.dumps(body).encode(),
        status_code=problem.status,
        headers=problem.headers,
        media_type="application/problem+json",
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
