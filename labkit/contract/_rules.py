"""The lint rules: each one a check over the document and the guideline it comes from."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from labkit.contract._base import escape
from labkit.contract._load import Operation, Spec
from labkit.contract._schemas import json_schema, request_schemas, response_schemas, types, walk

__all__ = ["RULES", "Context", "Rule", "Severity"]

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
    """One guideline made checkable: what it finds, why it matters, how to fix it, where it's from."""

    id: str
    severity: Severity
    title: str
    why: str
    fix: str
    source: str
    check: Check

    def __repr__(self) -> str:
        return f"Rule({self.id!r}, {self.severity}, {self.title!r})"


RULES: dict[str, Rule] = {}


def rule(
    id: str, severity: Severity, title: str, *, why: str, fix: str, source: str
) -> Callable[[Check], Check]:
    """Register a check as a rule."""

    def register(check: Check) -> Check:
        RULES[id] = Rule(id, severity, title, why, fix, source, check)
        return check

    return register


_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
_CAMEL = re.compile(r"^[a-z][a-z0-9]*([A-Z][a-z0-9]*)+$")
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
        "token",
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
_MONEY = re.compile(r"(price|amount|total|cost|balance|fee)", re.IGNORECASE)
_LIMIT_NAMES = frozenset({"limit", "page_size", "pagesize", "per_page", "perpage", "size"})
_CURSOR_NAMES = frozenset(
    {"cursor", "after", "before", "page_token", "pagetoken", "starting_after"}
)
_OFFSET_NAMES = frozenset({"offset", "page", "skip"})
_PAGE_ITEMS = frozenset({"items", "data", "results", "entries"})
_RATE_HEADERS = ("ratelimit", "ratelimit-policy", "x-ratelimit-limit", "x-ratelimit-remaining")


def _casing(name: str) -> str:
    if _WORD.match(name):
        return "word"
    if _SNAKE.match(name):
        return "snake_case"
    if _CAMEL.match(name):
        return "camelCase"
    return "other"


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _headers(response: Mapping[str, Any]) -> set[str]:
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
        if not _segments(path) or _is_param(_segments(path)[-1]):
            return False
        prefix = path.rstrip("/") + "/{"
        return any(p.startswith(prefix) and p.count("/") == path.count("/") + 1 for p in self.paths)

    def is_create(self, op: Operation) -> bool:
        return op.method == "post" and self.is_collection(op.path)

    def is_list(self, op: Operation) -> bool:
        """A GET on a static path whose success body is an array or a page of `items`."""
        segments = _segments(op.path)
        if op.method != "get" or not segments or _is_param(segments[-1]):
            return False
        found = json_schema(op.responses.get("200"))
        if not found:
            return False
        schema = self.spec.schema(found[1])
        if "array" in types(self.spec, schema):
            return True
        props = schema.get("properties") or {}
        return any(
            name in _PAGE_ITEMS and "array" in types(self.spec, p) for name, p in props.items()
        )

    def limited(self, op: Operation) -> bool:
        """Whether a rate limit applies: declared by an extension or by RateLimit headers."""
        if any(str(k).lower() in ("x-rate-limit", "x-ratelimit") for k in op.node):
            return True
        return any(h in _RATE_HEADERS for r in op.responses.values() for h in _headers(r))


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
    why="Without limits one client can exhaust the service; clients need 429 to back off.",
    fix="Document 429 responses (with Retry-After) on the operations you limit.",
    source=f"{OWASP}: API4 Unrestricted Resource Consumption",
)
def _limits_declared(ctx: Context) -> Iterator[Hit]:
    if ctx.operations and not any("429" in op.responses for op in ctx.operations):
        yield "/paths", "no operation documents a 429 response"


# --- paths ----------------------------------------------------------------------------------


