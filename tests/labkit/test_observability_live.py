"""A traced service in a child process: its spans reach labkit's receiver, its logs are tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labkit.errors import LabkitError
from labkit.metrics import histogram_quantile, scrape
from labkit.service import LiveService

ITEM = "/v1/products/{product_id}"


def test_a_live_service_exports_its_trace_and_its_logs_read_as_tables() -> None:
    settings = {"slow_query_ms": 0, "rate_limit_enabled": False}
    with LiveService(scale=20, tracing=True, settings=settings) as svc, svc.client() as client:
        response = client.get("/v1/products", params={"limit": 2})
        request_id = response.headers["x-request-id"]
        trace = svc.trace(request_id)
        access = svc.logs().filter(f"request_id = '{request_id}'").df()
        slow = svc.logs("slow_query").filter(f"request_id = '{request_id}'").df()
    assert response.status_code == 200
    assert trace.trace_id == request_id and trace.count("sql") >= 1
    assert "catalog.fetch_product_page" in trace._repr_html_()
    assert access["route"].tolist() == ["/v1/products"]
    assert access["ts"].iloc[0] > 1e9  # epoch seconds
    assert len(slow) >= 1


def test_the_metrics_histogram_estimate_lies_in_the_bucket_of_the_logged_exact_value() -> None:
    with LiveService(scale=20, settings={"rate_limit_enabled": False}) as svc:
        with svc.client() as client:
            statuses = {client.get(f"/v1/products/{1 + i % 20}").status_code for i in range(60)}
        metrics = scrape(svc)
        logged = svc.logs().filter(f"route = '{ITEM}'").df()["duration_ms"] / 1000
    estimate = histogram_quantile(metrics, 0.9).set_index("route").loc[ITEM]
    exact = float(np.quantile(logged, 0.9, method="inverted_cdf"))
    bounds = sorted(metrics["le"].dropna().unique())
    upper = min(bound for bound in bounds if bound >= exact)
    lower = max([0.0, *(bound for bound in bounds if bound < exact)])
    assert statuses == {200}
    assert estimate["count"] == len(logged) == 60
    assert lower <= estimate["q90"] <= (upper if not math.isinf(upper) else lower)


def test_trace_and_logs_say_what_to_do_when_there_is_nothing_to_read() -> None:
    with LiveService(scale=None, db="sqlite", settings={"access_log": False}) as svc:
        with pytest.raises(LabkitError, match="tracing=True"):
            svc.trace("0" * 32)
        with pytest.raises(LabkitError, match="slow_query_ms"):
            svc.logs("slow_query")
