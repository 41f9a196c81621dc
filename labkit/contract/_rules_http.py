"""Lint rules on HTTP behaviour: operations, collections, creates, errors, security, rate limits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from labkit.contract._base import escape
from labkit.contract._load import Operation, Spec
from labkit.contract._rules import (
    CURSOR_NAMES,
    IDEMPOTENCY,
    LIMIT_NAMES,
    OFFSET_NAMES,
    OPENAPI,
    OWASP,
    RATE_HEADERS,
    RATELIMIT,
    RFC9110,
    RFC9457,
    ZALANDO,
    Context,
    Hit,
    header_names,
    rule,
)
from labkit.contract._schemas import json_schema, types, walk

__all__: list[str] = []


# --- operations -----------------------------------------------------------------------------


@rule(
    "operation-id-present",
    "warning",
    "Operations have an operationId",
    default="info",
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
    default="info",
    why="The summary is what docs, portals and reviewers see in every list.",
    fix="Add a short `summary` (a few words, imperative).",
    source=f"{ZALANDO}: SHOULD provide API user manual / {OPENAPI}",
)
def _summary(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if not op.node.get("summary"):
            yield op.pointer, f"{op.key} has no summary"


def _has_example(spec: Spec, media: Mapping[str, Any]) -> bool:
    """An example on the media type or anywhere in its schema (a property's example counts)."""
    if media.get("example") is not None or media.get("examples"):
        return True
    found = walk(spec, media.get("schema"), "", set())
    return any("example" in node or node.get("examples") for _, node in found)


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
            yield f"{op.pointer}/responses", f"{op.key} documents no 2xx or 3xx response"


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
        if ctx.is_list(op) and not any(op.param(n) for n in LIMIT_NAMES):
            yield op.pointer, f"{op.key} returns a list without a limit parameter"


@rule(
    "collection-cursor-pagination",
    "warning",
    "Collections page with a cursor",
    default="info",
    why="Offsets get slower with depth and skip or repeat rows when data changes; cursors do not.",
    fix="Accept `cursor` and return `next_cursor`; drop `offset`/`page`.",
    source=f"{ZALANDO}: SHOULD prefer cursor-based pagination",
)
def _cursor(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        if not ctx.is_list(op):
            continue
        if any(op.param(n) for n in OFFSET_NAMES):
            yield op.pointer, f"{op.key} pages by offset"
        elif not any(op.param(n) for n in CURSOR_NAMES):
            yield op.pointer, f"{op.key} has no cursor parameter"


@rule(
    "collection-object-response",
    "warning",
    "Lists are wrapped in an object",
    default="info",
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


def _lacking_headers(ctx: Context, code: str, wanted: set[str]) -> Iterator[Operation]:
    """Operations whose `code` response is documented but declares none of the `wanted` headers."""
    for op in ctx.operations:
        response = op.responses.get(code)
        if response is not None and not header_names(response) & wanted:
            yield op


@rule(
    "create-returns-201",
    "warning",
    "Creates return 201",
    default="info",
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
    default="info",
    why="Location gives the new resource's URL so clients need not build it.",
    fix="Declare a `Location` header on the 201 response.",
    source=f"{RFC9110} §10.2.2 and §15.3.2",
)
def _location(ctx: Context) -> Iterator[Hit]:
    for op in _lacking_headers(ctx, "201", {"location"}):
        yield f"{op.pointer}/responses/201", f"{op.key} 201 has no Location header"


@rule(
    "delete-returns-204",
    "warning",
    "Deletes return 204",
    default="info",
    why="204 No Content is the unambiguous success of a delete with nothing to return.",
    fix="Document 204 on DELETE (200 only when a body is returned).",
    source=f"{RFC9110} §9.3.5 and §15.3.5",
)
def _deleted(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        returns_body = bool((op.responses.get("200") or {}).get("content"))
        if op.method == "delete" and not (
            returns_body or any(c in op.responses for c in ("204", "202"))
        ):
            yield f"{op.pointer}/responses", f"{op.key} documents no 204 (nor a 200 with a body)"


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
    default="info",
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
    default="info",
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
    fix="Document 400 or 422 (or a 4XX/default error) on operations with a body or query input.",
    source=f"{RFC9110} §15.5.1 / {RFC9457}",
)
def _validation(ctx: Context) -> Iterator[Hit]:
    for op in ctx.operations:
        # A path id alone is answered by 404, not by a validation error.
        takes_input = op.request_body or any(
            p.get("in") in ("query", "header", "cookie") for p in op.parameters
        )
        documented = any(c in op.responses for c in ("400", "422", "4XX", "4xx", "default"))
        if takes_input and not documented:
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
        declared = "security" in op.node or "security" in ctx.spec.doc  # `[]` is a decision too
        if op.method in ("post", "put", "patch", "delete") and not declared:
            yield op.pointer, f"{op.key} writes without a security requirement"


@rule(
    "secured-401-documented",
    "warning",
    "Secured operations document 401",
    default="info",
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
    default="info",
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
    for op in _lacking_headers(ctx, "429", {"retry-after"}):
        yield f"{op.pointer}/responses/429", f"{op.key} 429 has no Retry-After"


@rule(
    "rate-limit-headers",
    "info",
    "429 responses carry RateLimit headers",
    why="RateLimit and RateLimit-Policy let clients pace themselves before they hit the limit.",
    fix="Declare `RateLimit` and `RateLimit-Policy` headers on 429 (and ideally 2xx) responses.",
    source=RATELIMIT,
)
def _rate_limit_headers(ctx: Context) -> Iterator[Hit]:
    for op in _lacking_headers(ctx, "429", set(RATE_HEADERS)):
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
