"""Locust's output files turned into DataFrames.

The final numbers come from the JSON report (written after the last request; the CSV summary
can miss the final second), the time series from the full-history CSV.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

AGGREGATED = "Aggregated"
STATS_COLUMNS = [
    "requests",
    "failures",
    "error_rate",
    "rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "avg_ms",
]
HISTORY_COLUMNS = [
    "t_s",
    "endpoint",
    "users",
    "rps",
    "failures_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "requests",
    "failures",
]


def percentile(response_times: Mapping[int, int], count: int, fraction: float) -> float:
    """Return the response time at `fraction` of a Locust histogram, as Locust computes it."""
    if count == 0:
        return float("nan")
    at_most_above = int(count * fraction)
    seen = 0
    for millis in sorted(response_times, reverse=True):
        seen += response_times[millis]
        if count - seen <= at_most_above:
            return float(millis)
    return 0.0


def stats_from_json(report: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Per-endpoint totals and percentiles, plus an `Aggregated` row, from Locust's JSON report."""
    total = _merge(report)
    # Every endpoint's rate is over the whole run: an endpoint hit once is not "infinitely fast".
    span = float(total["last_request_timestamp"]) - float(total["start_time"])
    rows = [_endpoint_row(entry, span) for entry in report]
    if report:
        rows.append(_endpoint_row(total, span))
    frame = pd.DataFrame(rows, columns=["endpoint", *STATS_COLUMNS])
    return frame.set_index("endpoint")


def read_stats(json_file: Path) -> pd.DataFrame:
    """Read Locust's `--json-file` report into the stats table."""
    return stats_from_json(json.loads(json_file.read_text()))


def read_history(csv_file: Path) -> pd.DataFrame:
    """Read Locust's `_stats_history.csv` into a long time series, one row per endpoint and second."""
    if not csv_file.exists() or csv_file.stat().st_size == 0:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    raw = pd.read_csv(csv_file, na_values=["N/A"])
    if raw.empty:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    method = raw["Type"].astype("string").fillna("")
    frame = pd.DataFrame(
        {
            "t_s": raw["Timestamp"] - raw["Timestamp"].min(),
            "endpoint": (method + " " + raw["Name"].astype(str)).str.strip(),
            "users": raw["User Count"],
            "p50_ms": raw["50%"],
            "p95_ms": raw["95%"],
            "p99_ms": raw["99%"],
            "requests": raw["Total Request Count"],
            "failures": raw["Total Failure Count"],
        }
    )
    # Locust's own Requests/s lags two seconds behind; the change of the totals does not.
    by_endpoint = frame.groupby("endpoint", sort=False)
    seconds = by_endpoint["t_s"].diff()
    frame["rps"] = (by_endpoint["requests"].diff() / seconds).fillna(0.0)
    frame["failures_per_s"] = (by_endpoint["failures"].diff() / seconds).fillna(0.0)
    # Locust writes 0 for percentiles of a window without requests; that is "no data", not 0 ms.
    idle = frame["p50_ms"].fillna(0) == 0
    frame.loc[idle, ["p50_ms", "p95_ms", "p99_ms"]] = float("nan")
    frame = frame[HISTORY_COLUMNS]
    return frame.reset_index(drop=True)


def read_failures(csv_file: Path) -> pd.DataFrame:
    """Read Locust's `_failures.csv`: which endpoint failed, with Locust's own error text."""
    columns = ["endpoint", "error", "occurrences"]
    if not csv_file.exists() or csv_file.stat().st_size == 0:
        return pd.DataFrame(columns=columns)
    raw = pd.read_csv(csv_file)
    return pd.DataFrame(
        {
            "endpoint": raw["Method"].astype(str) + " " + raw["Name"].astype(str),
            "error": raw["Error"].astype(str),
            "occurrences": raw["Occurrences"],
        },
        columns=columns,
    )


def last_aggregate(csv_file: Path) -> dict[str, float] | None:
    """Return users, rps and P95 from the newest aggregated lines of a history file being written."""
    try:
        header, *lines = csv_file.read_text().splitlines()
    except (OSError, ValueError):  # not there yet, or still empty
        return None
    at = {name: i for i, name in enumerate(header.split(","))}
    # A line Locust is still writing has fewer cells than the header.
    rows = [cells for cells in (line.split(",") for line in lines) if len(cells) == len(at)]
    totals = [cells for cells in rows if cells[at["Name"]] == AGGREGATED]
    if not totals:
        return None
    last = totals[-1]
    rps = 0.0
    if len(totals) > 1:
        before = totals[-2]
        seconds = float(last[at["Timestamp"]]) - float(before[at["Timestamp"]])
        done = float(last[at["Total Request Count"]]) - float(before[at["Total Request Count"]])
        rps = done / seconds if seconds > 0 else 0.0
    p95 = last[at["95%"]]
    return {
        "users": float(last[at["User Count"]]),
        "rps": rps,
        "p95_ms": float(p95) if p95 not in ("N/A", "", "0") else float("nan"),
    }


def _endpoint_row(entry: Mapping[str, Any], span: float) -> dict[str, Any]:
    """Summarise one endpoint (or the merged total) of the JSON report, rates over `span` seconds."""
    times = {int(k): int(v) for k, v in entry["response_times"].items()}
    count = int(entry["num_requests"])
    failures = int(entry["num_failures"])
    method = entry.get("method") or ""
    name = f"{method} {entry['name']}".strip()
    return {
        "endpoint": name,
        "requests": count,
        "failures": failures,
        "error_rate": failures / count if count else 0.0,
        "rps": count / span if span > 0 else float("nan"),
        "p50_ms": percentile(times, count, 0.50),
        "p95_ms": percentile(times, count, 0.95),
        "p99_ms": percentile(times, count, 0.99),
        "max_ms": float(entry["max_response_time"] or 0.0) if count else float("nan"),
        "avg_ms": float(entry["total_response_time"]) / count if count else float("nan"),
    }


def _merge(report: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge every endpoint of the report into one, as Locust's own `Aggregated` line does."""
    histogram: Counter[int] = Counter()
    for entry in report:
        histogram.update({int(k): int(v) for k, v in entry["response_times"].items()})
    starts = [e["start_time"] for e in report if e["start_time"]]
    ends = [e["last_request_timestamp"] for e in report if e["last_request_timestamp"]]
    return {
        "name": AGGREGATED,
        "method": "",
        "response_times": histogram,
        "num_requests": sum(e["num_requests"] for e in report),
        "num_failures": sum(e["num_failures"] for e in report),
        "start_time": min(starts, default=0),
        "last_request_timestamp": max(ends, default=0),
        "max_response_time": max((e["max_response_time"] or 0 for e in report), default=0),
        "total_response_time": sum(e["total_response_time"] for e in report),
    }
