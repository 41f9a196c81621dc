"""OpenAPI schemas as plain JSON Schema: one form that jsonschema-rs validates and
hypothesis-jsonschema generates from.

OpenAPI 3.0 schemas are a dialect (`nullable`, boolean `exclusiveMinimum`, `readOnly` and
`writeOnly` that depend on the direction); 3.1 schemas are JSON Schema already. `$ref`s are
inlined; one that recurs becomes `false` for generation (an optional recursive property is
left out, an array of them stays empty) and stays a reference for validation.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal

import jsonschema_rs

from labkit.contract import Spec

__all__ = ["Direction", "Schemas", "compile_schema"]

Direction = Literal["request", "response"]

# Keywords only OpenAPI reads; JSON Schema tools ignore them at best.
_OPENAPI_ONLY = ("nullable", "discriminator", "xml", "externalDocs", "example", "deprecated")
_SUBSCHEMA = ("items", "not", "additionalProperties", "contains", "propertyNames")
_SUBSCHEMAS = ("allOf", "anyOf", "oneOf", "prefixItems")


class Schemas:
    """Converted schemas of one document, each conversion made once."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.legacy = spec.openapi.startswith("3.0")
        self._validators: dict[tuple[int, Direction], Any] = {}
        self._inlined: dict[tuple[int, Direction], Any] = {}

    def for_generation(self, node: Any, direction: Direction) -> Any:
        """`node` with every `$ref` inlined, a recursive one cut to `false` (made once)."""
        key = (id(node), direction)  # nodes of the loaded document live as long as it does
        if key not in self._inlined:
            self._inlined[key] = self._convert(node, direction, (), inline=True)
        return self._inlined[key]

    def for_validation(self, node: Any, direction: Direction) -> Any:
        """`node` converted, recursive `$ref`s kept and resolvable from its root."""
        return self._convert(node, direction, (), inline=False)

    def validator(self, node: Any, direction: Direction) -> Any:
        """A compiled jsonschema-rs validator for `node` (formats checked, as clients do)."""
        key = (id(node), direction)
        if key not in self._validators:
            schema = self.for_validation(node, direction)
            root = schema if isinstance(schema, dict) else {"allOf": [schema]}
            root = {**root, "components": {"schemas": self._components(direction)}}
            self._validators[key] = compile_schema(root)
        return self._validators[key]

    def _components(self, direction: Direction) -> dict[str, Any]:
        named = (self.spec.doc.get("components") or {}).get("schemas") or {}
        return {name: self.for_validation(s, direction) for name, s in named.items()}

    def _convert(
        self, node: Any, direction: Direction, stack: tuple[str, ...], *, inline: bool
    ) -> Any:
        if isinstance(node, bool) or not isinstance(node, Mapping):
            return node if isinstance(node, bool) else {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            recursive = ref in stack
            if recursive or (not inline and ref.startswith("#/components/schemas/")):
                return False if inline else {"$ref": ref}
            target = self._convert(self.spec.at(ref), direction, (*stack, ref), inline=inline)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if not siblings or self.legacy:  # 3.0 ignores what sits beside a $ref
                return target
            rest = self._convert(siblings, direction, stack, inline=inline)
            return {"allOf": [target, rest]}
        out: dict[str, Any] = {k: v for k, v in node.items() if k not in _OPENAPI_ONLY}
        for key in _SUBSCHEMA:
            if key in node and isinstance(node[key], Mapping | bool):
                out[key] = self._convert(node[key], direction, stack, inline=inline)
        for key in _SUBSCHEMAS:
            if isinstance(node.get(key), list):
                out[key] = [self._convert(s, direction, stack, inline=inline) for s in node[key]]
        if isinstance(node.get("properties"), Mapping):
            self._properties(node, out, direction, stack, inline=inline)
        # 3.0's keywords are read in 3.1 documents too: many (OpenAI's) still write `nullable`.
        _upgrade_legacy(node, out, direction)
        return out

    def _properties(
        self,
        node: Mapping[str, Any],
        out: dict[str, Any],
        direction: Direction,
        stack: tuple[str, ...],
        *,
        inline: bool,
    ) -> None:
        """Properties converted; those the other side never sees are neither required nor made."""
        hidden = "writeOnly" if direction == "response" else "readOnly"
        required = [r for r in node.get("required") or [] if isinstance(r, str)]
        properties: dict[str, Any] = {}
        for name, sub in node["properties"].items():
            if isinstance(self.spec.deref(sub), Mapping) and self.spec.deref(sub).get(hidden):
                if name in required:
                    required.remove(name)
                properties[name] = not (direction == "response" and inline)
                continue
            properties[name] = self._convert(sub, direction, stack, inline=inline)
        out["properties"] = properties
        if "required" in node:
            out["required"] = required


def _upgrade_legacy(node: Mapping[str, Any], out: dict[str, Any], direction: Direction) -> None:
    """OpenAPI 3.0's `nullable` and boolean exclusive bounds in JSON Schema's words.

    As 3.0.3 clarifies, `nullable` adds null to the `type` beside it and to nothing else, and
    answers keep to that; a request may still send null wherever `nullable` stands (beside an
    `enum` or a `oneOf`), as clients and test tools read it.
    """
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(node.get(exclusive), bool):
            if node[exclusive] and bound in node:
                out[exclusive] = out.pop(bound)
            else:
                out.pop(exclusive)
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        if direction == "request" and isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        elif direction == "request" and kind is None:  # `oneOf: [...]` with nullable beside it
            inner = dict(out)
            out.clear()
            out["anyOf"] = [inner, {"type": "null"}]


def compile_schema(schema: Any) -> Any:
    """A jsonschema-rs validator (formats checked, as clients do), or one that accepts anything
    when the schema is not valid JSON Schema itself: the mock then cannot check that part."""
    try:
        return jsonschema_rs.Draft202012Validator(
            schema, validate_formats=True, formats=_FORMAT_CHECKS
        )
    except (jsonschema_rs.ValidationError, ValueError):
        return jsonschema_rs.Draft202012Validator(True)


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return True


#: OpenAPI's own string formats beside JSON Schema's; numeric ones (int32, double) are hints.
_FORMAT_CHECKS = {"byte": _is_base64, "binary": lambda _: True, "password": lambda _: True}
