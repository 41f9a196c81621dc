"""Generate large, clean contracts: the lint benchmark's input and the tests' baseline."""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["make_large_spec"]

_ADJECTIVES = [
    "red",
    "green",
    "blue",
    "amber",
    "ivory",
    "coral",
    "olive",
    "azure",
    "lilac",
    "slate",
    "sand",
    "jade",
]
_NOUNS = [
    "widget",
    "gadget",
    "gizmo",
    "sprocket",
    "bracket",
    "hinge",
    "valve",
    "socket",
    "spindle",
    "lever",
]


def _problem(status: int, title: str) -> dict[str, Any]:
    return {
        "description": title,
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": {
                    "type": "about:blank",
                    "title": title,
                    "status": status,
                    "detail": title,
                },
            }
        },
    }


def _components() -> dict[str, Any]:
    too_many = _problem(429, "Too many requests")
    too_many["headers"] = {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."},
        "RateLimit": {"schema": {"type": "string"}, "description": "Remaining quota."},
        "RateLimit-Policy": {"schema": {"type": "string"}, "description": "The quota policy."},
    }
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "schemas": {
            "Problem": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "format": "uri-reference"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "instance": {"type": "string"},
                },
                "required": ["type", "title", "status"],
            }
        },
        "responses": {
            "ValidationFailed": _problem(422, "Validation failed"),
            "Unauthorized": _problem(401, "Unauthorized"),
            "Forbidden": _problem(403, "Forbidden"),
            "NotFound": _problem(404, "Not found"),
            "PreconditionFailed": _problem(412, "Precondition failed"),
            "TooManyRequests": too_many,
        },
    }


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _responses(code: str, success: dict[str, Any], *errors: str) -> dict[str, Any]:
    """A success response and the shared error responses every operation documents."""
    return {code: success, **_errors(*errors)}


def _errors(*codes: str) -> dict[str, Any]:
    names = {
        "401": "Unauthorized",
        "403": "Forbidden",
        "404": "NotFound",
        "412": "PreconditionFailed",
        "422": "ValidationFailed",
        "429": "TooManyRequests",
    }
    return {c: _ref("responses", names[c]) for c in ("401", "403", "429", *codes)}


def _json(schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema, "example": example}}}


def _resource(adjective: str, noun: str, schemas: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The five operations of one resource: list, create, read, update, delete."""
    kebab = f"{adjective}-{noun}"
    snake = kebab.replace("-", "_")
    model = "".join(word.title() for word in kebab.split("-"))
    example = {"id": 1, "name": "first", "price_cents": 1999, "created_at": "2025-01-01T00:00:00Z"}
    schemas[model] = {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "readOnly": True},
            "name": {"type": "string", "maxLength": 100},
            "price_cents": {"type": "integer", "minimum": 0},
            "created_at": {"type": "string", "format": "date-time", "readOnly": True},
        },
        "required": ["id", "name", "price_cents", "created_at"],
    }
    schemas[f"{model}Write"] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": 100},
            "price_cents": {"type": "integer", "minimum": 0},
        },
        "required": ["name", "price_cents"],
    }
    schemas[f"{model}Page"] = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("schemas", model)},
            "next_cursor": {"type": ["string", "null"]},
        },
        "required": ["items", "next_cursor"],
    }
    item_id = {"name": f"{snake}_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    body = {
        "required": True,
        **_json(_ref("schemas", f"{model}Write"), {"name": "first", "price_cents": 1999}),
    }
    one = _json(_ref("schemas", model), example)
    page = {"items": [example], "next_cursor": None}
    common = {"tags": [kebab]}
    collection = {
        "get": {
            **common,
            "operationId": f"list_{snake}s",
            "summary": f"List {kebab}s",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                },
                {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": 200}},
            ],
            "responses": _responses(
                "200",
                {"description": "A page", **_json(_ref("schemas", f"{model}Page"), page)},
                "422",
            ),
        },
        "post": {
            **common,
            "operationId": f"create_{snake}",
            "summary": f"Create a {kebab}",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "schema": {"type": "string", "maxLength": 64},
                }
            ],
            "requestBody": body,
            "responses": _responses(
                "201",
                {
                    "description": "Created",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    **one,
                },
                "422",
            ),
        },
    }
    member = {
        "parameters": [item_id],
        "get": {
            **common,
            "operationId": f"get_{snake}",
            "summary": f"Read a {kebab}",
            "responses": _responses("200", {"description": "Found", **one}, "404", "422"),
        },
        "patch": {
            **common,
            "operationId": f"update_{snake}",
            "summary": f"Update a {kebab}",
            "parameters": [
                {
                    "name": "If-Match",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "maxLength": 200},
                }
            ],
            "requestBody": body,
            "responses": _responses("200", {"description": "Updated", **one}, "404", "412", "422"),
        },
        "delete": {
            **common,
            "operationId": f"delete_{snake}",
            "summary": f"Delete a {kebab}",
            "responses": _responses("204", {"description": "Deleted"}, "404", "422"),
        },
    }
    return {f"/v1/{kebab}s": collection, f"/v1/{kebab}s/{{{snake}_id}}": member}


def make_large_spec(n_operations: int = 500, *, version: str = "1.0.0") -> dict[str, Any]:
    """Build a lint-clean OpenAPI 3.1 document with `n_operations` operations (five per resource).

    It is the input of the lint benchmark and a baseline that a single edit makes fail one rule.

    >>> spec = lk.contract.make_large_spec(500)
    """
    components = _components()
    paths: dict[str, Any] = {}
    names = itertools.chain(
        ((a, n) for a, n in itertools.product(_ADJECTIVES, _NOUNS)),
        ((f"{a}-{b}", n) for a, b, n in itertools.product(_ADJECTIVES, _ADJECTIVES, _NOUNS)),
    )
    left = n_operations
    while left > 0:
        adjective, noun = next(names)
        for path, item in _resource(adjective, noun, components["schemas"]).items():
            methods = [m for m in ("get", "post", "patch", "delete") if m in item]
            keep = methods[:left]
            left -= len(keep)
            if keep:
                paths[path] = {k: v for k, v in item.items() if k in keep or k == "parameters"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Generated API ({n_operations} operations)",
            "version": version,
            "description": "A generated contract that follows every lint rule.",
            "contact": {"name": "API team", "email": "api@example.com"},
        },
        "servers": [{"url": "https://api.example.com"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": components,
    }