@rule(
    "path-kebab-case",
    "error",
    "Path segments are kebab-case",
    why="One casing for URLs makes them guessable; mixed case breaks caches and case-insensitive tools.",
    fix="Write segments in lowercase words joined by hyphens: /order-items.",
    source=f"{ZALANDO}: MUST use kebab-case for path segments",
)
def _kebab(ctx: Context) -> Iterator[Hit]:
    for path in ctx.paths:
        bad = [s for s in _segments(path) if not _is_param(s) and not _KEBAB.match(s)]
        if bad:
            yield f"/paths/{escape(path)}", f"segment {bad[0]!r} is not kebab-case"


@rule(
    "path-plural-resources",
    "warning",
    "Collections are plural nouns",
    why="`/orders/{id}` reads as one of many orders; singular collections make every URL ambiguous.",
    fix="Name the segment before an id in the plural: /orders/{order_id}.",
    source=f"{ZALANDO}: MUST pluralize resource names",
)
def _plural(ctx: Context) -> Iterator[Hit]:
    for path in ctx.paths:
        segs = _segments(path)
        for before, after in itertools.pairwise(segs):
            word = before.split("-")[-1]
            if (
                _is_param(after)
                and not _is_param(before)
                and not _VERSION.match(before)
                and (not word.endswith("s") and word not in _PLURAL_EXCEPTIONS)
            ):
                yield f"/paths/{escape(path)}", f"collection {before!r} is not plural"


@rule(
    "path-no-verbs",
    "warning",
    "Paths are free of verbs",
    why="The HTTP method is the verb; verbs in paths duplicate it and grow RPC-style endpoints.",
    fix="Model the action as a resource (POST /orders, not POST /create-order).",
    source=f"{ZALANDO}: MUST keep URLs verb-free",
)
def _verbs(ctx: Context) -> Iterator[Hit]:
    for path in ctx.paths:
        for seg in _segments(path):
            first = re.split(r"[-_]|(?=[A-Z])", seg)[0].lower()
            if not _is_param(seg) and first in _VERBS:
                yield f"/paths/{escape(path)}", f"segment {seg!r} starts with the verb {first!r}"
                break


@rule(
    "path-version-segment",
    "warning",
    "Paths carry a major version",
    why="A /v1 prefix lets v2 run beside v1 so clients migrate on their own schedule.",
    fix="Start resource paths with the major version: /v1/products.",
    source=f"{COURSE}: /v1 URL versioning (Zalando prefers media-type versioning)",
)
def _version_segment(ctx: Context) -> Iterator[Hit]:
    for path in ctx.paths:
        segs = _segments(path)
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


def _params(ctx: Context) -> Iterator[tuple[Operation, int, dict[str, Any]]]:
    for op in ctx.operations:
        for i, p in enumerate(op.parameters):
            yield op, i, p


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
    params = [(op, p) for op, _, p in _params(ctx) if p.get("in") in ("query", "path")]
    yield from _consistent(
        [(_param_pointer(op, p), str(p.get("name"))) for op, p in params], "parameter"
    )


def _consistent(named: list[tuple[str, str]], what: str) -> Iterator[Hit]:
    styles = Counter(_casing(n) for _, n in named if _casing(n) in ("snake_case", "camelCase"))
    dominant = "camelCase" if styles["camelCase"] > styles["snake_case"] else "snake_case"
    for pointer, name in named:
        if _casing(name) not in ("word", dominant):
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
    for op, _, p in _params(ctx):
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
    for op, _, p in _params(ctx):
        is_limit = p.get("in") == "query" and str(p.get("name", "")).lower() in _LIMIT_NAMES
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
    why="Returning password hashes or tokens in objects is excessive data exposure.",
    fix="Drop the field from the response schema (keep it server-side).",
    source=f"{OWASP}: API3 Broken Object Property Level Authorization",
)
def _sensitive(ctx: Context) -> Iterator[Hit]:
    for op, pointer, schema in ctx.response_schemas:
        if op.path.rstrip("/").split("/")[-1] in (
            "token",
            "tokens",
            "refresh",
            "login",
            "sessions",
        ):
            continue
        for name in schema.get("properties") or {}:
            if str(name).lower() in _SECRETS:
                yield (
                    f"{pointer}/properties/{escape(str(name))}",
                    f"response field {name!r} is a secret",
                )


