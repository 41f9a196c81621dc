"""Compare two versions of a contract and say which changes break clients."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from labkit.contract._base import escape
from labkit.contract._compare import SCHEMA_CODES, SchemaDiff, Side
from labkit.contract._load import Operation, Spec, load
from labkit.contract._rules import CURSOR_NAMES, LIMIT_NAMES, OFFSET_NAMES

__all__ = ["Change", "Comparison", "DiffReport", "compare", "diff"]

Level = Literal["breaking", "potentially-breaking", "safe"]
LEVELS: tuple[Level, ...] = ("breaking", "potentially-breaking", "safe")
_BUMPS = ("none", "patch", "minor", "major")
_PAGINATION = LIMIT_NAMES | CURSOR_NAMES | OFFSET_NAMES  # the names the lint rules read as paging
_SHOWN = 50  # changes shown in a notebook; `to_frame()` has all
_COLORS = {"breaking": "#c62828", "potentially-breaking": "#ef6c00", "safe": "#2e7d32"}

# What each operation-level change means for an existing client (schema codes: `SCHEMA_CODES`).
CODES: dict[str, Level] = {
    "path-removed": "breaking",
    "operation-removed": "breaking",
    "webhook-removed": "breaking",
    "required-parameter-added": "breaking",
    "parameter-became-required": "breaking",
    "pagination-changed": "breaking",
    "request-body-removed": "breaking",
    "required-request-body-added": "breaking",
    "request-body-became-required": "breaking",
    "request-media-type-removed": "breaking",
    "status-code-removed": "breaking",
    "media-type-removed": "breaking",
    "parameter-removed": "potentially-breaking",
    "success-status-added": "potentially-breaking",
    "operation-id-changed": "potentially-breaking",
    "security-added": "potentially-breaking",
    "path-added": "safe",
    "operation-added": "safe",
    "webhook-added": "safe",
    "optional-parameter-added": "safe",
    "request-body-added": "safe",
    "request-media-type-added": "safe",
    "media-type-added": "safe",
    "error-status-added": "safe",
    "error-status-removed": "safe",
    "security-removed": "safe",
    "operation-deprecated": "safe",
    **SCHEMA_CODES,
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


_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")
_SEMVER = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+][0-9A-Za-z.-]*)?$")


def _bump(old: str, new: str) -> str:
    """Which semver part went up ("none" when none did); "changed" when a version is not semver.

    A date version such as 2024-06-20 is not read as major 2024: it only says that it moved.
    """
    if old.strip() == new.strip():
        return "none"
    parse = [None if _DATE.match(v) else _SEMVER.match(v.strip()) for v in (old, new)]
    if not parse[0] or not parse[1]:
        return "changed"
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
        """The version moved enough; a non-semver version that moved counts for any change."""
        if self.bump == "changed":
            return True
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
        """The verdict and counts, then the first changes (most severe first); `to_frame` has all."""
        counts = ", ".join(
            f"<span style='color:{_COLORS[level]}'>{n} {level}</span>"
            for level, n in self.summary().items()
        )
        rows = "".join(
            f"<tr><td style='color:{_COLORS[c.level]}'>{c.level}</td><td>{c.code}</td>"
            f"<td>{html.escape(c.operation)}</td><td>{html.escape(c.message)}</td></tr>"
            for c in self.changes[:_SHOWN]
        )
        rest = len(self.changes) - _SHOWN
        more = f"<p>{rest} more changes: <code>report.to_frame()</code> has every one.</p>"
        return (
            f"<p><b>{html.escape(self.title)}</b>: {counts}. {html.escape(self.verdict)}</p>"
            f"<table><thead><tr><th></th><th>code</th><th>operation</th><th>change</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{more if rest > 0 else ''}"
        )


def _normal(path: str, *, versionless: bool) -> str:
    path = re.sub(r"{[^}]*}", "{}", path.rstrip("/") or "/")
    return re.sub(r"^/v\d+(?=/|$)", "/v*", path) if versionless else path


def _pair(
    old: list[Operation], new: list[Operation]
) -> tuple[list[tuple[Operation, Operation]], list[Operation], list[Operation]]:
    """Match operations by path (ids renamed allowed), then across a /vN prefix change."""
    olds, news = list(old), list(new)
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


def _path_key(op: Operation, param: Mapping[str, Any]) -> tuple[str, str]:
    """A parameter's identity: a path parameter by its place in the template, so renames match."""
    name, where = str(param.get("name")), str(param.get("in"))
    if where == "path":
        names = re.findall(r"{([^}]+)}", op.path)
        return where, f"#{names.index(name)}" if name in names else name
    return where, name.lower()


