"""The simplest value a JSON Schema accepts, for a response the contract gives no example of.

Deterministic, as a mock should be (the same request, the same answer): required properties
only, the lower bound of each range, the first enum value, the first `oneOf`/`anyOf` branch
that holds, a placeholder per string format. A `pattern` is left to Hypothesis, which finds
the shortest string that matches it. The caller validates the result; what this cannot
satisfy raises `Unsatisfiable`, and the contract then needs an example there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from labkit.mock._schema import compile_schema

__all__ = ["Unsatisfiable", "simplest"]

_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "byte": "",
    "duration": "P1D",
}
_FIND = settings(
    database=None,
    derandomize=True,
    max_examples=200,
    deadline=None,
    phases=(Phase.generate, Phase.shrink),
    suppress_health_check=list(HealthCheck),
)
_MAX_DEPTH = 64


class Unsatisfiable(Exception):
    """No value was found for a (sub)schema."""


def simplest(schema: Any, depth: int = 0) -> Any:
    """The simplest value `schema` (plain JSON Schema, no `$ref`) accepts."""
    if depth > _MAX_DEPTH or schema is False:
        raise Unsatisfiable("the schema accepts nothing (or only endlessly nested values)")
    if not isinstance(schema, Mapping):
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if isinstance(schema.get("allOf"), list):
        merged = _merge(schema, schema["allOf"])
        return simplest(merged, depth + 1)
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            return _branch(schema, key, depth)
    kind = _kind(schema)
    if kind == "object":
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties", {})
        return {
            name: simplest(properties.get(name, extra if extra is not False else {}), depth + 1)
            for name in schema.get("required") or []
        }
    if kind == "array":
        prefix = [simplest(s, depth + 1) for s in schema.get("prefixItems") or []]
        wanted = max(int(schema.get("minItems", 0)), len(prefix))
        items = schema.get("items", {})
        return prefix + [simplest(items, depth + 1) for _ in range(wanted - len(prefix))]
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    return None


def _kind(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    solid = [k for k in kinds if k != "null"]
    if solid:
        return str(solid[0])
    if kinds:
        return "null"
    for keys, guess in (
        (("properties", "required", "additionalProperties"), "object"),
        (("items", "minItems", "prefixItems"), "array"),
        (("minLength", "maxLength", "pattern", "format"), "string"),
        (("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"), "number"),
    ):
        if any(k in schema for k in keys):
            return guess
    return None


def _merge(schema: Mapping[str, Any], parts: list[Any]) -> dict[str, Any]:
    """`allOf` folded into one schema: properties and required lists united, the rest overlaid."""
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in parts:
        if part is False:
            raise Unsatisfiable("an allOf branch accepts nothing")
        if not isinstance(part, Mapping):
            continue
        if isinstance(part.get("allOf"), list):
            part = _merge(part, part["allOf"])
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
            elif key not in merged:
                merged[key] = value
    return merged


def _branch(schema: Mapping[str, Any], key: str, depth: int) -> Any:
    """The simplest value of the first branch that the whole schema then accepts."""
    rest = {k: v for k, v in schema.items() if k != key}
    check = compile_schema(dict(schema))
    for branch in schema[key]:
        try:
            value = simplest(_merge(rest, [branch]), depth + 1)
        except Unsatisfiable:
            continue
        if check.is_valid(value):
            return value
    raise Unsatisfiable(f"no {key} branch gave a value the schema accepts")


def _string(schema: Mapping[str, Any]) -> str:
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if "pattern" in schema:
        return _matching(str(schema["pattern"]), low, high)
    text = _FORMATS.get(str(schema.get("format")), "string")
    if len(text) < low:
        text += "x" * (low - len(text))
    return text if high is None else text[: int(high)]


def _matching(pattern: str, low: int, high: Any) -> str:
    """The shortest string Hypothesis finds that matches `pattern` within the length bounds."""
    try:
        return find(
            st.from_regex(pattern),
            lambda s: len(s) >= low and (high is None or len(s) <= int(high)),
            settings=_FIND,
        )
    except (HypothesisException, ValueError) as error:
        raise Unsatisfiable(f"no string matches /{pattern}/ ({type(error).__name__})") from None


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    step = schema.get("multipleOf")
    low = schema.get("minimum", -math.inf)
    high = schema.get("maximum", math.inf)
    nudge = 1 if integer else (step or 0.5)
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = max(low, schema["exclusiveMinimum"] + nudge)
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = min(high, schema["exclusiveMaximum"] - nudge)
    value: float = min(max(0, low), high)
    if step:
        value = math.ceil(value / step) * step
    if integer or float(value).is_integer():
        return math.ceil(value) if integer else int(value)
    return value
