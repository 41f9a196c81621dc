"""RFC 9457 problem+json for every error: domain errors, validation, routing, crashes.

One place renders errors so every response a client can get wrong looks the same and
carries the request id to quote in a bug report.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from sample_service.errors import PROBLEM_BASE, RETRY_AFTER_SECONDS, PayloadTooLarge, ServiceError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("sample_service.errors")

# Slug and title per status: as the domain errors name them, then what only the framework raises.
_HTTP_SLUGS = {
    **{error.status: (error.slug, error.title) for error in ServiceError.__subclasses__()},
    405: ("method-not-allowed", "Method not allowed"),
    422: ("validation-error", "Validation failed"),
    500: ("internal-error", "Internal server error"),
}


class FieldError(BaseModel):
    """One failing field of a request."""

    field: str = Field(examples=["body.price_cents"])
    message: str = Field(examples=["Input should be greater than or equal to 0"])
    type: str = Field(examples=["greater_than_equal"])


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": PROBLEM_BASE + "not-found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "product 42 does not exist",
                    "instance": "/v1/products/42",
                    "request_id": "5f0c6a2e9b1d4c7f",
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = None
    errors: list[FieldError] | None = None


def request_id_of(scope: Any) -> str | None:
    """The id the request-id middleware gave this request, if it ran."""
    state = scope.get("state") or {}
    value = state.get("request_id")
    return str(value) if value is not None else None


def problem_response(
    request: Request,
    *,
    status: int,
    detail: str,
    type_: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Render one problem document for this request."""
    slug, default_title = _HTTP_SLUGS.get(status, ("error", "Error"))
    request_id = request_id_of(request.scope)
    body: dict[str, Any] = {
        "type": type_ or PROBLEM_BASE + slug,
        "title": title or default_title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def error_response(request: Request, exc: ServiceError) -> JSONResponse:
    """Render a domain error; middleware that answers before routing uses it too."""
    return problem_response(
        request,
        status=exc.status,
        detail=exc.detail,
        type_=exc.type,
        title=exc.title,
        headers=exc.headers,
        **exc.extra,
    )


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(request, exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": _field_name(err.get("loc", ())),
            "message": err.get("msg", ""),
            "type": err["type"],
        }
        for err in exc.errors()
    ]
    names = ", ".join(e["field"] for e in errors)
    return problem_response(request, status=422, detail=f"invalid fields: {names}", errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == PayloadTooLarge.status:  # a streamed body over the limit
        return error_response(request, PayloadTooLarge(detail))
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route matches {request.url.path}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
        detail = f"{request.method} is not allowed on {request.url.path}; use {headers['Allow']}"
    return problem_response(request, status=exc.status_code, detail=detail, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method served at this path, HEAD with GET (Starlette's Allow names only one route).

    The contract's paths, and the app's own pages outside it (``/docs``).
    """
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), request.url.path):
            methods.update(method.upper() for method in operations)
    for route in request.app.router.routes:
        served = getattr(route, "methods", None)
        if served and route.matches(request.scope)[0] is not Match.NONE:
            methods.update(served)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
    """A pool checkout or a SQLite lock that timed out, or a database gone: 503, retry later."""
    log.warning("database unavailable: %s", exc, extra={"request_id": request_id_of(request.scope)})
    return problem_response(
        request,
        status=503,
        detail=f"the database is busy or unreachable ({type(exc).__name__}); retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def crash_response(request: Request, headers: dict[str, str] | None = None) -> JSONResponse:
    """Log the crash with its request id; the client learns only the id, never the trace."""
    log.exception("unhandled error", extra={"request_id": request_id_of(request.scope)})
    detail = "the server failed; quote the request_id when reporting"
    return problem_response(request, status=500, detail=detail, headers=headers)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    """A crash outside the request-context middleware (which answers the others itself)."""
    # Rendered outside the middleware stack (Starlette's outermost layer), so the
    # request id and security headers are added here.
    request_id = request_id_of(request.scope)
    headers = {"X-Request-ID": request_id or "", "X-Content-Type-Options": "nosniff"}
    return crash_response(request, headers)


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    """A lost database is an outage, not a bug: 503 at once, so clients back off and retry."""
    log.warning("database unavailable: %s", type(exc).__name__)
    return problem_response(
        request,
        status=503,
        detail=f"the database is unavailable ({type(exc).__name__}); retry later",
        headers={"Retry-After": "1"},
    )


def _database_outage_errors() -> tuple[type[Exception], ...]:
    """What the drivers raise when the database is down, refusing, or cut the connection."""
    import asyncpg
    from sqlalchemy.exc import OperationalError

    return (
        OperationalError,  # psycopg and sqlite3 connection failures, wrapped by SQLAlchemy
        ConnectionError,  # refused or reset sockets (asyncpg raises them bare)
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,  # the connection was closed under a query
        asyncpg.exceptions.OperatorInterventionError,  # shut down, terminated, cannot connect now
        asyncpg.exceptions.ObjectNotInPrerequisiteStateError,  # not accepting connections
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through ``problem_response``."""
    app.add_exception_handler(ServiceError, _service_error)
    for outage in _database_outage_errors():
        app.add_exception_handler(outage, _database_down)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, _database_busy)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, _database_busy)
    app.add_exception_handler(Exception, _unhandled)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for these error statuses (``api/openapi.py`` adds the schema)."""
    return {
        status: {"description": _HTTP_SLUGS.get(status, ("", "Error"))[1]} for status in statuses
    }


def created_responses(what: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a 201 whose ``Location`` names the new ``what``, plus error statuses."""
    location = {"description": f"URL of the new {what}", "schema": {"type": "string"}}
    return {201: {"headers": {"Location": location}}, **problem_responses(*statuses)}


async def send_problem(
    scope: Any,
    send: Any,
    *,
    status: int,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Write a problem response from pure ASGI middleware, which runs outside the handlers."""
    slug, title = _HTTP_SLUGS.get(status, ("error", "Error"))
    request_id = request_id_of(scope)
    body = json.dumps(
        {
            "type": PROBLEM_BASE + slug,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope["path"],
            "request_id": request_id,
        }
    ).encode()
    out = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
