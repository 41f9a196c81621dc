"""What a LoadRun computes from Locust's numbers: percentiles, history, SLO, comparison, knee, limits."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from labkit.load import CpuUsage, LoadError, LoadRun
from labkit.load._knee import locate_knee
from labkit.load._parse import last_aggregate, percentile, read_history, stats_from_json


def endpoint(name: str, times: dict[int, int], failures: int = 0) -> dict[str, object]:
    """One entry of Locust's JSON report, over a 10 s run."""
    count = sum(times.values())
    return {
        "name": name,
        "method": "GET",
        "start_time": 100.0,
        "last_request_timestamp": 110.0,
        "num_requests": count,
        "num_none_requests": 0,
        "num_failures": failures,
        "total_response_time": float(sum(ms * n for ms, n in times.items())),
        "max_response_time": float(max(times)),
        "min_response_time": float(min(times)),
        "response_times": {str(ms): n for ms, n in times.items()},
    }


def cpu(generator_peak: float = 40.0, service: float | None = 60.0) -> CpuUsage:
    return CpuUsage(generator_peak, generator_peak, service, 50.0, 2, pd.DataFrame())


def load_run(report: list[dict[str, object]], usage: CpuUsage | None = None) -> LoadRun:
    return LoadRun(
        target="http://127.0.0.1:1",
        scenario="catalog",
        users=10,
        spawn_rate=10,
        duration_s=10,
        processes=1,
        started_at=datetime.now(UTC),
        stats=stats_from_json(report),
        history=pd.DataFrame(),
        failures=pd.DataFrame(),
        cpu=usage or cpu(),
    )


def test_percentile_reads_a_locust_histogram_as_locust_does() -> None:
    times = {1: 90, 10: 5, 100: 4, 1000: 1}

    # Locust reports the time that the slowest (1 - p) of requests reach: with 5 of 100 at
    # 100 ms or slower, P95 is 100 ms (not the nearest-rank 10 ms).
    assert percentile(times, 100, 0.50) == 1
    assert percentile(times, 100, 0.90) == 10
    assert percentile(times, 100, 0.95) == 100
    assert percentile(times, 100, 0.99) == 1000
    assert math.isnan(percentile({}, 0, 0.5))


def test_stats_aggregate_merges_the_histograms_of_every_endpoint() -> None:
    stats = stats_from_json(
        [endpoint("/a", {2: 95, 50: 5}), endpoint("/b", {2: 50, 400: 50}, failures=10)]
    )

    total = stats.loc["Aggregated"]
    assert total["requests"] == 200 and total["failures"] == 10
    assert total["error_rate"] == pytest.approx(0.05)
    assert total["rps"] == pytest.approx(20.0)
    assert total["p50_ms"] == 2 and total["p95_ms"] == 400
    assert stats.loc["GET /a", "p95_ms"] == 50


HISTORY_HEADER = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,"
    "99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,"
    "Total Average Response Time,Total Min Response Time,Total Max Response Time,"
    "Total Average Content Size"
)
HISTORY_ROWS = [
    "1000,0,,Aggregated,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0,0,0,0",
    "1001,5,,Aggregated,0,0,0,0,0,0,0,0,0,0,0,0,0,300,3,2,2,1,9,40",
    "1002,5,,Aggregated,0,0,2,2,3,3,4,5,6,7,8,9,9,700,3,2,2,1,9,40",
]


def test_history_rates_come_from_the_totals_and_idle_percentiles_are_missing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.csv"
    path.write_text("\n".join([HISTORY_HEADER, *HISTORY_ROWS]) + "\n")

    history = read_history(path)

    assert history["rps"].tolist() == [0.0, 300.0, 400.0]
    assert history["failures_per_s"].tolist() == [0.0, 3.0, 0.0]
    assert history["p95_ms"].isna().tolist() == [True, True, False]
    assert history.loc[2, "p95_ms"] == 5


def test_progress_reads_the_newest_complete_aggregate_of_a_file_being_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.csv"
    path.write_text("")
    assert last_aggregate(path) is None

    path.write_text("\n".join([HISTORY_HEADER, *HISTORY_ROWS, "1003,5,,Aggreg"]))

    assert last_aggregate(path) == {"users": 5.0, "rps": 400.0, "p95_ms": 5.0}


def test_slo_verdict_reports_the_numbers_that_decided_it() -> None:
    run = load_run([endpoint("/a", {20: 90, 300: 10}, failures=0)])

    met = run.slo(p95_ms=500, error_rate=0.01)
    missed = run.slo(p95_ms=200)
    assert met and not missed
    assert missed.p95_ms == 300 and missed.p95_target_ms == 200
    assert "MISSED" in repr(missed) and "300 ms > 200 ms" in repr(missed)
    with pytest.raises(LoadError, match="no endpoint"):
        run.slo(endpoint="GET /nope")


def test_slo_verdict_warns_when_the_generator_limited_the_run() -> None:
    run = load_run([endpoint("/a", {5: 100})], cpu(generator_peak=97.0))

    assert run.generator_bound
    assert "load generator, not the service" in run.limits
    assert run.slo().caveat == run.limits


def test_cpu_usage_names_the_side_that_ran_out() -> None:
    assert cpu(generator_peak=95.0).bottleneck == "generator"
    assert cpu(service=99.0).bottleneck == "service"
    assert cpu().bottleneck is None
    assert cpu(service=None).bottleneck is None


def test_compare_gives_after_over_before_per_endpoint() -> None:
    fast = load_run([endpoint("/a", {10: 100})])
    slow = load_run([endpoint("/a", {40: 50})])

    comparison = fast.compare(slow)

    assert comparison.ratio("p95_ms") == pytest.approx(4.0)
    assert comparison.ratio("rps", "GET /a") == pytest.approx(0.5)
    assert "x4.00" in repr(comparison)


def test_knee_is_the_last_step_before_throughput_flattens_and_latency_rises() -> None:
    steps = pd.DataFrame(
        {
            "users": [1, 2, 4, 8, 16],
            "rps": [100.0, 195.0, 380.0, 410.0, 415.0],
            "p95_ms": [10.0, 10.5, 11.0, 25.0, 60.0],
        }
    )

    assert locate_knee(steps) == 4


def test_no_knee_while_throughput_still_scales() -> None:
    steps = pd.DataFrame(
        {"users": [1, 2, 4], "rps": [100.0, 200.0, 390.0], "p95_ms": [10.0, 10.0, 11.0]}
    )

    assert locate_knee(steps) is None