@rule(
    "request-body-closed",
    "warning",
    "Request bodies refuse unknown properties",
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
    for _, pointer, schema in ctx.request_schemas:
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


# --- operations -----------------------------------------------------------------------------


@rule(
    "operation-id-present",
    "warning",
    "Operations have an operationId",
    why="Generated clients name their methods after it; without one they invent unstable names.",
    fix="Give each operation a camelCase or snake_case operationId, e.g. listProducts.",
    source=f"{OPENAPI}: Operation Object",
)
def _op_id(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if not op.node.get("operationId"):
            yield op.pointer, f"{op.key} has no operationId"


@rule(
    "operation-id-unique",
    "error",
    "operationIds are unique",
    why="Two operations with one id collide in generated clients and in links.",
    fix="Rename one of them.",
    source=f"{OPENAPI}: operationId MUST be unique among all operations",
)
def _op_id_unique(ctx: Context) -> Iterator[Hit]:
    counts = Counter(
        op.node.get("operationId") for op in ctx.operations if op.node.get("operationId")
    )
    for op in ctx.operations:
        op_id = op.node.get("operationId")
        if op_id and counts[op_id] > 1:
            yield (
                f"{op.pointer}/operationId",
                f"operationId {op_id!r} is used {counts[op_id]} times",
            )


@rule(
    "operation-summary",
    "warning",
    "Operations have a summary",
    why="The summary is what docs, portals and reviewers see in every list.",
    fix="Add a short `summary` (a few words, imperative).",
    source=f"{ZALANDO}: SHOULD provide API user manual / {OPENAPI}",
)
def _summary(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if not op.node.get("summary"):
            yield op.pointer, f"{op.key} has no summary"


def _has_example(spec: Spec, media: Mapping[str, Any]) -> bool:
    schema = spec.schema(media.get("schema"))
    return bool(
        media.get("example") is not None
        or media.get("examples")
        or "example" in schema
        or schema.get("examples")
    )


@rule(
    "examples-present",
    "info",
    "Bodies have examples",
    why="An example is the fastest way to understand a payload and feeds mock servers and tests.",
    fix="Add `example` to the media type (or the schema) of request bodies and 2xx responses.",
    source=f"{ZALANDO}: SHOULD provide examples / {OPENAPI}: Media Type Object",
)
def _examples(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        parts = [("requestBody", op.request_body)]
        parts += [(f"responses/{c}", r) for c, r in op.responses.items() if c.startswith("2")]
        for where, part in parts:
            for media, body in ((part or {}).get("content") or {}).items():
                if "json" in media and not _has_example(ctx.spec, body):
                    yield (
                        f"{op.pointer}/{where}/content/{escape(media)}",
                        f"{op.key} {where} has no example",
                    )


@rule(
    "success-response-documented",
    "error",
    "A success response is documented",
    why="Clients cannot tell success from failure if no 2xx is documented.",
    fix="Document the 2xx status the operation returns, with its body.",
    source=f"{ZALANDO}: MUST specify success and error responses",
)
def _success(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if not any(c.startswith(("2", "3")) for c in op.responses):
            yield f"{op.pointer}/responses", f"{op.key} documents no 2xx response"


@rule(
    "response-schema-defined",
    "warning",
    "Success bodies have a schema",
    why="A body without a schema cannot be validated or generated into a typed client.",
    fix="Give each 2xx media type a `schema`.",
    source=f"{OPENAPI}: Media Type Object",
)
def _response_schema(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        for code, response in op.responses.items():
            for media, body in (response.get("content") or {}).items():
                if code.startswith("2") and not (body or {}).get("schema"):
                    yield (
                        f"{op.pointer}/responses/{code}/content/{escape(media)}",
                        f"{code} has no schema",
                    )


@rule(
    "get-no-request-body",
    "error",
    "GET has no request body",
    why="A body on GET has no defined meaning; proxies and caches drop it.",
    fix="Move the input to query parameters (or use POST for a complex search).",
    source=f"{RFC9110} §9.3.1",
)
def _get_body(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if op.method in ("get", "head") and op.request_body:
            yield f"{op.pointer}/requestBody", f"{op.key} has a request body"


@rule(
    "delete-no-request-body",
    "warning",
    "DELETE has no request body",
    why="A body on DELETE has no defined meaning and some servers reject it.",
    fix="Identify what to delete in the path.",
    source=f"{RFC9110} §9.3.5",
)
def _delete_body(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if op.method == "delete" and op.request_body:
            yield f"{op.pointer}/requestBody", f"{op.key} has a request body"


@rule(
    "no-content-204",
    "error",
    "204 responses have no body",
    why="204 means no content; a body there is discarded or breaks the connection.",
    fix="Remove `content` from the 204 response, or return 200 with the body.",
    source=f"{RFC9110} §15.3.5",
)
def _no_content(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if (op.responses.get("204") or {}).get("content"):
            yield f"{op.pointer}/responses/204", f"{op.key} 204 declares a body"


# --- collections --------------------------------------------------------------------------


@rule(
    "collection-paginated",
    "warning",
    "Collections are paginated",
    why="An unpaginated list grows with the table until responses time out.",
    fix="Accept a `limit` query parameter (with a maximum) on list operations.",
    source=f"{ZALANDO}: MUST support pagination",
)
def _paginated(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if ctx.is_list(op) and not any(op.param(n) for n in _LIMIT_NAMES):
            yield op.pointer, f"{op.key} returns a list without a limit parameter"


@rule(
    "collection-cursor-pagination",
    "warning",
    "Collections page with a cursor",
    why="Offsets get slower with depth and skip or repeat rows when data changes; cursors do not.",
    fix="Accept `cursor` and return `next_cursor`; drop `offset`/`page`.",
    source=f"{ZALANDO}: SHOULD prefer cursor-based pagination",
)
def _cursor(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if not ctx.is_list(op):
            continue
        if any(op.param(n) for n in _OFFSET_NAMES):
            yield op.pointer, f"{op.key} pages by offset"
        elif not any(op.param(n) for n in _CURSOR_NAMES):
            yield op.pointer, f"{op.key} has no cursor parameter"


@rule(
    "collection-object-response",
    "warning",
    "Lists are wrapped in an object",
    why="A bare top-level array leaves no room for next_cursor or totals without breaking clients.",
    fix="Return {items: [...], next_cursor: ...}.",
    source=f"{ZALANDO}: MUST always return JSON objects as top-level data structures",
)
def _wrapped(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        found = json_schema(op.responses.get("200")) if op.method == "get" else None
        if found and types(ctx.spec, found[1]) == {"array"}:
            yield f"{op.pointer}/responses/200", f"{op.key} returns a bare array"


# --- creates and deletes ------------------------------------------------------------------


@rule(
    "create-returns-201",
    "warning",
    "Creates return 201",
    why="201 Created tells clients a resource now exists and where; 200 says nothing of the kind.",
    fix="Document 201 on POST to a collection.",
    source=f"{RFC9110} §15.3.2",
)
def _created(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if ctx.is_create(op) and not any(c in op.responses for c in ("201", "202")):
            yield f"{op.pointer}/responses", f"{op.key} creates without documenting 201"


@rule(
    "create-location-header",
    "warning",
    "201 responses carry Location",
    why="Location gives the new resource's URL so clients need not build it.",
    fix="Declare a `Location` header on the 201 response.",
    source=f"{RFC9110} §10.2.2 and §15.3.2",
)
def _location(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        created = op.responses.get("201")
        if created is not None and "location" not in _headers(created):
            yield f"{op.pointer}/responses/201", f"{op.key} 201 has no Location header"


@rule(
    "delete-returns-204",
    "warning",
    "Deletes return 204",
    why="204 No Content is the unambiguous success of a delete with nothing to return.",
    fix="Document 204 on DELETE (200 only when a body is returned).",
    source=f"{RFC9110} §9.3.5 and §15.3.5",
)
def _deleted(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if op.method == "delete" and not any(c in op.responses for c in ("204", "202")):
            yield f"{op.pointer}/responses", f"{op.key} documents no 204"


@rule(
    "create-idempotency-key",
    "info",
    "Creates accept Idempotency-Key",
    why="A retried POST after a timeout creates a duplicate unless the server can recognise it.",
    fix="Accept an `Idempotency-Key` header on POST creates and replay the first response.",
    source=f"{IDEMPOTENCY} / {ZALANDO}: SHOULD consider to support Idempotency-Key header",
)
def _idempotency(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if ctx.is_create(op) and not op.param("Idempotency-Key", "header"):
            yield f"{op.pointer}/parameters", f"{op.key} accepts no Idempotency-Key"


# --- errors ---------------------------------------------------------------------------------


def _errors(ctx: Context) -> Iterator[tuple[Operation, str, dict[str, Any]]]:
    for op in ctx.operations:
        for code, response in op.responses.items():
            if code[:1] in ("4", "5") or code == "default":
                yield op, code, response


@rule(
    "error-problem-json",
    "warning",
    "Errors are problem+json",
    why="One machine-readable error shape lets clients handle every error the same way.",
    fix="Return 4xx/5xx bodies as `application/problem+json` with a Problem schema.",
    source=f"{RFC9457} / {ZALANDO}: MUST support problem JSON",
)
def _problem_json(ctx: Context) -> Iterator[Hit]:
    for op, code, response in _errors(ctx):
        if "application/problem+json" not in (response.get("content") or {}):
            yield (
                f"{op.pointer}/responses/{code}",
                f"{op.key} {code} is not application/problem+json",
            )


@rule(
    "problem-schema-fields",
    "warning",
    "Problem schemas have the RFC 9457 members",
    why="Clients rely on `type`, `title`, `status` and `detail` being there.",
    fix="Define a Problem schema with type, title, status, detail and instance.",
    source=f"{RFC9457} §3.1",
)
def _problem_fields(ctx: Context) -> Iterator[Hit]:
    seen: set[int] = set()
    for op, code, response in _errors(ctx):
        media = (response.get("content") or {}).get("application/problem+json")
        schema = ctx.spec.schema((media or {}).get("schema"))
        if media is None or id(schema) in seen:
            continue
        seen.add(id(schema))
        missing = {"type", "title", "status", "detail"} - set(schema.get("properties") or {})
        if missing:
            yield (
                f"{op.pointer}/responses/{code}",
                f"problem schema lacks {', '.join(sorted(missing))}",
            )


@rule(
    "error-responses-documented",
    "warning",
    "Error responses are documented",
    why="Clients must know which failures to expect to handle them.",
    fix="Document the 4xx responses the operation can return.",
    source=f"{ZALANDO}: MUST specify success and error responses",
)
def _errors_documented(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if not any(c.startswith("4") or c == "default" for c in op.responses):
            yield f"{op.pointer}/responses", f"{op.key} documents no 4xx response"


@rule(
    "not-found-documented",
    "warning",
    "404 is documented for item paths",
    why="Any id in the path may not exist; clients must expect 404.",
    fix="Document 404 (problem+json) on operations with path parameters.",
    source=f"{RFC9110} §15.5.5",
)
def _not_found(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if "{" in op.path and "404" not in op.responses:
            yield f"{op.pointer}/responses", f"{op.key} has a path id but no 404"


@rule(
    "validation-error-documented",
    "info",
    "Validation errors are documented",
    why="Operations that take input will reject some of it; clients need the shape of that error.",
    fix="Document 400 or 422 on operations with parameters or a body.",
    source=f"{RFC9110} §15.5.1 / {RFC9457}",
)
def _validation(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        takes_input = op.request_body or any(
            p.get("in") in ("query", "path") for p in op.parameters
        )
        if takes_input and not any(c in op.responses for c in ("400", "422")):
            yield f"{op.pointer}/responses", f"{op.key} takes input but documents no 400/422"


# --- security -------------------------------------------------------------------------------


@rule(
    "write-operations-secured",
    "warning",
    "Writes declare their security",
    why="A write with no security requirement is open to anonymous callers (or undocumented).",
    fix="Add `security` (or a top-level default); use `security: []` to mark a deliberately open write.",
    source=f"{OWASP}: API5 Broken Function Level Authorization",
)
def _writes_secured(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        declared = "security" in op.node or ctx.spec.doc.get("security")
        if op.method in ("post", "put", "patch", "delete") and not declared:
            yield op.pointer, f"{op.key} writes without a security requirement"


@rule(
    "secured-401-documented",
    "warning",
    "Secured operations document 401",
    why="Every secured call can arrive without or with an expired token.",
    fix="Document 401 (with WWW-Authenticate) on secured operations.",
    source=f"{RFC9110} §15.5.2 / {OWASP}: API2 Broken Authentication",
)
def _unauthorized(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if op.secured and "401" not in op.responses:
            yield f"{op.pointer}/responses", f"{op.key} is secured but documents no 401"


@rule(
    "secured-403-documented",
    "warning",
    "Secured operations document 403",
    why="Authenticated is not authorized: object and function checks refuse with 403.",
    fix="Document 403 on secured operations.",
    source=f"{OWASP}: API1 Broken Object Level Authorization / API5",
)
def _forbidden(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if op.secured and "403" not in op.responses:
            yield f"{op.pointer}/responses", f"{op.key} is secured but documents no 403"


@rule(
    "security-scheme-known",
    "error",
    "Security requirements name defined schemes",
    why="A requirement naming an undefined scheme is invalid and secures nothing.",
    fix="Define the scheme in `components.securitySchemes` or fix the name.",
    source=f"{OPENAPI}: Security Requirement Object",
)
def _scheme_known(ctx: Context) -> Iterator[Hit]:
    schemes = set((ctx.spec.doc.get("components") or {}).get("securitySchemes") or {})
    for op in ctx.operations:
        for req in op.security:
            for name in set(req) - schemes:
                yield f"{op.pointer}/security", f"{op.key} requires undefined scheme {name!r}"


# --- rate limits ----------------------------------------------------------------------------


@rule(
    "rate-limit-429-documented",
    "warning",
    "Limited operations document 429",
    why="Clients of a limited operation must expect 429 to back off instead of retrying hard.",
    fix="Document 429 Too Many Requests (problem+json, Retry-After).",
    source=f"{RATELIMIT} / RFC 6585 §4 / {ZALANDO}: MUST use code 429 with headers for rate limits",
)
def _limited_429(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if ctx.limited(op) and "429" not in op.responses:
            yield f"{op.pointer}/responses", f"{op.key} is rate limited but documents no 429"


@rule(
    "rate-limit-retry-after",
    "warning",
    "429 responses carry Retry-After",
    why="Retry-After tells clients when to come back; without it they retry at once and pile up.",
    fix="Declare a `Retry-After` header on every 429 response.",
    source=f"{RFC9110} §10.2.3 / RFC 6585 §4",
)
def _retry_after(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        limited = op.responses.get("429")
        if limited is not None and "retry-after" not in _headers(limited):
            yield f"{op.pointer}/responses/429", f"{op.key} 429 has no Retry-After"


@rule(
    "rate-limit-headers",
    "info",
    "429 responses carry RateLimit headers",
    why="RateLimit and RateLimit-Policy let clients pace themselves before they hit the limit.",
    fix="Declare `RateLimit` and `RateLimit-Policy` headers on 429 (and ideally 2xx) responses.",
    source=RATELIMIT,
)
def _ratelimit_headers(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        limited = op.responses.get("429")
        if limited is not None and not _headers(limited) & set(_RATE_HEADERS):
            yield f"{op.pointer}/responses/429", f"{op.key} 429 has no RateLimit header"


@rule(
    "conditional-update",
    "info",
    "Updates guard against lost updates",
    why="Two clients editing the same resource overwrite each other unless updates are conditional.",
    fix="Accept `If-Match` with an ETag on PUT/PATCH and document 412 Precondition Failed.",
    source=f"{RFC9110} §13.1.1 and §15.5.13",
)
def _conditional(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if op.method in ("put", "patch") and not (
            op.param("If-Match", "header") or "412" in op.responses
        ):
            yield op.pointer, f"{op.key} updates without If-Match or 412"
