"""Compare two versions of one schema and grade each change by the side of the wire it sits on.

The grading follows oasdiff's checker catalog: a request that accepts less breaks clients that send
what it used to accept; a response that may carry more breaks clients that only expected the old.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from labkit.contract._base import escape
from labkit.contract._load import Spec
from labkit.contract._schemas import properties, types

__all__ = ["SCHEMA_CODES", "SchemaDiff", "Side"]

Side = Literal["parameter", "request", "response"]
Level = Literal["breaking", "potentially-breaking", "safe"]
Emit = Callable[[str, str, str], None]

# Upper bounds: lowering one (or adding it) narrows what is allowed; lower bounds the other way.
_UPPER = ("maxLength", "maximum", "maxItems", "maxContains", "maxProperties", "exclusiveMaximum")
_LOWER = ("minLength", "minimum", "minItems", "minContains", "minProperties", "exclusiveMinimum")
# Keywords whose mere presence narrows what a schema allows (JSON Schema 2020-12 and OpenAPI 3.0).
_PRESENCE = (
    "const",
    "multipleOf",
    "contains",
    "if",
    "then",
    "else",
    "not",
    "propertyNames",
    "patternProperties",
    "dependentRequired",
    "dependentSchemas",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
    "contentMediaType",
    "contentEncoding",
)
# Sub-schemas compared in place once both versions have them.
_NESTED = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "contentSchema",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_MAPS = ("patternProperties", "dependentSchemas")


def _levels() -> dict[str, Level]:
    """Every schema change code and its level, per side (a parameter is request input)."""
    request: dict[str, Level] = {
        "type-changed": "breaking",
        "type-narrowed": "breaking",
        "type-widened": "safe",
        "format-changed": "breaking",
        "enum-narrowed": "breaking",
        "enum-widened": "safe",
        "constraint-tightened": "breaking",
        "constraint-added": "potentially-breaking",
        "constraint-loosened": "safe",
        "constraint-changed": "breaking",
        "pattern-changed": "potentially-breaking",
        "default-changed": "safe",
        "branch-removed": "breaking",
        "branch-added": "safe",
        "all-of-added": "breaking",
        "all-of-removed": "potentially-breaking",
        "field-removed": "potentially-breaking",
        "field-added": "safe",
        "field-became-required": "breaking",
    }
    response: dict[str, Level] = {
        "type-changed": "breaking",
        "type-narrowed": "safe",
        "type-widened": "breaking",
        "field-became-nullable": "breaking",
        "format-changed": "breaking",
        "enum-narrowed": "safe",
        "enum-widened": "potentially-breaking",
        "constraint-tightened": "safe",
        "constraint-added": "safe",
        "constraint-loosened": "breaking",
        "constraint-changed": "breaking",
        "pattern-changed": "potentially-breaking",
        "default-changed": "safe",
        "one-of-added": "breaking",
        "branch-added": "safe",
        "branch-removed": "safe",
        "all-of-added": "safe",
        "all-of-removed": "safe",
        "field-removed": "breaking",
        "optional-field-removed": "potentially-breaking",
        "field-added": "safe",
        "field-became-optional": "breaking",
    }
    codes: dict[str, Level] = {f"request-{k}": v for k, v in request.items()}
    codes |= {f"parameter-{k}": v for k, v in request.items()}
    codes |= {f"response-{k}": v for k, v in response.items()}
    codes["parameter-default-changed"] = "breaking"  # a client that omits it gets other behaviour
    codes["required-request-field-added"] = "breaking"
    codes["required-parameter-field-added"] = "breaking"
    return codes


SCHEMA_CODES = _levels()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _enum(schema: Mapping[str, Any]) -> set[str] | None:
    values = schema.get("enum", schema.get("x-extensible-enum"))
    if "const" in schema and values is None:
        values = [schema["const"]]
    return set(map(str, values)) if isinstance(values, list) else None


def _branch_key(raw: Any, index: int) -> str:
    """A composition branch is the schema it references, else its title, else its position."""
    if isinstance(raw, Mapping):
        if isinstance(raw.get("$ref"), str):
            return str(raw["$ref"]).rsplit("/", 1)[-1]
        if isinstance(raw.get("title"), str):
            return str(raw["title"])
    return f"#{index}"


class SchemaDiff:
    """Walks two versions of a schema side by side, guarding recursive schemas, and emits changes.

    A referenced schema is compared once per side of the wire: its changes are located in
    `components` and replayed for every other operation that uses it, so a diff costs the size
    of the documents, not operations times schemas.
    """

    def __init__(self, old: Spec, new: Spec) -> None:
        self.old, self.new = old, new
        self.out: Emit = lambda code, where, message: None
        self.done: dict[tuple[int, int, str], list[tuple[str, str, str]]] = {}
        self.recording: list[list[tuple[str, str, str]]] = []

    def emit(self, code: str, where: str, message: str) -> None:
        for record in self.recording:
            record.append((code, where, message))
        self.out(code, where, message)

    def compare(
        self, where: str, name: str, s: Any, t: Any, *, side: Side, seen: set[tuple[int, int]]
    ) -> None:
        """Compare `s` (old) with `t` (new) at `where`; `seen` stops at pairs already compared."""
        ref = t.get("$ref") if isinstance(t, Mapping) else None
        s, t = self.old.schema(s), self.new.schema(t)
        if (id(s), id(t)) in seen:
            return
        seen.add((id(s), id(t)))
        if not isinstance(ref, str):
            self.walk(where, name, s, t, side, seen)
            return
        key = (id(s), id(t), side)
        if key in self.done:
            for change in self.done[key]:
                self.emit(*change)
            return
        self.recording.append([])
        target = self.new.deref({"$ref": ref})
        at = ref.lstrip("#") if target is t else where
        self.walk(at, ref.rsplit("/", 1)[-1] if target is t else name, s, t, side, seen)
        self.done[key] = self.recording.pop()

    def walk(
        self,
        where: str,
        name: str,
        s: Mapping[str, Any],
        t: Mapping[str, Any],
        side: Side,
        seen: set[tuple[int, int]],
    ) -> None:
        """Compare every keyword of two dereferenced schemas."""
        self.types(where, name, s, t, side)
        self.enum(where, name, s, t, side)
        self.bounds(where, name, s, t, side)
        self.keywords(where, name, s, t, side)
        self.branches(where, name, s, t, side, seen)
        for key in _NESTED:
            a, b = s.get(key), t.get(key)
            if isinstance(a, Mapping | bool) and isinstance(b, Mapping | bool):
                label = f"{name}[]" if key == "items" else f"{name}.{key}"
                self.compare(f"{where}/{key}", label, a, b, side=side, seen=seen)
        for key in _MAPS:
            a, b = s.get(key) or {}, t.get(key) or {}
            for k in sorted(set(a) & set(b)):
                at = f"{where}/{key}/{escape(str(k))}"
                self.compare(at, f"{name}.{key}[{k}]", a[k], b[k], side=side, seen=seen)
        self.prefix_items(where, name, s, t, side, seen)
        self.fields(where, name, s, t, side, seen)

    def types(
        self, where: str, name: str, s: Mapping[str, Any], t: Mapping[str, Any], side: Side
    ) -> None:
        before, after = _widen(types(self.old, s)), _widen(types(self.new, t))
        if before and after and before != after:
            if after == before | {"null"} and side == "response":
                self.emit(f"{side}-field-became-nullable", where, f"{name} may now be null")
            elif before < after:
                self.emit(f"{side}-type-widened", where, f"{name} also allows {_t(after - before)}")
            elif after < before:
                self.emit(
                    f"{side}-type-narrowed", where, f"{name} no longer allows {_t(before - after)}"
                )
            else:
                self.emit(f"{side}-type-changed", where, f"{name}: {_t(before)} → {_t(after)}")
        if before == after and s.get("format") != t.get("format") and t.get("format"):
            self.emit(
                f"{side}-format-changed",
                where,
                f"{name} format {s.get('format')} → {t.get('format')}",
            )

    def enum(
        self, where: str, name: str, s: Mapping[str, Any], t: Mapping[str, Any], side: Side
    ) -> None:
        before, after = _enum(s), _enum(t)
        if before == after or (after is None and side == "response"):
            return
        if after is None:
            self.emit(f"{side}-enum-widened", where, f"{name} accepts any value, not only {before}")
            return
        if before is None or before - after:
            dropped = "values outside the enum" if before is None else sorted(before - after)
            self.emit(f"{side}-enum-narrowed", where, f"{name} no longer allows {dropped}")
        if before is not None and after - before:
            self.emit(f"{side}-enum-widened", where, f"{name} may now be {sorted(after - before)}")

    def bounds(
        self, where: str, name: str, s: Mapping[str, Any], t: Mapping[str, Any], side: Side
    ) -> None:
        """Numeric bounds: an upper bound added or lowered tightens, a lower bound the same upward."""
        for key in (*_UPPER, *_LOWER):
            a, b = s.get(key), t.get(key)
            if a == b:
                continue
            upper = key in _UPPER
            if a is None or a is False:  # a bound where there was none (3.0 exclusive: true)
                kind = "added"
            elif b is None or b is False or not (_number(a) and _number(b)):
                kind = "loosened"
            else:
                tighter = float(b) < float(a) if upper else float(b) > float(a)
                kind = "tightened" if tighter else "loosened"
            self.emit(f"{side}-constraint-{kind}", where, f"{name} {key} {a} → {b}")
        if s.get("uniqueItems") != t.get("uniqueItems"):
            kind = "tightened" if t.get("uniqueItems") else "loosened"
            self.emit(
                f"{side}-constraint-{kind}", where, f"{name} uniqueItems → {t.get('uniqueItems')}"
            )

    def keywords(
        self, where: str, name: str, s: Mapping[str, Any], t: Mapping[str, Any], side: Side
    ) -> None:
        """Presence keywords, pattern and default."""
        for key in _PRESENCE:
            a, b = s.get(key), t.get(key)
            if a is None and b is not None:
                self.emit(f"{side}-constraint-tightened", where, f"{name} gained {key}")
            elif a is not None and b is None:
                self.emit(f"{side}-constraint-loosened", where, f"{name} lost {key}")
            elif a != b and key not in _NESTED and key not in _MAPS:
                self.emit(f"{side}-constraint-changed", where, f"{name} {key} {a!r} → {b!r}")
        a, b = s.get("pattern"), t.get("pattern")
        if a != b:
            if a is None:
                self.emit(f"{side}-constraint-tightened", where, f"{name} gained pattern {b!r}")
            elif b is None:
                self.emit(f"{side}-constraint-loosened", where, f"{name} lost pattern {a!r}")
            else:
                self.emit(f"{side}-pattern-changed", where, f"{name} pattern {a!r} → {b!r}")
        if s.get("default") != t.get("default"):
            self.emit(
                f"{side}-default-changed",
                where,
                f"{name} default {s.get('default')!r} → {t.get('default')!r}",
            )

    def branches(
        self,
        where: str,
        name: str,
        s: Mapping[str, Any],
        t: Mapping[str, Any],
        side: Side,
        seen: set[tuple[int, int]],
    ) -> None:
        """`oneOf`/`anyOf`/`allOf` branches matched by the schema they reference."""
        for key in ("oneOf", "anyOf", "allOf"):
            if key not in s and key not in t:
                continue
            a = {_branch_key(x, i): x for i, x in enumerate(s.get(key) or [])}
            b = {_branch_key(x, i): x for i, x in enumerate(t.get(key) or [])}
            label = "one-of" if key == "oneOf" else "all-of" if key == "allOf" else "branch"
            for k in sorted(set(a) - set(b)):
                code = f"{side}-all-of-removed" if key == "allOf" else f"{side}-branch-removed"
                self.emit(code, f"{where}/{key}", f"{name} {key} lost {k}")
            for k in sorted(set(b) - set(a)):
                if key == "allOf":
                    code = f"{side}-all-of-added"
                elif label == "one-of" and side == "response":
                    code = "response-one-of-added"
                else:
                    code = f"{side}-branch-added"
                self.emit(code, f"{where}/{key}", f"{name} {key} gained {k}")
            for k in sorted(set(a) & set(b)):
                at = f"{where}/{key}"
                self.compare(at, f"{name}/{key}[{k}]", a[k], b[k], side=side, seen=seen)

    def prefix_items(
        self,
        where: str,
        name: str,
        s: Mapping[str, Any],
        t: Mapping[str, Any],
        side: Side,
        seen: set[tuple[int, int]],
    ) -> None:
        a, b = list(s.get("prefixItems") or []), list(t.get("prefixItems") or [])
        if len(b) < len(a):  # fewer positional schemas: later items fall to `items`
            self.emit(
                f"{side}-constraint-tightened", where, f"{name} prefixItems {len(a)} → {len(b)}"
            )
        elif len(b) > len(a):
            self.emit(
                f"{side}-constraint-loosened", where, f"{name} prefixItems {len(a)} → {len(b)}"
            )
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            self.compare(f"{where}/prefixItems/{i}", f"{name}[{i}]", x, y, side=side, seen=seen)

    def fields(
        self,
        where: str,
        name: str,
        s: Mapping[str, Any],
        t: Mapping[str, Any],
        side: Side,
        seen: set[tuple[int, int]],
    ) -> None:
        (p_old, r_old), (p_new, r_new) = properties(self.old, s), properties(self.new, t)
        hidden = "readOnly" if side != "response" else "writeOnly"  # not on this side of the wire
        for field in sorted(p_old.keys() - p_new.keys()):
            code = f"{side}-field-removed"
            if side == "response" and field not in r_old:
                code = "response-optional-field-removed"
            self.emit(code, where, f"{side} field {name}.{field} removed")
        for field in sorted(p_new.keys() - p_old.keys()):
            required = side != "response" and field in r_new
            required = required and not self.new.schema(p_new[field]).get(hidden)
            code = f"required-{side}-field-added" if required else f"{side}-field-added"
            what = f"required {side}" if required else side
            self.emit(code, where, f"{what} field {name}.{field} added")
        for field in sorted(p_old.keys() & p_new.keys()):
            at = f"{where}/properties/{escape(field)}"
            if self.new.schema(p_new[field]).get(hidden):
                continue
            if side != "response" and field in r_new and field not in r_old:
                self.emit(
                    f"{side}-field-became-required",
                    at,
                    f"{side} field {name}.{field} is now required",
                )
            if side == "response" and field in r_old and field not in r_new:
                self.emit(
                    "response-field-became-optional",
                    at,
                    f"response field {name}.{field} may be absent",
                )
            self.compare(at, f"{name}.{field}", p_old[field], p_new[field], side=side, seen=seen)


def _widen(found: frozenset[str]) -> frozenset[str]:
    """Every integer is a number: `number` in a type set includes `integer`."""
    return found | {"integer"} if "number" in found else found


def _t(found: frozenset[str] | set[str]) -> str:
    return "|".join(sorted(found))
