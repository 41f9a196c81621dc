"""Tracing and the slow-query log: spans per layer, one id from log to trace, traceparent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest
from fastapi.testclient import TestClient

from labkit.tracing import Trace, TraceCollector
from sample_service.slowlog import redact, slow_query_line
from tests.service.conftest import AppClient

INCOMING_TRACE = "0af7651916cd43dd8448eb211c80319c"
INCOMING_SPAN = "b7ad6b7169203331"


@pytest.fixture
def collector() -> Iterator[TraceCollector]:
    with TraceCollector() as receiver:
        yield receiver


def traced(api: AppClient, collector: TraceCollector, **settings: Any) -> TestClient:
    return api(otel_traces_endpoint=collector.endpoint, **settings)


def finished_trace(client: TestClient, collector: TraceCollector, request_id: str) -> Trace:
    """Export what the app has buffered, then read the request's spans from the receiver."""
    client.app.state.tracer_provider.force_flush()  # type: ignore[attr-defined]
    return collector.trace(request_id, settle=0.05)


def test_a_request_has_http_service_and_sql_spans_each_inside_the_layer_above(
    api: AppClient, collector: TraceCollector
) -> None:
    client = traced(api, collector)
    response = client.get("/v1/products", params={"limit": 3})
    assert response.status_code == 200
    trace = finished_trace(client, collector, response.headers["x-request-id"])
    assert trace.root.layer == "http" and trace.root.kind == "server"
    service = [span for span in trace.spans if span.layer == "service"]
    assert [span.name for span in service] == ["catalog.fetch_product_page"]
    assert trace.parent_of(service[0]) == trace.root
    sql = [span for span in trace.spans if span.layer == "sql"]
    assert any("FROM products" in span.attributes["db.statement"] for span in sql)
    assert all(trace.parent_of(span) == service[0] for span in sql)


def test_the_bare_driver_read_has_its_own_sql_span(
    api: AppClient, collector: TraceCollector
) -> None:
    client = traced(api, collector, cache_ttl_seconds=0)
    response = client.get("/v1/products/1")
    assert response.status_code == 200
    trace = finished_trace(client, collector, response.headers["x-request-id"])
    assert trace.count("sql") == 1


def test_the_request_id_is_the_trace_id_in_header_log_and_problem(
    api: AppClient, collector: TraceCollector, capsys: pytest.CaptureFixture[str]
) -> None:
    client = traced(api, collector, access_log=True)
    response = client.get("/v1/products/999999")
    assert response.status_code == 404
    request_id = response.headers["x-request-id"]
    assert response.json()["request_id"] == request_id
    trace = finished_trace(client, collector, request_id)
    assert trace.trace_id == request_id
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]
    assert request_id in {line.get("request_id") for line in lines if line["event"] == "request"}


def test_an_incoming_traceparent_is_continued(api: AppClient, collector: TraceCollector) -> None:
    client = traced(api, collector)
    traceparent = f"00-{INCOMING_TRACE}-{INCOMING_SPAN}-01"
    response = client.get("/v1/categories", headers={"traceparent": traceparent})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == INCOMING_TRACE
    trace = finished_trace(client, collector, INCOMING_TRACE)
    assert trace.root.parent_id == INCOMING_SPAN


class _EchoTraceparent(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("traceparent"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def test_outbound_httpx_calls_carry_the_current_traceparent(
    api: AppClient, collector: TraceCollector
) -> None:
    client = traced(api, collector)
    tracer = client.app.state.tracer_provider.get_tracer("test")  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoTraceparent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tracer.start_as_current_span("checkout") as span:
            httpx.get(f"http://127.0.0.1:{server.server_address[1]}/pay")
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        server.shutdown()
        server.server_close()
    assert _EchoTraceparent.seen and _EchoTraceparent.seen[-1] is not None
    assert _EchoTraceparent.seen[-1].split("-")[1] == trace_id


def test_tracing_off_installs_nothing(api: AppClient) -> None:
    client = api()
    assert not hasattr(client.app.state, "tracer_provider")  # type: ignore[attr-defined]
    assert client.app.state.db.tracer is None  # type: ignore[attr-defined]


def _slow_lines(output: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in output.splitlines() if line[:1] == "{"]
    return [record for record in records if record["event"] == "slow_query"]


def test_statements_over_the_threshold_are_logged_with_the_request_id(
    api: AppClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client = api(slow_query_ms=0)
    response = client.get("/v1/products", params={"limit": 2})
    assert response.status_code == 200
    slow = _slow_lines(capsys.readouterr().out)
    selects = [line for line in slow if "FROM products" in line["statement"]]
    assert selects and all(
        line["request_id"] == response.headers["x-request-id"] for line in selects
    )
    assert all(line["duration_ms"] >= 0 for line in selects)


def test_statements_under_the_threshold_are_not_logged(
    api: AppClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client = api(slow_query_ms=60_000)
    assert client.get("/v1/products", params={"limit": 2}).status_code == 200
    assert _slow_lines(capsys.readouterr().out) == []


def test_slow_query_parameters_are_redacted_to_their_types() -> None:
    line = json.loads(
        slow_query_line(
            "SELECT * FROM users WHERE email = :email AND id = :id",
            {"email": "alice@shop.test", "id": 3},
            12.5,
            "r1",
        )
    )
    assert line["parameters"] == {"email": "str", "id": "int"}
    assert "alice" not in json.dumps(line)
    assert redact(("secret", 7)) == ["str", "int"]
    assert redact([("secret", 7), ("other", 8)]) == [["str", "int"], ["str", "int"]]
