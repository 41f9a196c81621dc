"""Prometheus metrics as data: a scrape as a DataFrame, and percentiles from histograms.

A histogram keeps counts per bucket, not the samples, so a percentile read from it is an
estimate: PromQL's ``histogram_quantile`` interpolates linearly inside the bucket where
the rank falls. The error is bounded by that bucket's width, which is why the bucket
layout matters. Taught in 10_observability.

>>> frame = lk.scrape(svc)
>>> lk.histogram_quantile(frame, 0.99, by=["route"])
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from labkit.errors import LabkitError

if TYPE_CHECKING:
    from labkit.service import LiveService

__all__ = [
    "bucket_bias",
    "bucket_counts",
    "histogram_quantile",
    "quantile_from_buckets",
    "scrape",
]

LATENCY = "shop_http_request_duration_seconds"


def scrape(source: str | LiveService, path: str = "/metrics") -> pd.DataFrame:
    """Fetch a Prometheus text exposition and return one row per sample.

    Columns: ``sample`` (e.g. ``…_bucket``), ``value``, and one column per label (``le`` as
    a float for bucket rows). `source` is a `LiveService`, a base URL or the text itself.

    Taught in 10_observability.
    """
    text = _exposition(source, path)
    rows = [
        {"sample": sample.name, **sample.labels, "value": sample.value}
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]
    frame = pd.DataFrame(rows)
    if "le" in frame:
        frame["le"] = pd.to_numeric(frame["le"], errors="coerce")  # "+Inf" → inf
    return frame


def histogram_quantile(
    frame: pd.DataFrame, q: float, *, metric: str = LATENCY, by: Sequence[str] = ("route",)
) -> pd.DataFrame:
    """PromQL's ``histogram_quantile(q, …)`` per group of `by` labels, from a `scrape` frame.

    Returns the groups with their request ``count`` and the estimate in column ``q<NN>``
    (seconds for a latency histogram).

    Taught in 10_observability.
    """
    buckets = frame[frame["sample"] == f"{metric}_bucket"]
    if buckets.empty:
        raise LabkitError(f"no {metric}_bucket samples in the scrape; is that metric exported?")
    # Several series (e.g. methods) per group add up bucket by bucket, as sum by (le) does.
    summed = buckets.groupby([*by, "le"], as_index=False)["value"].sum()
    rows = []
    for key, group in summed.groupby(list(by)):
        group = group.sort_values("le")
        counts = group["value"].tolist()
        rows.append(
            {
                **dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                "count": int(counts[-1]),
                f"q{round(q * 100)}": quantile_from_buckets(group["le"].tolist(), counts, q),
            }
        )
    return pd.DataFrame(rows)


def quantile_from_buckets(bounds: Sequence[float], cumulative: Sequence[float], q: float) -> float:
    """The `q` quantile from cumulative bucket counts, interpolated as Prometheus does.

    `bounds` are the upper bounds in increasing order, the last being +inf; a rank that
    falls in the +inf bucket returns the highest finite bound (the histogram knows no more).
    """
    if not 0 <= q <= 1:
        raise LabkitError(f"quantile {q} is outside [0, 1]; use e.g. 0.99 for P99")
    total = cumulative[-1]
    if total == 0:
        return math.nan
    rank = q * total
    index = bisect.bisect_left(list(cumulative), rank)
    index = min(index, len(bounds) - 1)
    if math.isinf(bounds[index]):
        return float(bounds[index - 1]) if index > 0 else math.nan
    lower = bounds[index - 1] if index > 0 else 0.0
    below = cumulative[index - 1] if index > 0 else 0.0
    inside = cumulative[index] - below
    if inside == 0:
        return float(bounds[index])
    return float(lower + (bounds[index] - lower) * (rank - below) / inside)


def bucket_counts(samples: Iterable[float], bounds: Sequence[float]) -> list[int]:
    """Cumulative counts of `samples` in buckets with these upper bounds (+inf appended).

    What a Prometheus histogram with that layout would have recorded for the same samples.
    """
    edges = [*sorted(bounds), math.inf] if not math.isinf(max(bounds)) else sorted(bounds)
    values = sorted(samples)
    return [bisect.bisect_right(values, edge) for edge in edges]


def bucket_bias(
    samples_s: Iterable[float],
    layouts: Mapping[str, Sequence[float]],
    quantiles: Sequence[float] = (0.5, 0.95, 0.99),
) -> pd.DataFrame:
    """Exact (nearest-rank) percentiles of `samples_s` next to each layout's histogram estimate.

    One row per layout and quantile: ``exact_ms``, ``estimate_ms``, ``error_ms`` and the
    width of the bucket the exact value falls in (``bucket_ms``), the bound on the error.

    Taught in 10_observability.
    """
    values = sorted(samples_s)
    if not values:
        raise LabkitError("no samples to compare; run some requests first")
    rows = []
    for name, bounds in layouts.items():
        edges = [*sorted(bounds), math.inf]
        cumulative = bucket_counts(values, bounds)
        for q in quantiles:
            # Nearest rank: the sample a histogram's rank q·n points at, so both share a bucket.
            exact = float(np.quantile(values, q, method="inverted_cdf"))
            estimate = quantile_from_buckets(edges, cumulative, q)
            index = bisect.bisect_left(edges, exact)
            lower = edges[index - 1] if index > 0 else 0.0
            rows.append(
                {
                    "layout": name,
                    "quantile": q,
                    "exact_ms": exact * 1000,
                    "estimate_ms": estimate * 1000,
                    "error_ms": abs(estimate - exact) * 1000,
                    "bucket_ms": (edges[index] - lower) * 1000,
                }
            )
    return pd.DataFrame(rows)


def _exposition(source: str | LiveService, path: str) -> str:
    if not isinstance(source, str):
        source = source.url
    if not source.startswith(("http://", "https://")):
        return source  # the exposition text itself
    try:
        response = httpx.get(source.rstrip("/") + path, timeout=5.0)
    except httpx.TransportError as exc:
        raise LabkitError(f"nothing answered at {source}{path} ({exc}); is it running?") from exc
    if response.status_code != 200:
        raise LabkitError(f"{source}{path} answered {response.status_code}, not metrics")
    return response.text
