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

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_RETRY_AFTER = {"description": "Seconds until a token is available", "schema": {"type": "integer"}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}}


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """Rewrite every 4xx/5xx as problem+json; add the 401 and 429 every route can answer."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
            if operation.get("security"):
                responses.setdefault("401", _problem("Missing, expired or invalid bearer token"))
            if not path.startswith("/health"):
                limited = responses.setdefault("429", _problem("Too many requests"))
                limited.setdefault("headers", {})["Retry-After"] = _RETRY_AFTER
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the finished document from ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
