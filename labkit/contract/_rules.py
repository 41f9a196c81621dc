"""What the lint rules share: the `Rule` record, its registry, the guideline sources and a `Context`.

The rules themselves live in `_rules_design` (document, paths, parameters, schemas) and
`_rules_http` (operations, collections, errors, security, rate limits).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from labkit.contract._base import escape
from labkit.contract._load import Operation, Spec
from labkit.contract._schemas import json_schema, request_schemas, response_schemas, types, walk

__all__ = [
    "COURSE",
    "CURSOR_NAMES",
    "IDEMPOTENCY",
    "LIMIT_NAMES",
    "OFFSET_NAMES",
    "OPENAPI",
    "OWASP",
    "PROFILES",
    "RATELIMIT",
    "RATE_HEADERS",
    "RFC9110",
    "RFC9457",
    "RULES",
    "ZALANDO",
    "Context",
    "Hit",
    "Rule",
    "Severity",
    "header_names",
    "is_param",
    "rule",
    "segments",
]

Severity = Literal["error", "warning", "info"]
Hit = tuple[str, str]
Check = Callable[["Context"], Iterable[Hit]]

ZALANDO = "Zalando RESTful API Guidelines"
OWASP = "OWASP API Security Top 10 (2023)"
RFC9110 = "RFC 9110 HTTP Semantics"
RFC9457 = "RFC 9457 Problem Details for HTTP APIs"
RATELIMIT = "IETF draft-ietf-httpapi-ratelimit-headers"
IDEMPOTENCY = "IETF draft-ietf-httpapi-idempotency-key-header"
OPENAPI = "OpenAPI Specification 3.1"
COURSE = "Workbench design conventions"


@dataclass(frozen=True)
class Rule:
    """One guideline made checkable: what it finds, why it matters, how to fix it, where it's from.

    `severity` is its grade in the neutral default profile, `strict` in the house profile.
    """

    id: str
    severity: Severity
    title: str
    why: str
    fix: str
    source: str
    check: Check
    strict: Severity

    def grade(self, profile: str) -> Severity:
        return self.strict if profile == "strict" else self.severity

    @property
    def guideline(self) -> str:
        """The guideline the rule is drawn from first: its source up to a clause or section."""
        return re.split(r":| §| / ", self.source, maxsplit=1)[0]

    def __repr__(self) -> str:
        return f"Rule({self.id!r}, {self.severity}, {self.title!r})"


RULES: dict[str, Rule] = {}


PROFILES = ("default", "strict")


def rule(
    id: str,
    strict: Severity,
    title: str,
    *,
    default: Severity | None = None,
    why: str,
    fix: str,
    source: str,
) -> Callable[[Check], Check]:
    """Register a check as a rule: `strict` is its house grade, `default` the neutral one.

    The default profile keeps `error` for definite defects and grades house preferences
    (naming, status-code taste, documentation completeness) as `info`.
    """

    def register(check: Check) -> Check:
        RULES[id] = Rule(id, default or strict, title, why, fix, source, check, strict)
        return check

    return register


LIMIT_NAMES = frozenset({"limit", "page_size", "pagesize", "per_page", "perpage", "size"})
CURSOR_NAMES = frozenset({"cursor", "after", "before", "page_token", "pagetoken", "starting_after"})
OFFSET_NAMES = frozenset({"offset", "page", "skip"})
PAGE_ITEMS = frozenset({"items", "data", "results", "entries"})
RATE_HEADERS = ("ratelimit", "ratelimit-policy", "x-ratelimit-limit", "x-ratelimit-remaining")


def segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def header_names(response: Mapping[str, Any]) -> set[str]:
    return {str(h).lower() for h in (response.get("headers") or {})}


class Context:
    """What many rules need, computed once per lint run."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.operations = spec.operations
        self.paths = {op.path for op in self.operations}

    @cached_property
    def request_schemas(self) -> list[tuple[Operation, str, dict[str, Any]]]:
        return list(request_schemas(self.spec, set()))

    @cached_property
    def response_schemas(self) -> list[tuple[Operation, str, dict[str, Any]]]:
        return list(response_schemas(self.spec, set()))

    @cached_property
    def all_schemas(self) -> list[tuple[str, dict[str, Any]]]:
        seen: set[str] = set()
        found = [(p, s) for _, p, s in request_schemas(self.spec, seen)]
        found += [(p, s) for _, p, s in response_schemas(self.spec, seen)]
        for name, schema in ((self.spec.doc.get("components") or {}).get("schemas") or {}).items():
            found += list(walk(self.spec, schema, f"/components/schemas/{escape(str(name))}", seen))
        return found

    def is_collection(self, path: str) -> bool:
        """A path whose last segment names a collection: it has members at `path/{id}`."""
        if not segments(path) or is_param(segments(path)[-1]):
            return False
        prefix = path.rstrip("/") + "/{"
        return any(p.startswith(prefix) and p.count("/") == path.count("/") + 1 for p in self.paths)

    def is_create(self, op: Operation) -> bool:
        return op.method == "post" and self.is_collection(op.path)

    def is_list(self, op: Operation) -> bool:
        """A GET on a static path whose success body is an array or a page of `items`."""
        parts = segments(op.path)
        if op.method != "get" or not parts or is_param(parts[-1]):
            return False
        found = json_schema(op.responses.get("200"))
        if not found:
            return False
        schema = self.spec.schema(found[1])
        if "array" in types(self.spec, schema):
            return True
        props = schema.get("properties") or {}
        return any(
            name in PAGE_ITEMS and "array" in types(self.spec, p) for name, p in props.items()
        )

    def limited(self, op: Operation) -> bool:
        """Whether a rate limit applies: declared by an extension or by RateLimit headers."""
        if any(str(k).lower() in ("x-rate-limit", "x-ratelimit") for k in op.node):
            return True
        return any(h in RATE_HEADERS for r in op.responses.values() for h in header_names(r))
