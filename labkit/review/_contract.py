"""The contract part of a design review: lint, breaking changes, drift and contract tests.

Each step is `lk.contract`'s own (lint, diff, compare, test); this module only runs them,
ranks what they found as risks and renders them. Without a running service the contract
tests run against `lk.mock(contract)`: they then check that the design holds together
(examples match their schemas, every response can be produced, parameters can be sent).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from labkit import contract as lkc
from labkit.review._section import SEVERITIES, Risk

__all__ = ["ContractReview", "markdown_table", "review_contract"]

_TOP_RULES = 5  # lint rules shown as risks, most severe first; the rest stay in the tables


@dataclass(frozen=True)
class ContractReview:
    """What the contract steps measured; a `Section` of the review report."""

    spec: lkc.Spec = field(repr=False)
    lint: lkc.LintReport
    tests: lkc.ContractTestReport
    tested_against: str  # the service URL, or "mock"
    diff: lkc.DiffReport | None = None
    drift: lkc.Comparison | None = None
    drift_error: str | None = None
    title: str = "Contract"

    def risks(self) -> list[Risk]:
        """Lint, breaking changes, drift and test failures, most severe first."""
        found = [
            *self._lint_risks(),
            *self._diff_risks(),
            *self._drift_risks(),
            *self._test_risks(),
        ]
        return sorted(found, key=lambda r: SEVERITIES.index(r.severity))

    def _lint_risks(self) -> list[Risk]:
        rules = self.lint.by_rule()
        risks = []
        for row in rules[rules["severity"] != "info"].head(_TOP_RULES).itertuples():
            first = self.lint.of(str(row.rule))[0]
            risks.append(
                Risk(
                    row.severity,
                    "contract",
                    f"lint: {row.rule} ({row.count} finding{'s' if row.count != 1 else ''})",
                    f"{row.count} findings of {row.rule}; first at {first.location}: {first.message}",
                    str(row.fix),
                )
            )
        advice = rules[rules["severity"] == "info"]
        if len(advice):
            risks.append(
                Risk(
                    "info",
                    "contract",
                    f"lint: {int(advice['count'].sum())} advice findings in {len(advice)} rules",
                    ", ".join(f"{r.rule} ({r.count})" for r in advice.head(8).itertuples()),
                    "read the lint table; each finding says why and how to fix it",
                )
            )
        return risks

    def _diff_risks(self) -> list[Risk]:
        if self.diff is None:
            return []
        d = self.diff
        moved = (
            f"{d.old_version} → {d.new_version} ({d.bump} bump; the changes need {d.required_bump})"
        )
        risks = []
        if d.breaking:
            codes = ", ".join(sorted({c.code for c in d.breaking}))
            risks.append(
                Risk(
                    "error" if not d.version_ok else "warning",
                    "contract",
                    f"{len(d.breaking)} breaking change{'s' if len(d.breaking) != 1 else ''} "
                    f"since {d.old_version}: a {d.required_bump} version bump is required",
                    f"{codes}; e.g. {d.breaking[0].operation}: {d.breaking[0].message}; version {moved}",
                    "bump the major version (or serve a /v2 beside /v1) and give clients a "
                    "deprecation window"
                    if not d.version_ok
                    else "the major bump covers them: announce the removal and keep the old "
                    "version served until clients have moved",
                )
            )
        elif not d.version_ok:
            risks.append(
                Risk(
                    "warning",
                    "contract",
                    f"version moved too little for {len(d)} changes",
                    f"version {moved}",
                    f"raise the {d.required_bump} version",
                )
            )
        return risks

    def _drift_risks(self) -> list[Risk]:
        if self.drift_error is not None:
            return [
                Risk(
                    "warning",
                    "contract",
                    "the running service's own contract could not be read",
                    self.drift_error,
                    "serve the implemented contract at /openapi.json so drift can be checked",
                )
            ]
        if self.drift is None:
            return []
        risks = []
        for changes, severity, what, fix in (
            (
                self.drift.missing,
                "error",
                "designed operations missing in the service",
                "implement them or take them out of the contract",
            ),
            (
                self.drift.extra,
                "warning",
                "operations the service serves that the contract lacks",
                "document them or remove them",
            ),
        ):
            if changes:
                ops = ", ".join(c.operation for c in changes[:5])
                risks.append(Risk(severity, "contract", f"{len(changes)} {what}", ops, fix))  # type: ignore[arg-type]
        breaking = [c for c in self.drift.changed if c.level == "breaking"]
        if self.drift.changed:
            first = (breaking or self.drift.changed)[0]
            risks.append(
                Risk(
                    "error" if breaking else "warning",
                    "contract",
                    f"{len(self.drift.changed)} differences between contract and service "
                    f"({len(breaking)} would break a client of the contract)",
                    f"e.g. {first.operation}: {first.message}",
                    "make the service match the contract (or version the contract to match it)",
                )
            )
        return risks

    def _test_risks(self) -> list[Risk]:
        t = self.tests
        against = "the mock" if self.tested_against == "mock" else self.tested_against
        risks = []
        failing = [r for r in t.operations if not r.ok]
        for check in sorted(t.failed_checks):
            hit = [r for r in failing if check in r.failures]
            example = next(r.examples[check] for r in hit)
            risks.append(
                Risk(
                    "error",
                    "contract",
                    f"contract tests: {check} failed on {len(hit)} of {len(t.operations)} operations",
                    f"{sum(r.failures[check] for r in hit)} failing cases against {against}; "
                    f"{example.operation} got {example.status}: {example.message[:160]} "
                    f"— reproduce with {example.curl}",
                    _MOCK_FIX
                    if self.tested_against == "mock"
                    else _TEST_FIXES.get(check, "make the answer match the contract"),
                )
            )
        if not t.complete:
            risks.append(
                Risk(
                    "warning",
                    "contract",
                    "contract tests stopped at their time limit",
                    f"{t.cases} cases over {len(t.operations)} operations finished",
                    "raise the timeout or lower max_examples to cover every operation",
                )
            )
        return risks

    def to_frame(self) -> pd.DataFrame:
        """The risks as a table."""
        return pd.DataFrame(
            [r.__dict__ for r in self.risks()], columns=list(Risk.__dataclass_fields__)
        )

    def _summary(self) -> list[str]:
        c = self.lint.counts
        lines = [
            f"{self.spec.title} {self.spec.api_version}: {self.lint.operations} operations; "
            f"lint {c['error']} errors, {c['warning']} warnings, {c['info']} info",
        ]
        if self.diff is not None:
            s = self.diff.summary()
            lines.append(
                f"against the previous version: {s['breaking']} breaking, "
                f"{s['potentially-breaking']} potentially breaking, {s['safe']} safe; "
                f"{self.diff.verdict}"
            )
        if self.drift is not None:
            lines.append(f"against the running service: {self.drift!r}")
        against = "a mock of the contract" if self.tested_against == "mock" else self.tested_against
        failing = sum(not r.ok for r in self.tests.operations)
        lines.append(
            f"contract tests against {against}: {self.tests.cases} cases over "
            f"{len(self.tests.operations)} operations, {failing} operations failing"
            + ("" if self.tests.complete else " (stopped at the time limit)")
        )
        return lines

    def _tables(self) -> list[tuple[str, pd.DataFrame]]:
        tables = [("Lint findings by rule", self.lint.by_rule())]
        if self.diff is not None and len(self.diff):
            frame = self.diff.to_frame()
            tables.append(("Changes against the previous version", frame[frame["level"] != "safe"]))
        if self.drift is not None and len(self.drift.report):
            tables.append(("Drift between contract and service", self.drift.to_frame()))
        frame = self.tests.to_frame()
        tables.append(("Contract tests: operations with failures", frame[frame["failures"] > 0]))
        return tables

    def to_markdown(self) -> str:
        parts = [f"## {self.title}", "", *(f"- {line}" for line in self._summary()), ""]
        for caption, frame in self._tables():
            parts += [f"### {caption}", "", markdown_table(frame), ""]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self._summary())
        tables = "".join(
            f"<h4>{html.escape(caption)}</h4>"
            + (frame.to_html(index=False) if len(frame) else "<p>none</p>")
            for caption, frame in self._tables()
        )
        return f"<h3>{html.escape(self.title)}</h3><ul>{items}</ul>{tables}"

    def __repr__(self) -> str:
        counts = {s: sum(r.severity == s for r in self.risks()) for s in SEVERITIES}
        return (
            f"ContractReview({self.spec.title!r} {self.spec.api_version}: "
            f"{counts['error']} error, {counts['warning']} warning, {counts['info']} info risks)"
        )


_TEST_FIXES = {
    "not_a_server_error": "find the 5xx in the service log by its request id and handle that input",
    "status_code_conformance": "document the status the service returns, or stop returning it",
    "content_type_conformance": "return the documented media type (errors as application/problem+json)",
    "response_headers_conformance": "send every required response header the contract documents",
    "response_schema_conformance": "make the body match its schema (or fix the schema or example)",
}


# Against the mock, a failure is the contract disagreeing with itself: the mock only serves it.
_MOCK_FIX = (
    "the contract contradicts itself here (an example against its schema, a discriminator "
    "against its enum, a response no value can satisfy): fix the contract, or give an example"
)


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub-flavoured Markdown table ("none" when it is empty)."""
    if frame.empty:
        return "none"

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def review_contract(
    contract: lkc.Spec | str | Path | Mapping[str, Any],
    *,
    previous: lkc.Spec | str | Path | Mapping[str, Any] | None = None,
    service_url: str | None = None,
    max_examples: int = 25,
    timeout: float = 120.0,
    headers: Mapping[str, str] | None = None,
    profile: str | None = None,
) -> ContractReview:
    """Lint `contract`, diff it against `previous`, compare it with a running service and test it.

    Args:
        contract: the contract under review (anything `lk.contract.load` reads).
        previous: the version clients use today: its breaking changes and the bump they need.
        service_url: a running implementation: drift against its `/openapi.json`, and the
            contract tests run against it. Without one they run against `lk.mock(contract)`.
        max_examples: generated cases per operation (the tests stop after `timeout` seconds).
        headers: sent with every test request (e.g. an Authorization bearer token).
        profile: the lint profile ("default" or "strict").

    Taught in notebooks/14_design_review.ipynb.
    """
    spec = lkc.load(contract)
    lint = lkc.lint(spec, profile=profile)
    diff = lkc.diff(previous, spec) if previous is not None else None
    drift, drift_error = None, None
    options: dict[str, Any] = {"max_examples": max_examples, "timeout": timeout, "headers": headers}
    if service_url is not None:
        try:
            drift = lkc.compare(spec, service_url)
        except lkc.ContractError as error:
            drift_error = str(error)
        tests = lkc.test(service_url, spec, **options)
        against = service_url
    else:
        from labkit.mock import mock  # a web stack loaded only when the review needs it

        # The tests send no credentials: the mock lets them through, as a test token would.
        with mock(spec, security=False) as api:
            tests = lkc.test(api, spec, **options)
        against = "mock"
    return ContractReview(spec, lint, tests, against, diff, drift, drift_error)
