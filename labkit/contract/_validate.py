"""Check an OpenAPI document's shape before anything reads it, naming where it breaks."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema_rs

from labkit.contract._base import METHODS, SpecLoadError, escape

__all__ = ["check_structure", "official_problems"]


def _fail(where: str, what: str, fix: str) -> SpecLoadError:
    return SpecLoadError(f"not a valid OpenAPI document at {where}: {what}; {fix}", where=where)


def _expect(node: Any, kind: type, where: str, what: str) -> None:
    if not isinstance(node, kind):
        name = "a mapping" if kind is Mapping else "a list"
        raise _fail(where, f"{what} should be {name}, got {node!r:.60}", f"make it {name}")


def _check_parameter(p: Any, where: str) -> None:
    _expect(p, Mapping, where, "a parameter")
    if "$ref" in p:
        return
    if not isinstance(p.get("name"), str) or p.get("in") not in (
        "query",
        "header",
        "path",
        "cookie",
    ):
        raise _fail(where, f"parameter {p!r:.60} lacks a `name` or a valid `in`", "give it both")


def _check_parameters(params: Any, where: str) -> None:
    _expect(params, list, where, "parameters")
    for i, p in enumerate(params):
        _check_parameter(p, f"{where}/{i}")


def _check_content(holder: Any, where: str, what: str) -> None:
    _expect(holder, Mapping, where, what)
    content = holder.get("content", {})
    _expect(content, Mapping, f"{where}/content", "content")
    for media, body in content.items():
        _expect(body, Mapping, f"{where}/content/{escape(str(media))}", f"media type {media}")
    _expect(holder.get("headers", {}), Mapping, f"{where}/headers", "headers")


def _check_operation(op: Any, where: str) -> None:
    _expect(op, Mapping, where, "an operation")
    if "responses" in op:  # required by 3.0, but a missing one reads as none documented
        _expect(op.get("responses"), Mapping, f"{where}/responses", "responses")
        for code, response in op["responses"].items():
            _check_content(response, f"{where}/responses/{escape(str(code))}", f"response {code}")
    if "requestBody" in op:
        _check_content(op["requestBody"], f"{where}/requestBody", "requestBody")
    if "parameters" in op:
        _check_parameters(op["parameters"], f"{where}/parameters")
    if "security" in op:
        _check_security(op["security"], f"{where}/security")
    for key in ("operationId", "summary"):
        if key in op and not isinstance(op[key], str):
            raise _fail(f"{where}/{key}", f"{key} is {op[key]!r:.60}", "make it a string")


def _check_components(components: Mapping[str, Any]) -> None:
    """Check the reusable parts the same way as their inline forms, since `$ref`s land on them."""
    for key, group in components.items():
        where = f"/components/{escape(str(key))}"
        _expect(group, Mapping, where, f"components.{key}")
        for name, item in group.items():
            at = f"{where}/{escape(str(name))}"
            if key == "parameters":
                _check_parameter(item, at)
            elif key in ("responses", "requestBodies"):
                _check_content(item, at, f"{key} {name}")
            elif key in ("headers", "securitySchemes"):
                _expect(item, Mapping, at, f"{key} {name}")


def check_structure(doc: Any) -> None:
    """Check what every later step relies on, naming the JSON pointer where the document breaks."""
    _expect(doc, Mapping, "/", "an OpenAPI document")
    if "swagger" in doc:
        raise _fail(
            "/swagger",
            f"Swagger {doc['swagger']} is OpenAPI 2",
            "convert it to OpenAPI 3 (e.g. with swagger2openapi) first",
        )
    version = str(doc.get("openapi", ""))
    if not version.startswith(("3.0", "3.1", "3.2")):
        raise _fail(
            "/openapi", f"version {version or 'missing'!r}", "set `openapi: 3.1.1` or `3.0.4`"
        )
    info = doc.get("info")
    if not isinstance(info, Mapping) or "title" not in info or "version" not in info:
        raise _fail("/info", f"got {info!r}", "give `info` a `title` and a `version`")
    for key, kind in (("servers", list), ("components", Mapping)):
        if key in doc:
            _expect(doc[key], kind, f"/{key}", key)
    if "security" in doc:
        _check_security(doc["security"], "/security")
    _check_components(doc.get("components") or {})
    for i, server in enumerate(doc.get("servers", [])):
        _expect(server, Mapping, f"/servers/{i}", "a server")
    paths = doc.get("paths", {})
    _expect(paths, Mapping, "/paths", "paths")
    for path, item in paths.items():
        where = f"/paths/{escape(str(path))}"
        if not str(path).startswith("/"):
            raise _fail(where, f"path {path!r} does not start with '/'", "write it as `/{path}`")
        _expect(item, Mapping, where, "a path item")
        if "parameters" in item:
            _check_parameters(item["parameters"], f"{where}/parameters")
        for method in METHODS:
            if method in item:
                _check_operation(item[method], f"{where}/{method}")
    if "paths" not in doc and "webhooks" not in doc and "components" not in doc:
        raise _fail("/paths", "no paths, webhooks or components", "add `paths`")
    _check_schemas(doc)


_SUBSCHEMA = ("items", "not", "additionalProperties", "unevaluatedProperties", "contains")
_SUBSCHEMAS = ("allOf", "anyOf", "oneOf", "prefixItems")
_NUMBERS = ("maxLength", "minLength", "maximum", "minimum", "maxItems", "minItems", "multipleOf")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_schema(node: Any, where: str) -> None:
    """Check the keywords the lint rules and the diff read, recursively (3.1 allows true/false)."""
    if isinstance(node, bool):
        return
    _expect(node, Mapping, where, "a schema")
    if "$ref" in node:
        return
    kind = node.get("type")
    if kind is not None and not (
        isinstance(kind, str) or (isinstance(kind, list) and all(isinstance(k, str) for k in kind))
    ):
        raise _fail(f"{where}/type", f"type {kind!r:.60}", "use a type name or a list of them")
    required = node.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise _fail(
            f"{where}/required",
            f"required is {required!r:.60}",
            "list the required property names on the object, not `required: true` on a property",
        )
    if "enum" in node:
        _expect(node["enum"], list, f"{where}/enum", "enum")
    if "format" in node and not isinstance(node["format"], str):
        raise _fail(f"{where}/format", f"format {node['format']!r:.60}", "use a format name")
    for key in _NUMBERS:
        if key in node and not _is_number(node[key]):
            raise _fail(f"{where}/{key}", f"{key} is {node[key]!r:.60}", "use a number")
    props = node.get("properties", {})
    _expect(props, Mapping, f"{where}/properties", "properties")
    for name, sub in props.items():
        _check_schema(sub, f"{where}/properties/{escape(str(name))}")
    for key in _SUBSCHEMA:
        if key in node:
            _check_schema(node[key], f"{where}/{key}")
    for key in _SUBSCHEMAS:
        if key in node:
            _expect(node[key], list, f"{where}/{key}", key)
            for i, sub in enumerate(node[key]):
                _check_schema(sub, f"{where}/{key}/{i}")


def _check_security(requirements: Any, where: str) -> None:
    _expect(requirements, list, where, "security")
    for i, requirement in enumerate(requirements):
        _expect(requirement, Mapping, f"{where}/{i}", "a security requirement")
        for name, scopes in requirement.items():
            _expect(scopes, list, f"{where}/{i}/{escape(str(name))}", "scopes")


def _check_schemas(doc: Mapping[str, Any]) -> None:
    """Check every schema in the document: under `schema` keys and in `components.schemas`."""
    for name, schema in (doc.get("components") or {}).get("schemas", {}).items():
        _check_schema(schema, f"/components/schemas/{escape(str(name))}")
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                at = f"{where}/{escape(str(key))}"
                if key == "schema":
                    _check_schema(value, at)
                elif key not in ("schemas", "example", "examples"):
                    stack.append((value, at))
        elif isinstance(node, list):
            stack.extend((value, f"{where}/{i}") for i, value in enumerate(node))


@functools.cache
def _official(version: str) -> Any:
    """The official JSON Schema of an OpenAPI minor version, compiled once (jsonschema-rs).

    The schemas ship with openapi-spec-validator; jsonschema-rs checks a 4 MB document in
    tens of milliseconds where a pure-Python validator takes seconds.
    """
    from openapi_spec_validator import schemas

    schema = {"3.0": schemas.schema_v30, "3.1": schemas.schema_v31, "3.2": schemas.schema_v32}
    return jsonschema_rs.validator_for(json.loads(json.dumps(dict(schema[version]))))


def official_problems(doc: Mapping[str, Any], limit: int = 50) -> Iterator[tuple[str, str]]:
    """(JSON pointer, message) for each place the document breaks the official OpenAPI schema."""
    validator = _official(str(doc.get("openapi", ""))[:3])
    for n, error in enumerate(validator.iter_errors(dict(doc))):
        if n == limit:
            return
        where = "".join(f"/{escape(str(p))}" for p in error.instance_path) or "/"
        message = str(error.message)
        yield where, message if len(message) <= 160 else f"{message[:157]}..."
