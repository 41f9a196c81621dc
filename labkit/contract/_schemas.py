"""Walk the schemas of a document without getting lost in `$ref` cycles, and read their shape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from labkit.contract._base import escape
from labkit.contract._load import Operation, Spec

__all__ = [
    "json_schema",
    "properties",
    "request_schemas",
    "response_schemas",
    "types",
    "walk",
]

_PY_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_CHILDREN = ("items", "additionalProperties", "not")
_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def walk(
    spec: Spec, node: Any, pointer: str, seen: set[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (pointer, schema) for `node` and every schema nested in it, each definition once."""
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        pointer = node["$ref"].lstrip("#")
        node = spec.at(node["$ref"])
    if not isinstance(node, dict) or pointer in seen:
        return
    seen.add(pointer)
    yield pointer, node
    for name, sub in (node.get("properties") or {}).items():
        yield from walk(spec, sub, f"{pointer}/properties/{escape(str(name))}", seen)
    for key in _CHILDREN:
        if isinstance(node.get(key), Mapping):
            yield from walk(spec, node[key], f"{pointer}/{key}", seen)
    for key in _LISTS:
        for i, sub in enumerate(node.get(key) or []):
            yield from walk(spec, sub, f"{pointer}/{key}/{i}", seen)


def json_schema(container: Mapping[str, Any] | None) -> tuple[str, Any] | None:
    """The (media type, schema) of a request body or response, preferring JSON media types."""
    content = (container or {}).get("content") or {}
    for media, body in content.items():
        if "json" in media and isinstance(body, Mapping) and "schema" in body:
            return media, body["schema"]
    return None


def _content_pointer(op: Operation, part: str, media: str) -> str:
    return f"{op.pointer}/{part}/content/{escape(media)}/schema"


def request_schemas(spec: Spec, seen: set[str]) -> Iterator[tuple[Operation, str, dict[str, Any]]]:
    """Every schema a client sends in a request body, each definition once."""
    for op in spec.operations:
        found = json_schema(op.request_body)
        if found:
            media, schema = found
            for pointer, node in walk(
                spec, schema, _content_pointer(op, "requestBody", media), seen
            ):
                yield op, pointer, node


def response_schemas(spec: Spec, seen: set[str]) -> Iterator[tuple[Operation, str, dict[str, Any]]]:
    """Every schema a server returns in a 2xx response, each definition once."""
    for op in spec.operations:
        for code, response in op.responses.items():
            found = json_schema(response) if code.startswith("2") else None
            if found:
                media, schema = found
                start = _content_pointer(op, f"responses/{code}", media)
                for pointer, node in walk(spec, schema, start, seen):
                    yield op, pointer, node


def types(spec: Spec, schema: Any, _inside: frozenset[int] = frozenset()) -> frozenset[str]:
    """The JSON types a schema allows, with 3.0 `nullable` and 3.1 `null` unions read alike.

    A schema that reaches itself through `anyOf`/`oneOf`/`allOf` adds nothing the second time.
    """
    schema = spec.deref(schema)
    if not isinstance(schema, Mapping) or id(schema) in _inside:
        return frozenset()
    key = ("types", id(schema))
    if key not in spec.memo:  # the schema is kept beside its result so its id stays unique
        spec.memo[key] = (schema, _types(spec, schema, _inside | {id(schema)}))
    return spec.memo[key][1]  # type: ignore[no-any-return]


def _types(spec: Spec, schema: Mapping[str, Any], inside: frozenset[int]) -> frozenset[str]:
    raw = schema.get("type")
    found: set[str] = set(raw if isinstance(raw, list) else [raw] if raw else [])
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key) or []:
            found |= types(spec, sub, inside)
    if schema.get("nullable"):
        found.add("null")
    if "enum" in schema and not found:
        found |= {_PY_TYPES.get(type(v), "string") for v in schema["enum"]}
    return frozenset(found)


def properties(
    spec: Spec, schema: Any, _inside: frozenset[int] = frozenset()
) -> tuple[dict[str, Any], set[str]]:
    """The properties and required names of an object schema, merging `allOf` and nullable unions.

    The result is shared between callers (memoized on the spec): read it, do not change it.
    """
    schema = spec.deref(schema)
    if not isinstance(schema, Mapping) or id(schema) in _inside:
        return {}, set()
    key = ("properties", id(schema))
    if key not in spec.memo:
        spec.memo[key] = (schema, _properties(spec, schema, _inside | {id(schema)}))
    return spec.memo[key][1]  # type: ignore[no-any-return]


def _properties(
    spec: Spec, schema: Mapping[str, Any], inside: frozenset[int]
) -> tuple[dict[str, Any], set[str]]:
    props: dict[str, Any] = {}
    required: set[str] = set()
    props.update(schema.get("properties") or {})
    required.update(schema.get("required") or [])
    merged = list(schema.get("allOf") or [])
    for key in ("anyOf", "oneOf"):
        options = [s for s in schema.get(key) or [] if types(spec, s) != {"null"}]
        merged += options if len(options) == 1 else []
    for sub in merged:
        p, r = properties(spec, sub, inside)
        props.update(p)
        required |= r
    return props, required
