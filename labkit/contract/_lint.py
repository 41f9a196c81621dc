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
from labkit.contract._rules import PROFILES, RULES, Context, Rule, Severity

__all__ = ["Finding", "LintConfigError", "LintReport", "lint"]

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
_COLORS = {"error": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}
_SHOWN_PER_RULE = 3  # findings per rule in a notebook; the saved page and the frame have all


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
        self,
        title: str,
        operations: int,
        findings: list[Finding],
        rules: list[Rule],
        profile: str = "default",
    ) -> None:
        self.title = title
        self.operations = operations
        self.findings = findings
        self.rules = rules
        self.profile = profile

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
            f"LintReport({self.title!r}, {self.operations} operations, {len(self.rules)} rules "
            f"({self.profile} profile): "
            f"{c['error']} errors, {c['warning']} warnings, {c['info']} info)"
        )

    def _repr_html_(self) -> str:
        """Counts by rule first, then the first findings of each rule; the rest stay in `to_frame`."""
        return self._html(per_rule=_SHOWN_PER_RULE)

    def _html(self, *, per_rule: int | None) -> str:
        c = self.counts
        head = (
            f"<p><b>{html.escape(self.title)}</b>: {self.operations} operations, "
            f"{len(self.rules)} rules, {self.profile} profile — "
            + ", ".join(f"<span style='color:{_COLORS[s]}'>{c[s]} {s}</span>" for s in SEVERITIES)
            + "</p>"
        )
        shown: list[Finding] = []
        for rule_id in self.by_rule()["rule"]:
            shown += self.of(rule_id)[:per_rule]
        rows = "".join(
            f"<tr><td style='color:{_COLORS[f.severity]}'>{f.severity}</td><td>{f.rule}</td>"
            f"<td><code>{html.escape(f.location)}</code></td><td>{html.escape(f.message)}</td>"
            f"<td>{html.escape(f.why)}</td><td>{html.escape(f.fix)}</td>"
            f"<td><small>{html.escape(f.source)}</small></td></tr>"
            for f in shown
        )
        header = "".join(
            f"<th>{h}</th>" for h in ("", "rule", "where", "what", "why", "fix", "source")
        )
        rest = len(self.findings) - len(shown)
        more = (
            f"<p>{rest} more findings: <code>report.to_frame()</code> has every one, "
            "<code>report.save('lint.html')</code> writes them all to a page.</p>"
            if rest
            else ""
        )
        table = f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
        counts = self.by_rule()[["rule", "severity", "count"]].to_html(index=False)
        if not self.findings:
            return head
        return (
            f"{head}{counts}<details{' open' if not rest else ''}><summary>the first "
            f"{per_rule or 'all'} findings of each rule</summary>{table}{more}</details>"
        )

    def html(self) -> str:
        """A standalone HTML page of the report, to save or attach to a review."""
        return (
            f"<!doctype html><meta charset='utf-8'><title>Lint: {html.escape(self.title)}</title>"
            f"<body style='font-family:sans-serif'>{self._html(per_rule=None)}</body>"
        )

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.html(), encoding="utf-8")
        return target


def _read_config(
    config: Mapping[str, Any] | str | Path | None, profile: str | None
) -> tuple[str, dict[str, str]]:
    """The profile to start from and the per-rule overrides on top of it."""
    if isinstance(config, str | Path):
        data = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
        profile = profile or data.get("profile")
        config = cast(Mapping[str, Any], data.get("rules", data if "profile" not in data else {}))
    profile = profile or "default"
    if profile not in PROFILES:
        raise LintConfigError(
            f"lint profile {profile!r} does not exist; use one of {', '.join(PROFILES)}."
        )
    if config is None:
        return profile, {}
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
    return profile, settings


def lint(
    spec: Any,
    config: Mapping[str, Any] | str | Path | None = None,
    *,
    profile: str | None = None,
) -> LintReport:
    """Check a contract against API guidelines and return every finding with why and how to fix.

    `spec` is anything `load` accepts. `profile` grades the rules: "default" keeps `error` for
    definite defects and reports house preferences as `info`; "strict" is the course's house
    style in the spirit of Zalando's guidelines. `config` maps rule ids to "off", "error",
    "warning" or "info" on top of the profile (or is a YAML file with `profile:` and `rules:`).
    Taught in notebooks/01_api_contract.ipynb.

    >>> report = lk.contract.lint("notebooks/contracts/shop-v1.yaml", profile="strict")
    >>> report.to_frame()
    """
    loaded = load(spec)
    profile, settings = _read_config(config, profile)
    ctx = Context(loaded)
    active = [r for r in RULES.values() if settings.get(r.id) != "off"]
    findings = [
        Finding(
            r.id,
            cast(Severity, settings.get(r.id, r.grade(profile))),
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
    return LintReport(loaded.title, len(ctx.operations), findings, active, profile)


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
