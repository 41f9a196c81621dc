"""Match a request to an operation of the contract and check it the way a server would.

Path templates match concrete paths first (as OpenAPI asks); parameters are read in their
documented style (simple, form, deepObject; exploded or not), turned into the types their
schemas name, and validated; so is the body in its media type. Every problem is collected,
so one answer lists them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request

from labkit.contract import Operation, Spec
from labkit.mock._schema import Schemas

__all__ = ["Problem", "Router", "Violation", "check_request"]

_PARAM = re.compile(r"{([^}/]+)}")
# RFC 9110 lets these be described as parameters, but OpenAPI says they are ignored.
_IGNORED_HEADERS = {"accept", "content-type", "authorization"}


@dataclass(frozen=True)
class Violation:
    """One way a request breaks the contract: where (query, path, header, cookie, body)."""

    where: str
    name: str
    detail: str


@dataclass
class Problem(Exception):
    """A request the contract refuses, answered as problem+json with `status`."""

    status: int
    title: str
    detail: str
    errors: list[Violation] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Route:
    template: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]


class Router:
    """Path templates of a contract, concrete ones first, matched against request paths."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        templates = sorted(
            (spec.doc.get("paths") or {}), key=lambda t: (len(_PARAM.findall(t)), -len(t), t)
        )
        self.routes = [_route(t) for t in templates]
        self.operations = {(op.path, op.method): op for op in spec.operations}

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """The operation for `method` on `path`, and the raw path parameters."""
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            op = self.operations.get((route.template, method.lower()))
            if op is None:
                allowed = sorted(m.upper() for t, m in self.operations if t == route.template)
                raise Problem(
                    405,
                    "Method Not Allowed",
                    f"{route.template} has no {method.upper()} in the contract; it has "
                    f"{', '.join(allowed) or 'no operations'}.",
                    headers={"Allow": ", ".join(allowed)},
                )
            values = {n: unquote(found[f"p{i}"]) for i, n in enumerate(route.names)}
            return op, values
        raise Problem(404, "Not Found", f"no path of the contract matches {path}.")


def _route(template: str) -> _Route:
    names = tuple(_PARAM.findall(template))
    parts = _PARAM.split(template)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<p{i // 2}>[^/]+)" for i, part in enumerate(parts)
    )
    return _Route(template, re.compile(regex.rstrip("/") + "/?" if regex != "/" else "/"), names)


