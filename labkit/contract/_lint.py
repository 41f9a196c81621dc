"""Run the rules over a document and gather the findings into a report people can read."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd
import yaml

from labkit.contract import _rules_design, _rules_http  # noqa: F401  (importing registers the rules)
from labkit.contract._base import ContractError
from labkit.contract._load import load
from labkit.contract._rules import RULES, Context, Rule, Severity

__all__ = ["Finding", "LintConfigError", "LintReport", "lint"]

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
_COLORS = {"error": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}


class LintConfigError(ContractError):
    """A lint config that names an unknown rule or severity."""


@dataclass(frozen=True)
class Finding:
    """One place where the document departs from a guideline."""

    rule: str
    severity: Severity
    location: str
    message: str
    why: str
    fix: str
    source: str

    def __repr__(self) -> str:
        return f"<{self.severity} {self.rule} at {self.location}: {self.message}>"


class LintReport:
    """The findings of one lint run, as a table, counts and an HTML report."""

    def __init__(
        self, title: str, operations: int, findings: list[Finding], rules: list[Rule]
    ) -> None:
        self.title = title
        self.operations = operations
        self.findings = findings
        self.rules = rules

    def __len__(self) -> int:
        return len(self.findings)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(f.severity for f in self.findings)
        return {s: found[s] for s in SEVERITIES}

    @property
    def rules_fired(self) -> set[str]:
        return {f.rule for f in self.findings}

    @property
    def ok(self) -> bool:
        """No errors and no warnings (info findings are advice)."""
        return not any(f.severity in ("error", "warning") for f in self.findings)

    def of(self, rule: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == rule]

    def to_frame(self) -> pd.DataFrame:
        columns = ["rule", "severity", "location", "message", "why", "fix", "source"]
        return pd.DataFrame([f.__dict__ for f in self.findings], columns=columns)

    def by_rule(self) -> pd.DataFrame:
        """One row per rule that fired, most severe first: the fix list."""
        frame = self.to_frame()
        if frame.empty:
            return pd.DataFrame(columns=["rule", "severity", "count", "fix"])
        grouped = frame.groupby(["rule", "severity", "fix"], as_index=False).size()
        grouped = grouped.rename(columns={"size": "count"})
        grouped["rank"] = grouped["severity"].map(SEVERITIES.index)
        return grouped.sort_values(["rank", "count"], ascending=[True, False])[
            ["rule", "severity", "count", "fix"]
        ].reset_index(drop=True)

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"LintReport({self.title!r}, {self.operations} operations, {len(self.rules)} rules: "
            f"{c['error']} errors, {c['warning']} warnings, {c['info']} info)"
        )

    def _repr_html_(self) -> str:
        c = self.counts
        head = (
            f"<p><b>{html.escape(self.title)}</b>: {self.operations} operations, "
            f"{len(self.rules)} rules — "
            + ", ".join(f"<span style='color:{_COLORS[s]}'>{c[s]} {s}</span>" for s in SEVERITIES)
            + "</p>"
        )
        rows = "".join(
            f"<tr><td style='color:{_COLORS[f.severity]}'>{f.severity}</td><td>{f.rule}</td>"
            f"<td><code>{html.escape(f.location)}</code></td><td>{html.escape(f.message)}</td>"
            f"<td>{html.escape(f.why)}</td><td>{html.escape(f.fix)}</td>"
            f"<td><small>{html.escape(f.source)}</small></td></tr>"
            for f in sorted(self.findings, key=lambda f: SEVERITIES.index(f.severity))
        )
        header = "".join(
            f"<th>{h}</th>" for h in ("", "rule", "where", "what", "why", "fix", "source")
        )
        return f"{head}<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"

    def html(self) -> str:
        """A standalone HTML page of the report, to save or attach to a review."""
        return (
            f"<!doctype html><meta charset='utf-8'><title>Lint: {html.escape(self.title)}</title>"
            f"<body style='font-family:sans-serif'>{self._repr_html_()}</body>"
        )

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.html(), encoding="utf-8")
        return target


def _read_config(config: Mapping[str, Any] | str | Path | None) -> dict[str, str]:
    if config is None:
        return {}
    if isinstance(config, str | Path):
        data = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
        config = cast(Mapping[str, Any], data.get("rules", data))
    # YAML reads a bare `off` as false.
    settings = {str(k): "off" if v is False else str(v).lower() for k, v in config.items()}
    for rule_id, value in settings.items():
        if rule_id not in RULES:
            raise LintConfigError(
                f"lint config names unknown rule {rule_id!r}; see `lk.contract.rules()` for the ids."
            )
        if value not in (*SEVERITIES, "off"):
            raise LintConfigError(
                f"lint config sets {rule_id!r} to {value!r}; use one of off, error, warning, info."
            )
    return settings


def lint(spec: Any, config: Mapping[str, Any] | str | Path | None = None) -> LintReport:
    """Check a contract against API guidelines and return every finding with why and how to fix.

    `spec` is anything `load` accepts. `config` maps rule ids to "off", "error", "warning" or
    "info" (or is a YAML file with a `rules:` mapping), to turn rules off or re-grade them.

    >>> report = lk.contract.lint("notebooks/contracts/shop-v1.yaml", {"examples-present": "off"})
    >>> report.to_frame()
    """
    loaded = load(spec)
    settings = _read_config(config)
    ctx = Context(loaded)
    active = [r for r in RULES.values() if settings.get(r.id) != "off"]
    findings = [
        Finding(
            r.id,
            cast(Severity, settings.get(r.id, r.severity)),
            location,
            message,
            r.why,
            r.fix,
            r.source,
        )
        for r in active
        for location, message in _run(r, ctx)
    ]
    findings.sort(key=lambda f: (SEVERITIES.index(f.severity), f.rule, f.location))
    return LintReport(loaded.title, len(ctx.operations), findings, active)


def _run(rule: Rule, ctx: Context) -> list[tuple[str, str]]:
    """One rule's hits; a document shape the rule cannot read becomes one actionable error."""
    try:
        return sorted(set(rule.check(ctx)))
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as e:
        raise ContractError(
            f"lint rule {rule.id!r} could not read {ctx.spec.origin} ({type(e).__name__}: {e}); "
            f"the document has a shape the rule does not expect: fix it, or pass "
            f"{{{rule.id!r}: 'off'}} as the lint config to skip the rule."
        ) from e
