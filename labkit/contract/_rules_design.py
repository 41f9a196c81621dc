"""Lint rules on the design: the document, path naming, parameters and schemas."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from labkit.contract._base import escape
from labkit.contract._load import Operation
from labkit.contract._rules import (
    COURSE,
    LIMIT_NAMES,
    OPENAPI,
    OWASP,
    ZALANDO,
    Context,
    Hit,
    is_param,
    rule,
    segments,
)
from labkit.contract._schemas import json_schema, types, walk
from labkit.contract._validate import official_problems

__all__: list[str] = []


_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
_CAMEL = re.compile(r"^[a-z][a-z0-9]*([A-Z][a-z0-9]*)+$")
_PASCAL = re.compile(r"^[A-Z][a-z0-9]+([A-Z][a-z0-9]*)*$")
_KEBAB_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
_WORD = re.compile(r"^[a-z][a-z0-9]*$")
_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_VERSION = re.compile(r"^v\d+(\.\d+)?$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
_VERBS = frozenset(
    [
        "get",
        "create",
        "update",
        "delete",
        "remove",
        "add",
        "set",
        "list",
        "fetch",
        "make",
        "do",
        "execute",
        "perform",
        "process",
        "save",
        "modify",
        "edit",
        "insert",
        "change",
        "retrieve",
        "read",
        "write",
        "cancel",
        "approve",
        "activate",
        "deactivate",
        "send",
        "reset",
        "login",
        "logout",
        "register",
    ]
)
_PLURAL_EXCEPTIONS = frozenset(
    ["data", "media", "people", "children", "news", "series", "staff", "health", "me"]
)
_SECRETS = frozenset(
    [
        "password",
        "password_hash",
        "passwordhash",
        "hashed_password",
        "secret",
        "api_key",
        "apikey",
        "access_token",
        "refresh_token",
        "private_key",
        "ssn",
        "card_number",
        "cvv",
    ]
)
_SERVER_OWNED = frozenset(
    [
        "id",
        "created_at",
        "updated_at",
        "deleted_at",
        "role",
        "is_admin",
        "owner_id",
        "user_id",
        "version",
    ]
)
# Operations whose job is to hand out credentials: a secret in their response is the point.
_ISSUES_CREDENTIALS = re.compile(
    r"(token|refresh|login|signin|sign-in|session|oauth|auth|credential|secret|api-?keys?|keys)$",
    re.IGNORECASE,
)


def _issues_credentials(op: Operation) -> bool:
    names = [s.strip("{}").split(".")[0] for s in segments(op.path)]
    names.append(str(op.node.get("operationId", "")))
    return any(_ISSUES_CREDENTIALS.search(n) for n in names if n)


_MONEY = re.compile(r"(price|amount|total|cost|balance|fee)", re.IGNORECASE)


def _casing(name: str) -> str:
    """The naming style of one name; a single lowercase word fits every style."""
    for style, pattern in (
        ("word", _WORD),
        ("snake_case", _SNAKE),
        ("camelCase", _CAMEL),
        ("PascalCase", _PASCAL),
        ("kebab-case", _KEBAB_NAME),
    ):
        if pattern.match(name):
            return style
    return "other"


# --- the document -------------------------------------------------------------------------


@rule(
    "info-description",
    "info",
    "API description present",
    why="Readers and portals show the description first; without it the API has no stated purpose.",
    fix="Add `info.description` saying what the API is for and who uses it.",
    source=f"{ZALANDO}: MUST contain API meta information",
)
def _info_description(ctx: Context) -> Iterator[Hit]:
    if not ctx.spec.doc["info"].get("description"):
        yield "/info", "info has no description"


@rule(
    "info-contact",
    "info",
    "API owner contact present",
    why="Consumers need to know who owns the API to report problems and negotiate changes.",
    fix="Add `info.contact` with a team name and an email or URL.",
    source=f"{ZALANDO}: MUST contain API meta information",
)
def _info_contact(ctx: Context) -> Iterator[Hit]:
    if not ctx.spec.doc["info"].get("contact"):
        yield "/info", "info has no contact"


@rule(
    "info-version-semver",
    "warning",
    "API version is a semantic version",
    default="info",
    why="MAJOR.MINOR.PATCH tells consumers at a glance whether a release can break them.",
    fix="Set `info.version` to MAJOR.MINOR.PATCH, e.g. 1.0.0.",
    source=f"{ZALANDO}: MUST use semantic versioning",
)
def _info_version(ctx: Context) -> Iterator[Hit]:
    version = str(ctx.spec.doc["info"]["version"])
    if not _SEMVER.match(version):
        yield "/info/version", f"version {version!r} is not MAJOR.MINOR.PATCH"


@rule(
    "servers-https",
    "warning",
    "Servers use HTTPS",
    why="Plain HTTP exposes tokens and personal data to anyone on the path.",
    fix="Use https:// server URLs (plain http only for localhost).",
    source=f"{OWASP}: API8 Security Misconfiguration",
)
def _servers_https(ctx: Context) -> Iterator[Hit]:
    for i, server in enumerate(ctx.spec.doc.get("servers") or []):
        url = str(server.get("url", ""))
        if url.startswith("http://") and not re.match(r"http://(localhost|127\.0\.0\.1)\b", url):
            yield f"/servers/{i}/url", f"server {url} is plain HTTP"


@rule(
    "security-scheme-defined",
    "error",
    "A security scheme is defined",
    default="warning",
    why="An API with no declared authentication is either open to everyone or undocumented.",
    fix="Declare `components.securitySchemes` (e.g. HTTP bearer) and a top-level `security`.",
    source=f"{OWASP}: API2 Broken Authentication",
)
def _scheme_defined(ctx: Context) -> Iterator[Hit]:
    if not (ctx.spec.doc.get("components") or {}).get("securitySchemes"):
        yield "/components", "no security scheme is defined"


@rule(
    "rate-limits-declared",
    "warning",
    "Rate limits are declared somewhere",
    default="info",
    why="Without limits one client can exhaust the service; clients need 429 to back off.",
    fix="Document 429 responses (with Retry-After) on the operations you limit.",
    source=f"{OWASP}: API4 Unrestricted Resource Consumption",
)
def _limits_declared(ctx: Context) -> Iterator[Hit]:
    if ctx.operations and not any("429" in op.responses for op in ctx.operations):
        yield "/paths", "no operation documents a 429 response"


@rule(
    "openapi-schema-valid",
    "error",
    "The document is valid against the official OpenAPI schema",
    why="Generators, gateways and validators reject or misread what the specification does not allow.",
    fix="Change the field the message names to what the OpenAPI specification allows there.",
    source=f"{OPENAPI}: the specification's published JSON Schema",
)
def _official_schema(ctx: Context) -> Iterator[Hit]:
    for where, message in official_problems(ctx.spec.doc):
        yield where, f"{message} (official schema)"


# --- paths ----------------------------------------------------------------------------------


@rule(
    "path-kebab-case",
    "error",
    "Path segments are kebab-case",
    default="info",
    why="One casing for URLs makes them guessable; mixed case breaks caches and case-insensitive tools.",
    fix="Write segments in lowercase words joined by hyphens: /order-items.",
    source=f"{ZALANDO}: MUST use kebab-case for path segments",
)
def _kebab(ctx: Context) -> Iterator[Hit]:
    for path in ctx.paths:
        bad = [s for s in segments(path) if not is_param(s) and not _KEBAB.match(s)]
        if bad:
            yield f"/paths/{escape(path)}", f"segment {bad[0]!r} is not kebab-case"


@rule(
    "path-plural-resources",
    "warning",
    "Collections are plural nouns",
    default="info",
    why="`/orders/{id}` reads as one of many orders; singular collections make every URL ambiguous.",
    fix="Name the segment before an id in the plural: /orders/{order_id}.",
    source=f"{ZALANDO}: MUST pluralize resource names",
)
def _plural(ctx: Context) -> Iterator[Hit]:
    for path in ctx.paths:
        segs = segments(path)
        for before, after in itertools.pairwise(segs):
            word = before.split("-")[-1]
            if (
                is_param(after)
                and not is_param(before)
                and not _VERSION.match(before)
                and (not word.endswith("s") and word not in _PLURAL_EXCEPTIONS)
            ):
                yield f"/paths/{escape(path)}", f"collection {before!r} is not plural"


@rule(
    "path-no-verbs",
    "warning",
    "Paths are free of verbs",
    default="info",
    why="The HTTP method is the verb; verbs in paths duplicate it and grow RPC-style endpoints.",
    fix="Model the action as a resource (POST /orders, not POST /create-order).",
    source=f"{ZALANDO}: MUST keep URLs verb-free",
)
def _verbs(ctx: Context) -> Iterator[Hit]:
    for path in ctx.paths:
        for seg in segments(path):
            first = re.split(r"[-_]|(?=[A-Z])", seg)[0].lower()
            if not is_param(seg) and first in _VERBS:
                yield f"/paths/{escape(path)}", f"segment {seg!r} starts with the verb {first!r}"
                break


@rule(
    "path-version-segment",
    "warning",
    "Paths carry a major version",
    default="info",
    why="A /v1 prefix lets v2 run beside v1 so clients migrate on their own schedule.",
    fix="Start resource paths with the major version: /v1/products.",
    source=f"{COURSE}: /v1 URL versioning (Zalando prefers media-type versioning)",
)
def _version_segment(ctx: Context) -> Iterator[Hit]:
    servers = [str(s.get("url", "")) for s in ctx.spec.doc.get("servers") or []]
    if any(re.search(r"/v\d+(\.\d+)?(/|$)", url) for url in servers):
        return  # the major version sits in the server URL: every path inherits it
    for path in ctx.paths:
        segs = segments(path)
        if (
            segs
            and segs[0] not in ("health", "metrics", "openapi.json")
            and not _VERSION.match(segs[0])
        ):
            yield f"/paths/{escape(path)}", f"path {path} has no /v<major> prefix"


@rule(
    "path-no-trailing-slash",
    "warning",
    "Paths have no trailing slash",
    default="info",
    why="`/orders` and `/orders/` are different URLs to caches, proxies and routers.",
    fix="Drop the trailing slash.",
    source=f"{ZALANDO}: MUST not use trailing slashes",
)
def _trailing(ctx: Context) -> Iterator[Hit]:
    for path in ctx.paths:
        if len(path) > 1 and path.endswith("/"):
            yield f"/paths/{escape(path)}", f"path {path} ends with '/'"


@rule(
    "path-parameters-declared",
    "error",
    "Path template parameters are declared",
    why="An undeclared {param} leaves clients and generators guessing its type; the document is invalid.",
    fix="Declare each {name} as a parameter with `in: path` and `required: true`.",
    source=f"{OPENAPI}: Path Templating",
)
def _path_params(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        declared = {p.get("name") for p in op.parameters if p.get("in") == "path"}
        for name in re.findall(r"{([^}]+)}", op.path):
            if name not in declared:
                yield op.pointer, f"{{{name}}} is not declared as a path parameter"


# --- parameters -----------------------------------------------------------------------------


def _params(ctx: Context) -> Iterator[tuple[Operation, dict[str, Any]]]:
    return ((op, p) for op in ctx.operations for p in op.parameters)


def _param_pointer(op: Operation, p: Mapping[str, Any]) -> str:
    """The JSON pointer of a merged parameter: in the operation, else in its path item."""
    key = (p.get("name"), p.get("in"))
    for i, raw in enumerate(op.node.get("parameters") or []):
        q = op.spec.deref(raw)
        if (q.get("name"), q.get("in")) == key:
            return f"{op.pointer}/parameters/{i}"
    return f"/paths/{escape(op.path)}/parameters"


@rule(
    "parameter-casing-consistent",
    "warning",
    "Query and path parameters share one casing",
    why="Mixed `page_size` and `pageSize` make every call a lookup in the docs.",
    fix="Rename parameters to the API's dominant casing (snake_case in most guidelines).",
    source=f"{ZALANDO}: MUST use snake_case (never camelCase) for query parameters",
)
def _param_casing(ctx: Context) -> Iterator[Hit]:
    params = [(op, p) for op, p in _params(ctx) if p.get("in") in ("query", "path")]
    yield from _consistent(
        [(_param_pointer(op, p), str(p.get("name"))) for op, p in params], "parameter"
    )


def _consistent(named: list[tuple[str, str]], what: str) -> Iterator[Hit]:
    """Names in another recognisable style than the API's own dominant one.

    The API is judged against itself: a consistently PascalCase API is consistent. Names in no
    recognisable style (`$filter`, `page[size]`) are left alone.
    """
    styles = Counter(c for _, n in named if (c := _casing(n)) not in ("word", "other"))
    if not styles:
        return
    # Ties go to snake_case, the style most guidelines ask for.
    dominant = max(styles, key=lambda c: (styles[c], c == "snake_case"))
    for pointer, name in named:
        if _casing(name) not in ("word", "other", dominant):
            yield pointer, f"{what} {name!r} is not {dominant} like the rest of the API"


@rule(
    "no-secrets-in-query",
    "error",
    "No credentials in query strings",
    why="URLs end up in logs, browser history and Referer headers; a token there leaks.",
    fix="Send credentials in the Authorization header (or a cookie), never the query.",
    source=f"{OWASP}: API2 Broken Authentication",
)
def _secrets_in_query(ctx: Context) -> Iterator[Hit]:
    for op, p in _params(ctx):
        if p.get("in") == "query" and str(p.get("name", "")).lower() in _SECRETS:
            yield _param_pointer(op, p), f"query parameter {p.get('name')!r} carries a credential"
    for name, scheme in (
        (ctx.spec.doc.get("components") or {}).get("securitySchemes") or {}
    ).items():
        if scheme.get("type") == "apiKey" and scheme.get("in") == "query":
            yield (
                f"/components/securitySchemes/{escape(name)}",
                f"API key {name!r} is sent in the query",
            )


@rule(
    "limit-has-maximum",
    "warning",
    "Page size has a maximum",
    why="An unbounded `limit` lets one request read the whole table.",
    fix="Give the limit parameter `maximum` (e.g. 100) and a `default`.",
    source=f"{OWASP}: API4 Unrestricted Resource Consumption",
)
def _limit_max(ctx: Context) -> Iterator[Hit]:
    for op, p in _params(ctx):
        is_limit = p.get("in") == "query" and str(p.get("name", "")).lower() in LIMIT_NAMES
        if is_limit and "maximum" not in ctx.spec.schema(p.get("schema")):
            yield _param_pointer(op, p), f"{p.get('name')!r} has no maximum"


# --- schemas --------------------------------------------------------------------------------


@rule(
    "property-casing-consistent",
    "warning",
    "Properties share one casing",
    why="Consistent names let clients map fields without per-field exceptions.",
    fix="Rename properties to the dominant casing (snake_case per Zalando).",
    source=f"{ZALANDO}: MUST property names must be ASCII snake_case",
)
def _prop_casing(ctx: Context) -> Iterator[Hit]:
    named = [
        (f"{pointer}/properties/{escape(str(n))}", str(n))
        for pointer, schema in ctx.all_schemas
        for n in (schema.get("properties") or {})
    ]
    yield from _consistent(named, "property")


@rule(
    "timestamp-suffix-at",
    "info",
    "Timestamps end in _at",
    why="A suffix tells readers a field is a point in time without opening the schema.",
    fix="Rename date-time properties to `<event>_at`, e.g. created_at.",
    source=f"{ZALANDO}: SHOULD name date/time properties with _at suffix",
)
def _at_suffix(ctx: Context) -> Iterator[Hit]:
    for pointer, schema in ctx.all_schemas:
        for name, sub in (schema.get("properties") or {}).items():
            if ctx.spec.schema(sub).get("format") == "date-time" and not re.search(
                r"(_at|At)$", name
            ):
                yield (
                    f"{pointer}/properties/{escape(name)}",
                    f"date-time {name!r} does not end in _at",
                )


@rule(
    "money-not-float",
    "warning",
    "Money is not a float",
    default="info",
    why="Binary floats cannot hold 0.10 exactly; totals drift by cents.",
    fix="Use integer minor units (price_cents) or a decimal string with a currency.",
    source=f"{COURSE}: money as integer cents",
)
def _money(ctx: Context) -> Iterator[Hit]:
    for pointer, schema in ctx.all_schemas:
        for name, sub in (schema.get("properties") or {}).items():
            if _MONEY.search(name) and "number" in types(ctx.spec, sub):
                yield f"{pointer}/properties/{escape(name)}", f"money field {name!r} is a number"


@rule(
    "response-no-sensitive-fields",
    "error",
    "Responses expose no secrets",
    default="warning",
    why="Returning password hashes or tokens in objects is excessive data exposure.",
    fix="Drop the field from the response schema (keep it server-side).",
    source=f"{OWASP}: API3 Broken Object Property Level Authorization",
)
def _sensitive(ctx: Context) -> Iterator[Hit]:
    for op, pointer, schema in ctx.response_schemas:
        if _issues_credentials(op):
            continue
        for name, sub in (schema.get("properties") or {}).items():
            kinds = types(ctx.spec, sub)
            if str(name).lower() in _SECRETS and (not kinds or "string" in kinds):
                yield (
                    f"{pointer}/properties/{escape(str(name))}",
                    f"response field {name!r} is a secret",
                )


@rule(
    "request-body-closed",
    "warning",
    "Request bodies refuse unknown properties",
    default="info",
    why="Open bodies invite mass assignment: a client sets `role` or `price` it should not.",
    fix="Set `additionalProperties: false` on request object schemas.",
    source=f"{OWASP}: API3 Broken Object Property Level Authorization (mass assignment)",
)
def _closed(ctx: Context) -> Iterator[Hit]:
    for _, pointer, schema in ctx.request_schemas:
        is_object = "object" in types(ctx.spec, schema) or "properties" in schema
        closed = (
            schema.get("additionalProperties") is False
            or schema.get("unevaluatedProperties") is False
        )
        if is_object and not closed and "allOf" not in schema:
            yield pointer, "request object accepts unknown properties"


@rule(
    "request-body-no-server-fields",
    "warning",
    "Request bodies omit server-owned fields",
    why="Letting clients send id, owner or role is how mass assignment becomes privilege escalation.",
    fix="Remove the field from the create/update schema, or mark it `readOnly: true`.",
    source=f"{OWASP}: API3 Broken Object Property Level Authorization (mass assignment)",
)
def _server_fields(ctx: Context) -> Iterator[Hit]:
    # The body's own fields on writes only: a nested `role` (a chat message's) or `id` (a
    # reference to another resource) is data the client owns.
    for op in ctx.operations:
        found = json_schema(op.request_body) if op.method in ("post", "put", "patch") else None
        if not found:
            continue
        start = f"{op.pointer}/requestBody/content/{escape(found[0])}/schema"
        pointer, schema = next(walk(ctx.spec, found[1], start, set()), (start, {}))
        for name, sub in (schema.get("properties") or {}).items():
            if str(name).lower() in _SERVER_OWNED and not ctx.spec.schema(sub).get("readOnly"):
                yield f"{pointer}/properties/{escape(str(name))}", f"clients may set {name!r}"


@rule(
    "request-bounds",
    "info",
    "Request strings and arrays are bounded",
    why="Unbounded input lets a client send megabytes where ten characters were meant.",
    fix="Give strings `maxLength` (or an enum/format/pattern) and arrays `maxItems`.",
    source=f"{OWASP}: API4 Unrestricted Resource Consumption",
)
def _bounds(ctx: Context) -> Iterator[Hit]:
    for _, pointer, schema in ctx.request_schemas:
        own = schema.get("type")
        kinds = set(own if isinstance(own, list) else [own])
        bounded = any(k in schema for k in ("maxLength", "enum", "format", "pattern", "const"))
        if "string" in kinds and not bounded:
            yield pointer, "string has no maxLength"
        if "array" in kinds and "maxItems" not in schema:
            yield pointer, "array has no maxItems"