async def check_request(
    request: Request,
    op: Operation,
    path_values: Mapping[str, str],
    schemas: Schemas,
    *,
    security: bool,
) -> None:
    """Raise `Problem` listing every way `request` breaks `op`'s contract."""
    if security and op.security and not any(_satisfied(request, op.spec, r) for r in op.security):
        schemes = sorted({name for requirement in op.security for name in requirement})
        raise Problem(
            401,
            "Unauthorized",
            f"{op.key} needs credentials for one of {', '.join(schemes)}; none were sent.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    errors = [v for p in op.parameters for v in _check_parameter(request, p, path_values, schemas)]
    body_errors, unsupported = await _check_body(request, op, schemas)
    if unsupported:
        raise Problem(415, "Unsupported Media Type", unsupported)
    if errors or body_errors:
        status = _status(op, body=bool(body_errors) and not errors)
        raise Problem(
            status,
            "Request does not match the contract",
            f"{len(errors) + len(body_errors)} problem(s) with the request to {op.key}.",
            errors + body_errors,
        )


def _status(op: Operation, *, body: bool) -> int:
    """The documented client-error status for a bad request: 422 for a body, 400 otherwise."""
    preferred = ("422", "400") if body else ("400", "422")
    return int(next((code for code in preferred if code in op.responses), preferred[0]))


def _satisfied(request: Request, spec: Spec, requirement: Mapping[str, Any]) -> bool:
    """Whether the request carries a credential for every scheme of one requirement."""
    schemes = (spec.doc.get("components") or {}).get("securitySchemes") or {}
    for name in requirement:
        scheme = spec.deref(schemes.get(name) or {})
        kind = scheme.get("type")
        if kind == "apiKey":
            place = {"header": request.headers, "query": request.query_params}.get(
                scheme.get("in", ""), request.cookies
            )
            if not place.get(str(scheme.get("name", ""))):
                return False
        elif kind == "http":
            wanted = str(scheme.get("scheme", "")).lower()
            given = request.headers.get("authorization", "").split(" ", 1)[0].lower()
            if not given or (wanted and given != wanted):
                return False
        elif kind in ("oauth2", "openIdConnect") and not request.headers.get("authorization"):
            return False
    return True


def _check_parameter(
    request: Request, param: Mapping[str, Any], path_values: Mapping[str, str], schemas: Schemas
) -> list[Violation]:
    where, name = str(param.get("in")), str(param.get("name"))
    if where == "header" and name.lower() in _IGNORED_HEADERS:
        return []
    raw = _raw(request, param, path_values)
    if raw is None:
        if param.get("required") or where == "path":
            return [Violation(where, name, "required, but missing")]
        return []
    schema = param.get("schema")
    if schema is None:  # a parameter described by `content`: JSON text
        media: Mapping[str, Any] = next(iter((param.get("content") or {}).values()), {})
        schema = media.get("schema", {})
        text = raw[-1] if isinstance(raw, list) else raw
        try:
            readings: list[Any] = [json.loads(text) if isinstance(text, str) else text]
        except json.JSONDecodeError:
            return [Violation(where, name, "is not JSON")]
    else:
        readings = _readings(raw, schemas.for_generation(schema, "request"), param)
    validator = schemas.validator(schema, "request")
    if any(validator.is_valid(value) for value in readings):
        return []
    return [Violation(where, name, _message(e)) for e in validator.iter_errors(readings[0])]


def _raw(
    request: Request, param: Mapping[str, Any], path_values: Mapping[str, str]
) -> str | list[str] | dict[str, str] | None:
    """The parameter's text as sent: a list for repeated query keys, a dict for deepObject."""
    where, name = param.get("in"), str(param.get("name"))
    if where == "path":
        return path_values.get(name)
    if where == "header":
        return request.headers.get(name)
    if where == "cookie":
        return request.cookies.get(name)
    pairs = parse_qsl(request.url.query, keep_blank_values=True)
    if param.get("style") == "deepObject":
        prefix = f"{name}["
        found = {
            k[len(prefix) : -1]: v for k, v in pairs if k.startswith(prefix) and k.endswith("]")
        }
        return found or None
    values = [v for k, v in pairs if k == name]
    return values or None


def _types(schema: Any) -> list[str]:
    """The JSON types a schema names, its `anyOf`/`oneOf`/`allOf` branches included."""
    found: list[str] = []
    for branch in _branches(schema):
        kind = branch.get("type")
        found += kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    return list(dict.fromkeys(found))


def _readings(raw: Any, schema: Any, param: Mapping[str, Any]) -> list[Any]:
    """Each way the text on the wire can be read as a type the schema names, likeliest first.

    A parameter whose schema is `oneOf: [string, array]` is valid when either reading is.
    """
    kinds = _types(schema)
    if isinstance(raw, dict):  # deepObject
        props = (schema.get("properties") or {}) if isinstance(schema, Mapping) else {}
        return [{k: _scalar(v, _types(props.get(k))) for k, v in raw.items()}]
    text = raw[-1] if isinstance(raw, list) else raw
    readings: list[Any] = []
    if "array" in kinds:
        items = next((s.get("items") for s in _branches(schema) if "items" in s), None)
        explode = param.get("explode", param.get("in") in ("query", "cookie"))
        parts = raw if isinstance(raw, list) and explode else _split(raw, param)
        readings.append([_scalar(p, _types(items)) for p in parts])
    if "object" in kinds and param.get("in") in ("path", "header"):
        bits = text.split(",")
        readings.append(dict(zip(bits[::2], bits[1::2], strict=False)))
    readings += [_scalar(text, [kind]) for kind in kinds if kind not in ("array", "object")]
    return [*readings, text]


def _branches(schema: Any) -> list[Mapping[str, Any]]:
    """The schema and its `anyOf`/`oneOf`/`allOf` branches, flattened."""
    if not isinstance(schema, Mapping):
        return []
    found = [schema]
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key) or []:
            found += _branches(sub)
    return found


