"""What the mock answers: the contract's own example when it is valid, else a generated body.

The response is the lowest documented 2xx (or the one `Prefer: code=…` names); its body is
the first example that validates against the schema (`Prefer: example=…` picks a named one),
else the simplest value the schema accepts (`_generate`), checked again; each answer is made
once, so the same request always gets the same answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from labkit.contract import Operation
from labkit.mock._generate import Unsatisfiable, simplest
from labkit.mock._requests import Problem
from labkit.mock._schema import Schemas

__all__ = ["Answer", "Responder"]

_NO_BODY = {204, 205, 304}


@dataclass(frozen=True)
class Answer:
    """A response ready to send: status, headers, the body and its media type."""

    status: int
    media: str | None
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.media is None or self.status in _NO_BODY:
            return b""
        if isinstance(self.body, str) and "json" not in self.media:
            return self.body.encode()
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False).encode()


class Responder:
    """The answer for each (operation, status, media, example), made once."""

    def __init__(self, schemas: Schemas) -> None:
        self.schemas = schemas
        self._made: dict[tuple[str, str, str | None, str | None], Answer] = {}

    def answer(self, op: Operation, *, accept: str = "*/*", prefer: Mapping[str, str]) -> Answer:
        code = _status(op, prefer.get("code"))
        response = op.responses[code]
        media = _media(response.get("content") or {}, accept)
        key = (op.key, code, media, prefer.get("example"))
        if key not in self._made:
            status = int(code) if code.isdigit() else _status_of(code)
            body = None if media is None else self._body(op, code, media, prefer.get("example"))
            headers = self._headers(op, response)
            self._made[key] = Answer(status, media, body, headers)
        return self._made[key]

    def _body(self, op: Operation, code: str, media: str, name: str | None) -> Any:
        content = op.responses[code]["content"][media] or {}
        schema = content.get("schema")
        examples = _examples(op, content, name)
        if schema is None:
            return examples[0] if examples else ({} if "json" in media else "")
        validator = self.schemas.validator(schema, "response")
        valid = next((e for e in examples if validator.is_valid(e)), _MISSING)
        if valid is not _MISSING:
            return valid
        if name is not None:
            raise Problem(
                404,
                "Example Not Found",
                f"{op.key} has no valid example named {name!r} for {code} {media}.",
            )
        return self.generate(schema, validator, f"{op.key} {code} {media}")

    def generate(self, schema: Any, validator: Any, what: str) -> Any:
        """The simplest value `schema` accepts, checked against the contract's own schema."""
        try:
            value = simplest(self.schemas.for_generation(schema, "response"))
            problem = (
                "" if validator.is_valid(value) else next(validator.iter_errors(value)).message
            )
        except Unsatisfiable as error:
            problem = str(error)
        if problem:
            raise Problem(
                500,
                "Cannot Mock This Response",
                f"the mock could not make a value of the schema of {what} ({problem[:160]}); "
                "give the contract an example there.",
            )
        return value

    def _headers(self, op: Operation, response: Mapping[str, Any]) -> dict[str, str]:
        """A value for every documented header (as Prism sends them): its example, else made."""
        out: dict[str, str] = {}
        for name, raw in (response.get("headers") or {}).items():
            header = op.spec.deref(raw)
            if name.lower() == "content-type" or not isinstance(header, Mapping):
                continue
            schema = header.get("schema")
            validator = None if schema is None else self.schemas.validator(schema, "response")
            examples = [
                e for e in _examples(op, header, None) if validator is None or validator.is_valid(e)
            ]
            if examples:
                value = examples[0]
            elif validator is not None:
                try:
                    value = self.generate(schema, validator, f"header {name}")
                except Problem:
                    if header.get("required"):
                        raise
                    continue
            else:
                continue
            out[name] = _header_text(value)
        return out


_MISSING = object()


def _status(op: Operation, wanted: str | None) -> str:
    """The documented response to give: `wanted` (from Prefer), else the lowest 2xx."""
    codes = list(op.responses)
    if wanted is not None:
        if wanted in codes:
            return wanted
        raise Problem(
            404,
            "Response Not Documented",
            f"Prefer asked for {wanted}, but {op.key} documents only {', '.join(codes)}.",
        )
    success = sorted(c for c in codes if re.fullmatch(r"2(\d\d|XX)", c))
    if success:
        return success[0]
    if "default" in codes:
        return "default"
    if not codes:
        raise Problem(500, "No Response Documented", f"{op.key} documents no response to mock.")
    return sorted(codes)[0]


def _status_of(code: str) -> int:
    """A concrete status for a range (`2XX` → 200) or `default` (200)."""
    return int(code[0]) * 100 if re.fullmatch(r"[1-5]XX", code) else 200


def _media(content: Mapping[str, Any], accept: str) -> str | None:
    """The documented media type the client accepts, JSON first; None for no body."""
    if not content:
        return None
    ordered = sorted(content, key=lambda m: "json" not in m)
    wanted = [a.split(";")[0].strip() for a in accept.split(",") if a.strip()]
    for media in ordered:
        for pattern in wanted or ["*/*"]:
            if pattern in ("*/*", media) or (
                pattern.endswith("/*") and media.startswith(pattern[:-1])
            ):
                return media
    return ordered[0]


def _examples(op: Operation, holder: Mapping[str, Any], name: str | None) -> list[Any]:
    """Examples of a media type or header, the one named `name` only when given."""
    spec = op.spec
    named = {k: spec.deref(v) for k, v in (holder.get("examples") or {}).items()}
    if name is not None:
        chosen = named.get(name)
        return [chosen["value"]] if isinstance(chosen, Mapping) and "value" in chosen else []
    found = [holder["example"]] if "example" in holder else []
    found += [e["value"] for e in named.values() if isinstance(e, Mapping) and "value" in e]
    schema = spec.deref(holder.get("schema")) if holder.get("schema") is not None else {}
    if isinstance(schema, Mapping):
        found += [schema["example"]] if "example" in schema else []
        found += (
            list(schema.get("examples") or []) if isinstance(schema.get("examples"), list) else []
        )
    return found


def _header_text(value: Any) -> str:
    """A header value in OpenAPI's simple style."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(_header_text(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k},{_header_text(v)}" for k, v in value.items())
    return "" if value is None else str(value)
