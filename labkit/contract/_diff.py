"""Compare two versions of a contract and say which changes break clients."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from labkit.contract._base import escape
from labkit.contract._load import Operation, Spec, load
from labkit.contract._rules import CURSOR_NAMES, LIMIT_NAMES, OFFSET_NAMES
from labkit.contract._schemas import json_schema, properties, types

__all__ = ["Change", "Comparison", "DiffReport", "compare", "diff"]

Level = Literal["breaking", "potentially-breaking", "safe"]
LEVELS: tuple[Level, ...] = ("breaking", "potentially-breaking", "safe")
_BUMPS = ("none", "patch", "minor", "major")
_PAGINATION = LIMIT_NAMES | CURSOR_NAMES | OFFSET_NAMES  # the names the lint rules read as paging
_COLORS = {"breaking": "#c62828", "potentially-breaking": "#ef6c00", "safe": "#2e7d32"}

# What each change code means for an existing client.
CODES: dict[str, Level] = {
    "path-removed": "breaking",
    "operation-removed": "breaking",
    "required-parameter-added": "breaking",
    "parameter-became-required": "breaking",
    "parameter-type-changed": "breaking",
    "parameter-format-changed": "breaking",
    "pagination-changed": "breaking",
    "request-body-became-required": "breaking",
    "required-request-field-added": "breaking",
    "request-field-became-required": "breaking",
    "request-enum-narrowed": "breaking",
    "request-type-changed": "breaking",
    "request-format-changed": "breaking",
    "response-field-removed": "breaking",
    "response-type-changed": "breaking",
    "response-format-changed": "breaking",
    "status-code-removed": "breaking",
    "media-type-removed": "breaking",
    "security-added": "breaking",
    "parameter-removed": "potentially-breaking",
    "request-field-removed": "potentially-breaking",
    "request-constraint-narrowed": "potentially-breaking",
    "response-field-became-optional": "potentially-breaking",
    "response-field-became-nullable": "potentially-breaking",
    "response-enum-widened": "potentially-breaking",
    "success-status-added": "potentially-breaking",
    "operation-id-changed": "potentially-breaking",
    "path-added": "safe",
    "operation-added": "safe",
    "optional-parameter-added": "safe",
    "request-field-added": "safe",
    "request-enum-widened": "safe",
    "request-type-widened": "safe",
    "response-field-added": "safe",
    "error-status-added": "safe",
    "security-removed": "safe",
    "operation-deprecated": "safe",
}


@dataclass(frozen=True)
class Change:
    """One difference between two contracts and what it means for clients of the old one."""

    code: str
    level: Level
    operation: str
    location: str
    message: str

    def __repr__(self) -> str:
        return f"<{self.level} {self.code} {self.operation}: {self.message}>"


def _change(code: str, op: str, location: str, message: str) -> Change:
    return Change(code, CODES[code], op, location, message)


def _bump(old: str, new: str) -> str:
    """Which semver part went up between two versions ("none" when none did)."""
    parse = [re.match(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", v.strip()) for v in (old, new)]
    if not parse[0] or not parse[1]:
        return "none" if old == new else "patch"
    a, b = ([int(x or 0) for x in m.groups()] for m in parse)  # type: ignore[union-attr]
    for part, name in enumerate(("major", "minor", "patch")):
        if b[part] != a[part]:
            return name if b[part] > a[part] else "none"
    return "none"


class DiffReport:
    """The changes between two contracts, by level, and whether the version moved enough."""

    def __init__(self, old: Spec, new: Spec, changes: list[Change], path_bump: bool) -> None:
        self.old_version = old.api_version
        self.new_version = new.api_version
        self.title = new.title
        self.changes = sorted(
            changes, key=lambda c: (LEVELS.index(c.level), c.operation, c.code, c.message)
        )
        self.path_bump = path_bump
        self.bump = "major" if path_bump else _bump(old.api_version, new.api_version)

    def __len__(self) -> int:
        return len(self.changes)

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def level(self, level: Level) -> list[Change]:
        return [c for c in self.changes if c.level == level]

    @property
    def breaking(self) -> list[Change]:
        return self.level("breaking")

    @property
    def codes(self) -> set[str]:
        return {c.code for c in self.changes}

    @property
    def required_bump(self) -> str:
        """The semver bump these changes call for: major for breaking, minor for additions."""
        if self.breaking:
            return "major"
        if any(c.level == "potentially-breaking" or c.code.endswith("added") for c in self.changes):
            return "minor"
        return "patch" if self.changes else "none"

    @property
    def version_ok(self) -> bool:
        return _BUMPS.index(self.bump) >= _BUMPS.index(self.required_bump)

    @property
    def verdict(self) -> str:
        moved = f"{self.old_version} → {self.new_version} ({self.bump} bump)"
        if self.path_bump:
            moved += " with a new /vN path prefix"
        if self.version_ok:
            return f"version {moved} covers the changes (they need {self.required_bump})"
        return f"version {moved} is not enough: {len(self.breaking)} breaking changes need a {self.required_bump} bump"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [c.__dict__ for c in self.changes],
            columns=["level", "code", "operation", "location", "message"],
        )

    def summary(self) -> dict[str, int]:
        return {level: len(self.level(level)) for level in LEVELS}

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {level}" for level, n in self.summary().items())
        return f"DiffReport({self.title!r}: {counts}; {self.verdict})"

    def _repr_html_(self) -> str:
        counts = ", ".join(
            f"<span style='color:{_COLORS[level]}'>{n} {level}</span>"
            for level, n in self.summary().items()
        )
        rows = "".join(
            f"<tr><td style='color:{_COLORS[c.level]}'>{c.level}</td><td>{c.code}</td>"
            f"<td>{html.escape(c.operation)}</td><td>{html.escape(c.message)}</td></tr>"
            for c in self.changes
        )
        return (
            f"<p><b>{html.escape(self.title)}</b>: {counts}. {html.escape(self.verdict)}</p>"
            f"<table><thead><tr><th></th><th>code</th><th>operation</th><th>change</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )


def _normal(path: str, *, versionless: bool) -> str:
    path = re.sub(r"{[^}]*}", "{}", path.rstrip("/") or "/")
    return re.sub(r"^/v\d+(?=/|$)", "/v*", path) if versionless else path


def _pair(
    old: Spec, new: Spec
) -> tuple[list[tuple[Operation, Operation]], list[Operation], list[Operation]]:
    """Match operations by path (ids renamed allowed), then across a /vN prefix change."""
    olds, news = list(old.operations), list(new.operations)
    pairs: list[tuple[Operation, Operation]] = []
    for versionless in (False, True):
        index = {(o.method, _normal(o.path, versionless=versionless)): o for o in news}
        left = []
        for o in olds:
            match = index.pop((o.method, _normal(o.path, versionless=versionless)), None)
            if match is None:
                left.append(o)
            else:
                pairs.append((o, match))
                news.remove(match)
        olds = left
    return pairs, olds, news


def _enum(schema: Any) -> set[Any] | None:
    values = schema.get("enum") if isinstance(schema, Mapping) else None
    return set(map(str, values)) if values is not None else None


class _Differ:
    def __init__(self, old: Spec, new: Spec) -> None:
        self.old, self.new = old, new
        self.changes: list[Change] = []

    def add(self, code: str, op: Operation, location: str, message: str) -> None:
        self.changes.append(_change(code, op.key, location, message))

    def run(self) -> bool:
        pairs, removed, added = _pair(self.old, self.new)
        new_paths = {_normal(p, versionless=True) for p in self.new.doc.get("paths") or {}}
        for op in removed:
            gone = _normal(op.path, versionless=True) not in new_paths
            code = "path-removed" if gone else "operation-removed"
            self.add(code, op, op.pointer, f"{op.key} is gone")
        old_paths = {_normal(p, versionless=True) for p in self.old.doc.get("paths") or {}}
        for op in added:
            fresh = _normal(op.path, versionless=True) not in old_paths
            code = "path-added" if fresh else "operation-added"
            self.add(code, op, op.pointer, f"{op.key} is new")
        for a, b in pairs:
            self.operation(a, b)
        return any(
            _normal(a.path, versionless=False) != _normal(b.path, versionless=False)
            for a, b in pairs
        )

    def operation(self, a: Operation, b: Operation) -> None:
        self.parameters(a, b)
        self.request(a, b)
        self.responses(a, b)
        if not a.secured and b.secured:
            self.add(
                "security-added", b, f"{b.pointer}/security", f"{b.key} now requires authentication"
            )
        elif a.secured and not b.secured:
            self.add(
                "security-removed",
                b,
                f"{b.pointer}/security",
                f"{b.key} no longer requires authentication",
            )
        if b.node.get("deprecated") and not a.node.get("deprecated"):
            self.add("operation-deprecated", b, b.pointer, f"{b.key} is deprecated")
        ids = (a.node.get("operationId"), b.node.get("operationId"))
        if ids[0] and ids[1] and ids[0] != ids[1]:
            self.add(
                "operation-id-changed",
                b,
                f"{b.pointer}/operationId",
                f"operationId {ids[0]} → {ids[1]}",
            )

    def parameters(self, a: Operation, b: Operation) -> None:
        def keyed(op: Operation) -> dict[tuple[str, str], dict[str, Any]]:
            return {(str(p.get("in")), str(p.get("name")).lower()): p for p in op.parameters}

        olds, news = keyed(a), keyed(b)
        where = f"{b.pointer}/parameters"
        for key in sorted(olds.keys() - news.keys()):
            paging = key[0] == "query" and key[1] in _PAGINATION
            code = "pagination-changed" if paging else "parameter-removed"
            self.add(code, b, where, f"{key[0]} parameter {key[1]!r} removed")
        for key in sorted(news.keys() - olds.keys()):
            required = bool(news[key].get("required"))
            code = "required-parameter-added" if required else "optional-parameter-added"
            self.add(
                code,
                b,
                where,
                f"{'required' if required else 'optional'} {key[0]} parameter {key[1]!r} added",
            )
        for key in sorted(olds.keys() & news.keys()):
            p, q = olds[key], news[key]
            if q.get("required") and not p.get("required"):
                self.add(
                    "parameter-became-required", b, where, f"parameter {key[1]!r} is now required"
                )
            s, t = self.old.schema(p.get("schema")), self.new.schema(q.get("schema"))
            before, after = types(self.old, s), types(self.new, t)
            if before and after and not before <= after:
                self.add(
                    "parameter-type-changed",
                    b,
                    where,
                    f"parameter {key[1]!r}: {_t(before)} → {_t(after)}",
                )
            if s.get("format") != t.get("format") and before == after:
                self.add(
                    "parameter-format-changed",
                    b,
                    where,
                    f"parameter {key[1]!r} format {s.get('format')} → {t.get('format')}",
                )
            self.enum(b, where, f"parameter {key[1]!r}", s, t, request=True)

    def enum(self, op: Operation, where: str, what: str, s: Any, t: Any, *, request: bool) -> None:
        before, after = _enum(s), _enum(t)
        if after is None or before == after:
            return
        if request and (before is None or before - after):
            dropped = "values outside the enum" if before is None else sorted(before - after)
            self.add("request-enum-narrowed", op, where, f"{what} no longer accepts {dropped}")
        gained = sorted(after - before) if before is not None else []
        if gained:
            code = "request-enum-widened" if request else "response-enum-widened"
            self.add(code, op, where, f"{what} may now be {gained}")

    def request(self, a: Operation, b: Operation) -> None:
        body_a, body_b = a.request_body or {}, b.request_body or {}
        where = f"{b.pointer}/requestBody"
        if body_b.get("required") and not body_a.get("required"):
            self.add("request-body-became-required", b, where, f"{b.key} now requires a body")
        self.body(b, where, body_a, body_b, request=True)

    def responses(self, a: Operation, b: Operation) -> None:
        old, new = a.responses, b.responses
        for code in sorted(old.keys() - new.keys()):
            self.add(
                "status-code-removed",
                b,
                f"{b.pointer}/responses",
                f"{b.key} no longer documents {code}",
            )
        for code in sorted(new.keys() - old.keys()):
            kind = "success-status-added" if code.startswith("2") else "error-status-added"
            self.add(
                kind, b, f"{b.pointer}/responses/{escape(code)}", f"{b.key} may now return {code}"
            )
        for code in sorted(old.keys() & new.keys()):
            where = f"{b.pointer}/responses/{escape(code)}"
            media_old, media_new = old[code].get("content") or {}, new[code].get("content") or {}
            for media in sorted(media_old.keys() - media_new.keys()):
                self.add("media-type-removed", b, where, f"{code} no longer returns {media}")
            if code.startswith("2"):
                self.body(b, where, old[code], new[code], request=False)

    def body(
        self,
        op: Operation,
        where: str,
        a: Mapping[str, Any],
        b: Mapping[str, Any],
        *,
        request: bool,
    ) -> None:
        """Compare the JSON bodies of two request bodies or responses, when both have one."""
        s, t = json_schema(a), json_schema(b)
        if s and t:
            at = f"{where}/content/{escape(t[0])}/schema"
            self.schema(op, at, "body", s[1], t[1], request=request, seen=set())

    def schema(
        self,
        op: Operation,
        where: str,
        name: str,
        s: Any,
        t: Any,
        *,
        request: bool,
        seen: set[tuple[int, int]],
    ) -> None:
        """Compare a request or response schema field by field, guarding recursive schemas."""
        s, t = self.old.deref(s), self.new.deref(t)
        if not isinstance(s, Mapping) or not isinstance(t, Mapping) or (id(s), id(t)) in seen:
            return
        seen.add((id(s), id(t)))
        self.types(op, where, name, s, t, request=request)
        self.enum(op, where, name, s, t, request=request)
        if request:
            self.constraints(op, where, name, s, t)
        items = (s.get("items"), t.get("items"))
        if isinstance(items[0], Mapping) and isinstance(items[1], Mapping):
            self.schema(
                op, f"{where}/items", f"{name}[]", items[0], items[1], request=request, seen=seen
            )
        (p_old, r_old), (p_new, r_new) = properties(self.old, s), properties(self.new, t)
        side = "request" if request else "response"
        for field in sorted(p_old.keys() - p_new.keys()):
            self.add(f"{side}-field-removed", op, where, f"{side} field {name}.{field} removed")
        for field in sorted(p_new.keys() - p_old.keys()):
            required = request and field in r_new
            code = "required-request-field-added" if required else f"{side}-field-added"
            what = "required request" if required else side
            self.add(code, op, where, f"{what} field {name}.{field} added")
        for field in sorted(p_old.keys() & p_new.keys()):
            at = f"{where}/properties/{escape(field)}"
            if request and field in r_new and field not in r_old:
                self.add(
                    "request-field-became-required",
                    op,
                    at,
                    f"request field {name}.{field} is now required",
                )
            if not request and field in r_old and field not in r_new:
                self.add(
                    "response-field-became-optional",
                    op,
                    at,
                    f"response field {name}.{field} may be absent",
                )
            self.schema(
                op, at, f"{name}.{field}", p_old[field], p_new[field], request=request, seen=seen
            )

    def types(
        self,
        op: Operation,
        where: str,
        name: str,
        s: Mapping[str, Any],
        t: Mapping[str, Any],
        *,
        request: bool,
    ) -> None:
        before, after = types(self.old, s), types(self.new, t)
        side = "request" if request else "response"
        if before and after and before != after:
            if request and before <= after:
                self.add(
                    "request-type-widened", op, where, f"{name} also accepts {_t(after - before)}"
                )
            elif not request and after == before | {"null"}:
                self.add("response-field-became-nullable", op, where, f"{name} may now be null")
            elif request or not after <= before:
                self.add(f"{side}-type-changed", op, where, f"{name}: {_t(before)} → {_t(after)}")
        if before == after and s.get("format") != t.get("format"):
            self.add(
                f"{side}-format-changed",
                op,
                where,
                f"{name} format {s.get('format')} → {t.get('format')}",
            )

    def constraints(
        self, op: Operation, where: str, name: str, s: Mapping[str, Any], t: Mapping[str, Any]
    ) -> None:
        for key, tighter in (
            ("maxLength", min),
            ("maximum", min),
            ("maxItems", min),
            ("minLength", max),
            ("minimum", max),
        ):
            a, b = s.get(key), t.get(key)
            if b is not None and (a is None or (a != b and tighter(a, b) == b)):
                self.add("request-constraint-narrowed", op, where, f"{name} {key} {a} → {b}")


def _t(found: frozenset[str] | set[str]) -> str:
    return "|".join(sorted(found))


def diff(old: Any, new: Any) -> DiffReport:
    """Classify every change from `old` to `new` as breaking, potentially breaking or safe.

    Operations match by method and path (path parameter names and a /vN prefix may differ).
    The report also says whether the version moved enough: major for breaking changes.

    >>> report = lk.contract.diff("notebooks/contracts/shop-v1.yaml", "notebooks/contracts/shop-v2.yaml")
    >>> report.breaking
    """
    a, b = load(old), load(new)
    differ = _Differ(a, b)
    path_bump = differ.run()
    return DiffReport(a, b, differ.changes, path_bump)


_VERDICTS = {
    "path-removed": "missing in the service",
    "operation-removed": "missing in the service",
    "path-added": "only in the service",
    "operation-added": "only in the service",
}


class Comparison:
    """What a running implementation adds to, misses from, or changes in its designed contract."""

    def __init__(self, report: DiffReport) -> None:
        self.report = report
        self.missing = [
            c for c in report.changes if _VERDICTS.get(c.code) == "missing in the service"
        ]
        self.extra = [c for c in report.changes if _VERDICTS.get(c.code) == "only in the service"]
        self.changed = [c for c in report.changes if c.code not in _VERDICTS]

    def to_frame(self) -> pd.DataFrame:
        frame = self.report.to_frame()
        frame.insert(0, "verdict", [_VERDICTS.get(c, "differs") for c in frame["code"]])
        return frame

    def __repr__(self) -> str:
        return (
            f"Comparison({self.report.title!r}: {len(self.missing)} designed operations missing, "
            f"{len(self.extra)} added by the implementation, {len(self.changed)} differences)"
        )

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>{self.to_frame().to_html(index=False)}"


def compare(designed: Any, served: Any) -> Comparison:
    """Compare a designed contract with what a service actually serves (a URL, service or spec).

    >>> lk.contract.compare("notebooks/contracts/shop-v1.yaml", svc)
    """
    return Comparison(diff(designed, served))