def _split(raw: str | list[str], param: Mapping[str, Any]) -> list[str]:
    text = raw[-1] if isinstance(raw, list) else raw
    separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(str(param.get("style")), ",")
    return text.split(separator) if text else []


def _scalar(text: str, kinds: list[str]) -> Any:
    """`text` as the first of `kinds` it reads as; text itself when none fits."""
    if "null" in kinds and text == "null":
        return None
    for kind in kinds:
        if kind == "string":
            return text
        if kind == "integer" and re.fullmatch(r"[+-]?\d+", text.strip()):
            return int(text)
        if kind == "number" and re.fullmatch(
            r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text.strip()
        ):
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
        if kind == "boolean" and text in ("true", "false"):
            return text == "true"
        if kind == "null" and text in ("", "null"):
            return None
    return text


async def _check_body(
    request: Request, op: Operation, schemas: Schemas
) -> tuple[list[Violation], str]:
    """Body violations, and a reason when the media type is not one the operation accepts."""
    body = op.request_body
    raw = await request.body()
    if body is None:
        return [], ""
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not raw and not sent:  # with a Content-Type, an empty body is a body (an empty string)
        return (
            [Violation("body", "", "required, but missing")] if body.get("required") else []
        ), ""
    content = body.get("content") or {}
    media = _media(sent, content)
    if media is None:
        accepted = ", ".join(content) or "none"
        return [], f"{op.key} accepts {accepted}; the request sent {sent or 'no Content-Type'}."
    schema = (content.get(media) or {}).get("schema")
    if schema is None:
        return [], ""
    try:
        value, opaque = await _read(request, sent, raw, schemas.for_generation(schema, "request"))
    except ValueError as error:
        return [Violation("body", "", f"cannot be read as {sent}: {error}")], ""
    return [
        Violation("body", _path(e), _message(e))
        for e in schemas.validator(schema, "request").iter_errors(value)
        if not (e.instance_path and e.instance_path[0] in opaque)
    ], ""


def _media(sent: str, content: Mapping[str, Any]) -> str | None:
    """The documented media type that covers `sent` (exact, then `type/*`, then `*/*`)."""
    if sent in content:
        return sent
    kind = sent.split("/")[0]
    for candidate in (f"{kind}/*", "*/*"):
        if candidate in content:
            return candidate
    return None


async def _read(request: Request, media: str, raw: bytes, schema: Any) -> tuple[Any, set[str]]:
    """The body as the schema's types, and the form fields whose structure a form cannot carry.

    A form field holding an object (or a list of them) arrives as text in an encoding the
    contract may not state; it is read as JSON when it is JSON, and otherwise not checked.
    """
    if "json" in media:
        return json.loads(raw), set()
    branches = _branches(schema)
    props = {k: v for b in reversed(branches) for k, v in (b.get("properties") or {}).items()}
    if media == "application/x-www-form-urlencoded":
        pairs = parse_qsl(raw.decode(), keep_blank_values=True)
    elif media.startswith("multipart/"):
        form = await request.form()
        pairs = [(k, v if isinstance(v, str) else "") for k, v in form.multi_items()]
    else:
        return raw.decode(errors="replace"), set()
    fields: dict[str, Any] = {}
    opaque: set[str] = set()
    for key, value in pairs:
        kinds = _types(props.get(key))
        items = _types((props.get(key) or {}).get("items")) if "array" in kinds else []
        if "null" in kinds and value == "null":
            fields[key] = None
        elif "object" in kinds or "object" in items or "array" in items:
            fields[key] = _json_or_text(value)
            opaque |= set() if isinstance(fields[key], dict | list) else {key}
        elif "array" in kinds:
            fields.setdefault(key, []).append(_scalar(value, items))
        else:
            fields[key] = _scalar(value, kinds)
    for key in (k for b in branches for k in b.get("required") or []):
        if key not in fields and "array" in _types(props.get(key)):
            fields[key] = []  # a form cannot carry an empty list: it sends no key at all
    return fields, opaque


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _path(error: Any) -> str:
    return "/".join(str(p) for p in error.instance_path)


def _message(error: Any) -> str:
    text = str(error.message)
    return text if len(text) <= 200 else f"{text[:197]}..."
