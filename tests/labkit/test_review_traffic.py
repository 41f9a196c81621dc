"""The load section of a review: a short Locust run against a mock, judged by a one-line SLO."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import labkit as lk
from labkit.errors import ReviewError
from labkit.mock import MockServer
from labkit.review import SloTarget, parse_slo, review_load
from labkit.review._section import Section

pytestmark = pytest.mark.timeout(300)

SHOP = Path(__file__).resolve().parents[2] / "notebooks" / "contracts" / "shop-v1.yaml"
LOCUSTFILE = """
from locust import HttpUser, constant, task


class Browser(HttpUser):
    wait_time = constant(0.05)

    @task
    def categories(self):
        self.client.get("/v1/categories")
"""


@pytest.fixture(scope="module")
def api() -> Iterator[MockServer]:
    with lk.mock(SHOP, latency_ms=20) as server:
        yield server


@pytest.fixture(scope="module")
def locustfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("load") / "browse.py"
    path.write_text(textwrap.dedent(LOCUSTFILE))
    return path


def test_an_slo_line_is_read_into_objectives() -> None:
    slo = parse_slo("p50 < 20ms and p99 < 1.5s, errors < 0.1% at 100 rps")
    assert slo == SloTarget(
        "p50 < 20ms and p99 < 1.5s, errors < 0.1% at 100 rps",
        {"p50": 20.0, "p99": 1500.0},
        0.001,
        100.0,
    )
    assert parse_slo("p95 < 200ms").error_rate == 0.01 and parse_slo("p95 < 200ms").rps is None


@pytest.mark.parametrize("text", ["p97 < 200ms", "fast please", "errors < 1%", "p95 > 200ms"])
def test_an_unreadable_slo_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(ReviewError, match="SLO") as error:
        parse_slo(text)
    assert "\n" not in str(error.value)


def test_an_impossible_slo_fails_and_says_by_how_much(api: MockServer, locustfile: Path) -> None:
    review = review_load(
        locustfile, api.url, slo="p95 < 1ms at 100000 rps", users=2, duration=3, record=False
    )
    assert isinstance(review, Section) and not review.passed
    assert review.run.p95_ms >= 20  # every answer waits the mock's 20 ms
    missed = review.risks()[0]
    assert missed.severity == "error" and missed.area == "load"
    assert "p95 measured" in missed.evidence and "throughput measured" in missed.evidence
    assert "MISSED" in review.to_markdown() and "| p95 | < 1 ms |" in review.to_markdown()


def test_a_generous_slo_passes_and_the_knee_is_stepped(api: MockServer, locustfile: Path) -> None:
    review = review_load(
        locustfile,
        api.url,
        slo="p95 < 5s and errors < 50% at 1 rps",
        users=2,
        duration=3,
        knee=True,
        knee_users=(1, 2),
        step_duration=2,
        record=False,
    )
    assert review.passed, review.checks
    assert review.run.rps >= 1 and review.run.error_rate == 0
    assert not [r for r in review.risks() if r.severity == "error"]
    assert review.knee is not None and list(review.knee.steps["users"]) == [1, 2]
    assert "Step load (knee)" in review._repr_html_()