class _Differ:
    def __init__(self, old: Spec, new: Spec) -> None:
        self.old, self.new = old, new
        self.changes: list[Change] = []
        self.schemas = SchemaDiff(old, new)

    def add(self, code: str, op: Operation, location: str, message: str) -> None:
        self.changes.append(_change(code, op.key, location, message))

    def run(self) -> bool:
        pairs, removed, added = _pair(self.old.operations, self.new.operations)
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
        hooks, hooks_removed, hooks_added = _pair(self.old.webhooks, self.new.webhooks)
        for op in hooks_removed:
            self.add("webhook-removed", op, op.pointer, f"webhook {op.key} is gone")
        for op in hooks_added:
            self.add("webhook-added", op, op.pointer, f"webhook {op.key} is new")
        for a, b in pairs + hooks:
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

    def schema(self, op: Operation, where: str, name: str, s: Any, t: Any, side: Side) -> None:
        """Compare two schemas of `op`, every change graded by `SchemaDiff`."""

        def emit(code: str, at: str, message: str) -> None:
            self.add(code, op, at, message)

        self.schemas.out = emit
        self.schemas.compare(where, name, s, t, side=side, seen=set())

    def parameters(self, a: Operation, b: Operation) -> None:
        olds = {_path_key(a, p): p for p in a.parameters}
        news = {_path_key(b, p): p for p in b.parameters}
        where = f"{b.pointer}/parameters"
        for key in sorted(olds.keys() - news.keys()):
            paging = key[0] == "query" and key[1] in _PAGINATION
            code = "pagination-changed" if paging else "parameter-removed"
            self.add(code, b, where, f"{key[0]} parameter {olds[key].get('name')!r} removed")
        for key in sorted(news.keys() - olds.keys()):
            required = bool(news[key].get("required"))
            code = "required-parameter-added" if required else "optional-parameter-added"
            what = "required" if required else "optional"
            self.add(code, b, where, f"{what} {key[0]} parameter {news[key].get('name')!r} added")
        for key in sorted(olds.keys() & news.keys()):
            p, q = olds[key], news[key]
            name = str(q.get("name"))
            if q.get("required") and not p.get("required"):
                self.add(
                    "parameter-became-required", b, where, f"parameter {name!r} is now required"
                )
            self.schema(
                b, where, f"parameter {name!r}", p.get("schema"), q.get("schema"), "parameter"
            )

    def request(self, a: Operation, b: Operation) -> None:
        body_a, body_b = a.request_body, b.request_body
        where = f"{b.pointer}/requestBody"
        if body_a is not None and body_b is None:
            self.add("request-body-removed", b, where, f"{b.key} no longer takes a body")
        elif body_a is None and body_b is not None:
            required = bool(body_b.get("required"))
            code = "required-request-body-added" if required else "request-body-added"
            self.add(code, b, where, f"{b.key} takes a {'required ' if required else ''}body")
        if body_a is None or body_b is None:
            return
        if body_b.get("required") and not body_a.get("required"):
            self.add("request-body-became-required", b, where, f"{b.key} now requires a body")
        self.content(b, where, body_a, body_b, "request")

    def content(
        self, op: Operation, where: str, a: Mapping[str, Any], b: Mapping[str, Any], side: Side
    ) -> None:
        """Media types removed, added, and the schema of each kept one (JSON, form, text alike)."""
        old, new = a.get("content") or {}, b.get("content") or {}
        prefix = "request-" if side == "request" else ""
        for media in sorted(old.keys() - new.keys()):
            self.add(
                f"{prefix}media-type-removed",
                op,
                where,
                f"{op.key} no longer {_verb(side)} {media}",
            )
        for media in sorted(new.keys() - old.keys()):
            self.add(f"{prefix}media-type-added", op, where, f"{op.key} now {_verb(side)}s {media}")
        for media in sorted(old.keys() & new.keys()):
            s, t = (old[media] or {}).get("schema"), (new[media] or {}).get("schema")
            if s is not None and t is not None:
                at = f"{where}/content/{escape(media)}/schema"
                self.schema(op, at, "body", s, t, side)

    def responses(self, a: Operation, b: Operation) -> None:
        old, new = a.responses, b.responses
        for code in sorted(old.keys() - new.keys()):
            kind = "status-code-removed" if code.startswith("2") else "error-status-removed"
            self.add(kind, b, f"{b.pointer}/responses", f"{b.key} no longer documents {code}")
        for code in sorted(new.keys() - old.keys()):
            kind = "success-status-added" if code.startswith("2") else "error-status-added"
            self.add(
                kind, b, f"{b.pointer}/responses/{escape(code)}", f"{b.key} may now return {code}"
            )
        for code in sorted(old.keys() & new.keys()):
            self.content(
                b, f"{b.pointer}/responses/{escape(code)}", old[code], new[code], "response"
            )


def _verb(side: Side) -> str:
    return "accept" if side == "request" else "return"


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
