"""The shop's designed contracts in notebooks/contracts stay what notebook 01 says they are."""

from __future__ import annotations

from pathlib import Path

from labkit import contract

CONTRACTS = Path(__file__).resolve().parents[2] / "notebooks" / "contracts"


def test_reviewed_contracts_lint_clean() -> None:
    for name in ("shop-v1.yaml", "shop-v2.yaml"):
        report = contract.lint(CONTRACTS / name)
        assert report.findings == [], (name, report.to_frame())


def test_draft_breaks_the_rules_the_lesson_fixes() -> None:
    report = contract.lint(CONTRACTS / "shop-v1-draft.yaml")
    assert report.counts["error"] > 0
    assert {
        "path-no-verbs",
        "path-plural-resources",
        "collection-object-response",
        "money-not-float",
        "request-body-closed",
        "security-scheme-defined",
        "error-problem-json",
    } <= report.rules_fired


def test_v2_breaks_v1_clients_and_bumps_the_major_version() -> None:
    report = contract.diff(CONTRACTS / "shop-v1.yaml", CONTRACTS / "shop-v2.yaml")
    assert {"operation-removed", "response-field-removed", "required-request-field-added"} <= {
        c.code for c in report.breaking
    }
    assert report.required_bump == "major" and report.version_ok
