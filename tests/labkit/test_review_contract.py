"""The contract section of a review: lint, the breaking changes and their bump, drift, tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import labkit as lk
from labkit.review import ContractReview, review_contract
from labkit.review._section import Section

pytestmark = pytest.mark.timeout(300)

CONTRACTS = Path(__file__).resolve().parents[2] / "notebooks" / "contracts"
V1, V2 = CONTRACTS / "shop-v1.yaml", CONTRACTS / "shop-v2.yaml"


@pytest.fixture(scope="module")
def v1_to_v2() -> ContractReview:
    return review_contract(V2, previous=V1, max_examples=3)


def test_the_shop_v2_review_names_its_breaking_changes_and_the_bump(
    v1_to_v2: ContractReview,
) -> None:
    assert isinstance(v1_to_v2, Section)
    breaking = [r for r in v1_to_v2.risks() if "breaking change" in r.title]
    assert len(breaking) == 1
    risk = breaking[0]
    assert f"{len(v1_to_v2.diff.breaking)} breaking changes" in risk.title  # type: ignore[union-attr]
    assert "major version bump is required" in risk.title
    assert "operation-removed" in risk.evidence and "1.0.0 → 2.0.0" in risk.evidence
    assert risk.severity == "warning"  # v2.0.0 is a major bump: the version covers them
    markdown = v1_to_v2.to_markdown()
    assert "| breaking | operation-removed | DELETE /v1/reviews/{review_id} |" in markdown
    assert "breaking" in v1_to_v2._repr_html_()


def test_without_a_service_the_contract_tests_run_against_the_mock(
    v1_to_v2: ContractReview,
) -> None:
    assert v1_to_v2.tested_against == "mock"
    assert v1_to_v2.tests.complete and v1_to_v2.tests.cases >= len(v1_to_v2.spec.operations)
    assert v1_to_v2.tests.ok, v1_to_v2.tests.to_frame()
    assert "against a mock of the contract" in v1_to_v2.to_markdown()


def test_breaking_changes_without_a_major_bump_are_an_error(tmp_path: Path) -> None:
    doc = yaml.safe_load(V2.read_text())
    doc["info"]["version"] = "1.1.0"
    doc["paths"] = {p.replace("/v2/", "/v1/"): item for p, item in doc["paths"].items()}
    minor = tmp_path / "shop-v1.1.yaml"
    minor.write_text(yaml.safe_dump(doc))
    review = review_contract(minor, previous=V1, max_examples=1, timeout=60)
    risk = next(r for r in review.risks() if "breaking change" in r.title)
    assert risk.severity == "error" and review.risks()[0] == risk
    assert "1.0.0 → 1.1.0 (minor bump; the changes need major)" in risk.evidence


def test_drift_against_a_running_implementation_is_reported() -> None:
    """v1's contract against a service that implements v2 (the mock of v2 plays the service)."""
    with lk.mock(V2, security=False) as implementation:
        review = review_contract(V1, service_url=implementation.url, max_examples=1, timeout=90)
    assert review.drift is not None and review.tested_against == implementation.url
    missing = next(r for r in review.risks() if "missing in the service" in r.title)
    assert missing.severity == "error" and "/v1/" in missing.evidence
    # Tested against v1's contract, the v2 service fails: its v1 paths are gone (404).
    assert not review.tests.ok
    assert any(r.title.startswith("contract tests:") for r in review.risks())


def test_a_lint_error_becomes_a_risk_with_its_fix() -> None:
    draft = CONTRACTS / "shop-v1-draft.yaml"
    review = review_contract(draft, max_examples=1, timeout=60)
    counts = review.lint.counts
    lint_risks = [r for r in review.risks() if r.title.startswith("lint:")]
    assert counts["error"] + counts["warning"] > 0 and lint_risks
    assert all(r.fix for r in lint_risks)
    assert lint_risks[0].severity == ("error" if counts["error"] else "warning")
