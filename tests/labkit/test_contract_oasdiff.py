"""`lk.contract.diff` agrees with oasdiff's checker catalog on breaking-or-not, measured on its fixtures.

oasdiff's tests run one checker at a time, so a fixture pair may also change something that
checker ignores (a request schema shared with a response, say). The verdict compared is the
one on the side of the wire oasdiff's expected changes sit on; the rest of the diff is ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labkit import contract

HERE = Path(__file__).parents[1] / "data" / "openapi" / "oasdiff"
CASES: list[dict[str, Any]] = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))
REQUEST = ("request", "new-required-request", "new-optional-request", "added-required-request")
RESPONSE = ("response", "required-response", "optional-response")


def _side(code: str) -> str:
    """Which side of the wire a change code (ours or oasdiff's) is about."""
    if code.startswith((*RESPONSE, "media-type", "status-code", "success-status", "error-status")):
        return "response"
    if code.startswith((*REQUEST, "parameter", "required-", "optional-parameter", "pagination")):
        return "request"
    return "any"


def _breaking(case: dict[str, Any]) -> bool:
    report = contract.diff(HERE / "checker" / case["base"], HERE / "checker" / case["revision"])
    sides = {_side(i) for i in case["oasdiff_ids"]}
    return any(
        c.level == "breaking" and ("any" in sides or _side(c.code) in sides) for c in report.changes
    )


def test_the_fixture_table_covers_every_level() -> None:
    assert len(CASES) >= 150
    assert {c["oasdiff_level"] for c in CASES} == {"ERR", "WARN", "INFO", "NONE"}


def test_diff_agrees_with_oasdiff_on_at_least_95_percent_of_its_fixtures() -> None:
    disagree = [c["test"] for c in CASES if _breaking(c) != (c["oasdiff_level"] == "ERR")]
    agreement = 1 - len(disagree) / len(CASES)
    assert agreement >= 0.95, (f"{agreement:.1%}", disagree)


@pytest.mark.parametrize(
    "test",
    [
        "TestRequestParameterMaxLengthDecreasedCheck",
        "TestRequestBodyMediaTypeRemoved",
        "TestRequestBodyRemoved",
        "TestBreaking_RequestPropertyOneOfRemoved",
        "TestAdditionalPropertiesTraversalDeletedRequiredProperty",
        "TestRequestBodyIfAdded",
        "TestWebhookAddedAndRemoved",
        "TestRequestParameterDefaultValueChangedAndRenamedParameter",
    ],
)
def test_checks_the_old_diff_missed_now_report_breaking(test: str) -> None:
    (case,) = [c for c in CASES if c["test"] == test]
    assert case["oasdiff_level"] == "ERR" and _breaking(case)


@pytest.mark.parametrize("test", ["TestAPISecurityAdded", "TestRequestBodyContainsRemoved"])
def test_changes_oasdiff_calls_safe_are_not_breaking(test: str) -> None:
    (case,) = [c for c in CASES if c["test"] == test]
    assert case["oasdiff_level"] == "INFO" and not _breaking(case)
