"""Percentiles from histograms and burn-rate alerts, on synthetic series with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from labkit.errors import LabkitError
from labkit.metrics import bucket_counts, histogram_quantile, quantile_from_buckets, scrape
from labkit.slo import SLO, WORKBOOK_RULES, prometheus_rules

SERVICE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
COARSE_BUCKETS = (0.01, 0.1, 1.0)


@pytest.mark.parametrize("bounds", [SERVICE_BUCKETS, COARSE_BUCKETS])
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_a_histogram_percentile_is_within_the_bucket_of_the_exact_one(
    bounds: tuple[float, ...], q: float
) -> None:
    samples = np.random.default_rng(7).lognormal(mean=-4.5, sigma=0.8, size=5_000)
    edges = [*bounds, math.inf]
    estimate = quantile_from_buckets(edges, bucket_counts(samples, bounds), q)
    exact = float(np.quantile(samples, q, method="inverted_cdf"))  # the nearest rank
    upper = next(edge for edge in edges if edge >= exact)
    lower = max([0.0, *(edge for edge in edges if edge < exact)])
    assert lower <= estimate <= upper


def test_coarse_buckets_bias_p99_more_than_fine_ones() -> None:
    samples = np.random.default_rng(3).lognormal(mean=-4.5, sigma=0.8, size=5_000)
    exact = float(np.quantile(samples, 0.99))
    errors = {
        bounds: abs(
            quantile_from_buckets([*bounds, math.inf], bucket_counts(samples, bounds), 0.99) - exact
        )
        for bounds in (SERVICE_BUCKETS, COARSE_BUCKETS)
    }
    assert errors[COARSE_BUCKETS] > errors[SERVICE_BUCKETS]


def test_a_rank_in_the_inf_bucket_returns_the_highest_finite_bound() -> None:
    assert quantile_from_buckets([0.1, 1.0, math.inf], [0, 1, 10], 0.99) == 1.0


def test_a_quantile_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(LabkitError):
        quantile_from_buckets([1.0, math.inf], [1, 1], 99)


EXPOSITION = """\
# TYPE shop_http_request_duration_seconds histogram
shop_http_request_duration_seconds_bucket{method="GET",route="/a",le="0.1"} 50.0
shop_http_request_duration_seconds_bucket{method="GET",route="/a",le="1.0"} 100.0
shop_http_request_duration_seconds_bucket{method="GET",route="/a",le="+Inf"} 100.0
shop_http_request_duration_seconds_count{method="GET",route="/a"} 100.0
shop_http_request_duration_seconds_sum{method="GET",route="/a"} 30.0
"""


def test_a_scrape_becomes_rows_and_histogram_quantile_interpolates_like_promql() -> None:
    frame = scrape(EXPOSITION)
    assert set(frame["sample"]) >= {"shop_http_request_duration_seconds_bucket"}
    result = histogram_quantile(frame, 0.75)
    # rank 75 of 100 lies halfway through the (0.1, 1.0] bucket.
    assert result.loc[0, "route"] == "/a" and result.loc[0, "count"] == 100
    assert result.loc[0, "q75"] == pytest.approx(0.55)


def _requests(error_from: float | None, seconds: float = 60, rate: int = 50) -> pd.DataFrame:
    """A synthetic access log: `rate` requests per second, all 5xx after `error_from`."""
    ts = np.arange(0, seconds, 1 / rate)
    failing = ts >= error_from if error_from is not None else np.zeros_like(ts, dtype=bool)
    return pd.DataFrame({"ts": ts, "status": np.where(failing, 500, 200), "duration_ms": 5.0})


AVAILABILITY = SLO("availability", 0.999)


def test_burn_rate_alerts_stay_quiet_on_a_healthy_series() -> None:
    evaluation = AVAILABILITY.evaluate(_requests(None), time_scale=720)
    assert not evaluation.fired and evaluation.first_fired_at is None


def test_burn_rate_alerts_fire_soon_after_errors_start() -> None:
    evaluation = AVAILABILITY.evaluate(_requests(error_from=30), time_scale=720)
    assert evaluation.fired
    fired_at = evaluation.first_fired_at
    assert fired_at is not None and 30 <= fired_at <= 31


def test_a_small_error_rate_within_budget_does_not_page() -> None:
    requests = _requests(None)
    requests.loc[requests.index % 2000 == 1000, "status"] = 500  # 0.05 %: half the budget
    assert not AVAILABILITY.evaluate(requests, time_scale=720).fired


def test_a_latency_slo_counts_slow_requests_as_bad() -> None:
    requests = _requests(None)
    requests.loc[requests["ts"] >= 20, "duration_ms"] = 800.0
    latency = SLO("latency", 0.99, kind="latency", threshold_s=0.25)
    assert latency.evaluate(requests, time_scale=720).fired


def test_the_rules_export_as_a_prometheus_rule_file() -> None:
    document = yaml.safe_load(prometheus_rules(AVAILABILITY))
    rules = document["groups"][0]["rules"]
    alerts = [rule for rule in rules if "alert" in rule]
    assert len(alerts) == len(WORKBOOK_RULES)
    page = alerts[0]
    assert page["labels"]["severity"] == "page"
    assert "rate1h > (14.4 * 0.001)" in page["expr"] and "rate5m > (14.4 * 0.001)" in page["expr"]
    records = {rule["record"] for rule in rules if "record" in rule}
    assert "slo:availability:error_ratio:rate5m" in records


def test_a_latency_slo_without_threshold_is_refused() -> None:
    with pytest.raises(LabkitError):
        SLO("latency", 0.99, kind="latency")
