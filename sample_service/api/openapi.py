"""The OpenAPI document, finished: every error documented as problem+json.

FastAPI documents a JSON ``HTTPValidationError`` for 422 and nothing for errors raised by
middleware or dependencies; the service answers all of them as RFC 9457 problems, so the
document is rewritten once to say what the service really does.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from sample_service.api.problems import PROBLEM_MEDIA_TYPE, Problem
from sample_service.text import TEXT_PATTERN

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_RETRY_AFTER = {"description": "Seconds until a token is available", "schema": {"type": "integer"}}
_COMPONENTS = "#/components/schemas/"
# String schemas that already say exactly what they take.
_CONSTRAINED = frozenset({"pattern", "enum", "const"})
_RETRY_LATER = {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
# What the edge answers before any handler runs, for each operation that takes a body.
_BODY_ERRORS = {
    "400": "The body could not be parsed",
    "413": "The body is larger than the service accepts",
    "415": "The body is not JSON (or a form where one is expected)",
}


def finish(document: dict[str, Any], *, required_headers: frozenset[str]) -> dict[str, Any]:
    """Document what the service really does, for every operation.

    Every 4xx/5xx is problem+json; 401 where a token is needed, 429 wherever limits apply, 503
    (saturated or database down) wherever the database is used; the edge's 400/413/415 where a
    body is taken, 422 where anything is validated; headers the handler insists on (428 without
    them; ``required_headers``, in lower case) are required.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            _finish_operation(path, operation, required_headers)
            _text_only(operation, schemas, seen=set())
    return document


def _text_only(operation: dict[str, Any], schemas: dict[str, Any], *, seen: set[str]) -> None:
    """Give every free-text input string the pattern the edge enforces (no control characters)."""

    def walk(schema: Any) -> None:
        if not isinstance(schema, dict):
            return
        ref = schema.get("$ref", "")
        if ref.startswith(_COMPONENTS) and ref not in seen:
            seen.add(ref)
            walk(schemas.get(ref.removeprefix(_COMPONENTS)))
        if schema.get("type") == "string" and not _CONSTRAINED.intersection(schema):
            schema["pattern"] = TEXT_PATTERN
        for value in schema.get("properties", {}).values():
            walk(value)
        for key in ("items", "additionalProperties"):
            walk(schema.get(key))
        for key in ("anyOf", "oneOf", "allOf"):
            for value in schema.get(key, []):
                walk(value)

    for parameter in operation.get("parameters", []):
        walk(parameter.get("schema"))
    for media in operation.get("requestBody", {}).get("content", {}).values():
        walk(media.get("schema"))


def _finish_operation(
    path: str, operation: dict[str, Any], required_headers: frozenset[str]
) -> None:
    responses = operation.setdefault("responses", {})
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"].lower() in required_headers:
            parameter["required"] = True
    if "requestBody" in operation:
        for status, description in _BODY_ERRORS.items():
            responses.setdefault(status, {"description": description})
    if "requestBody" in operation or operation.get("parameters"):
        responses.setdefault("422", {"description": "Validation failed"})
    if operation.get("security"):
        responses.setdefault("401", {"description": "Missing, expired or invalid bearer token"})
    if not path.startswith("/health"):
        limited = responses.setdefault("429", {"description": "Too many requests"})
        limited.setdefault("headers", {})["Retry-After"] = _RETRY_AFTER
    if path != "/health/live":
        busy = responses.setdefault("503", {"description": "Saturated, or the database is down"})
        busy.setdefault("headers", {})["Retry-After"] = _RETRY_LATER
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}


def install_openapi(app: FastAPI) -> None:
    """Serve the finished document from ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            required = {"idempotency-key"}
            if app.state.settings.require_if_match:
                required.add("if-match")
            app.openapi_schema = finish(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                ),
                required_headers=frozenset(required),
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
