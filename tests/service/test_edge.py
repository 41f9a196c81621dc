"""The HTTP edge: problem+json for every error, request ids, security headers, body limits."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import AppClient, Seeded, assert_problem


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    body = assert_problem(client.get("/v1/nothing-here"), 404)
    assert body["instance"] == "/v1/nothing-here"


def test_wrong_method_is_a_405_problem_with_allow(client: TestClient) -> None:
    response = client.put("/v1/products/1")
    assert_problem(response, 405)
    assert "PATCH" in response.headers["allow"]


def test_validation_error_names_the_failing_fields(client: TestClient, seeded: Seeded) -> None:
    response = client.post(
        "/v1/products",
        json={"category_id": 1, "sku": "bad sku", "name": "", "price_cents": -1},
        headers=seeded.staff,
    )
    body = assert_problem(response, 422)
    fields = {error["field"] for error in body["errors"]}
    assert {"body.sku", "body.name", "body.price_cents"} <= fields


def test_non_json_body_is_415(client: TestClient, seeded: Seeded) -> None:
    response = client.post(
        "/v1/products", content=b"<xml/>", headers={"content-type": "text/xml", **seeded.staff}
    )
    assert_problem(response, 415)


def test_refused_bodies_still_report_the_rate_limit(api: AppClient, seeded: Seeded) -> None:
    client = api(rate_limit_enabled=True)
    headers = {"content-type": "text/plain", **seeded.staff}
    response = client.post("/v1/products", content=b"x", headers=headers)
    assert_problem(response, 415)
    assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= response.headers.keys()


def test_declared_oversized_body_is_413(api: AppClient, seeded: Seeded) -> None:
    client = api(max_body_bytes=100)
    response = client.post("/v1/products", json={"name": "x" * 200}, headers=seeded.staff)
    assert_problem(response, 413)


def test_streamed_oversized_body_is_413(api: AppClient, seeded: Seeded) -> None:
    client = api(max_body_bytes=100)
    chunks = iter([b'{"name": "', b"x" * 80, b"x" * 80, b'"}'])
    headers = {"content-type": "application/json", **seeded.staff}
    response = client.post("/v1/products", content=chunks, headers=headers)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


def test_unhandled_error_is_a_500_problem_without_trace(api: AppClient) -> None:
    client = api(raise_server_exceptions=False)

    def explode() -> None:
        raise RuntimeError("secret internals at /srv/app.py line 12")

    client.app.add_api_route("/boom", explode)  # type: ignore[attr-defined]
    response = client.get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.text and "Traceback" not in response.text
    assert body["request_id"]


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    given = client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    assert made.headers["x-request-id"] not in ("", "bad id\twith spaces")
    assert len(made.headers["x-request-id"]) == 32


def test_security_headers_on_every_response(client: TestClient) -> None:
    for response in (client.get("/health/live"), client.get("/v1/missing")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]


def test_cors_allows_only_configured_origins(api: AppClient) -> None:
    client = api(cors_origins=["https://shop.example"])
    preflight = {"Access-Control-Request-Method": "GET"}
    allowed = client.options(
        "/v1/products", headers={"Origin": "https://shop.example", **preflight}
    )
    refused = client.options(
        "/v1/products", headers={"Origin": "https://evil.example", **preflight}
    )
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in refused.headers


def _access_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    out = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in out if line.startswith('{"event":"request"')]


def test_one_json_access_line_per_request_without_secrets(
    api: AppClient, seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    client = api(access_log=True)
    token = seeded.staff["Authorization"].split()[1]
    capsys.readouterr()
    client.get("/v1/products/1", headers={**seeded.staff, "X-Request-ID": "log-1"})
    out = capsys.readouterr().out
    assert token not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["route"] == "/v1/products/{product_id}" and line["status"] == 200
    assert line["request_id"] == "log-1" and line["method"] == "GET"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_access_line_names_the_signed_in_user(
    api: AppClient, seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    client = api(access_log=True)
    client.get("/v1/reports/sales?from=2025-01-01&to=2025-01-02", headers=seeded.staff)
    assert _access_lines(capsys)[-1]["user_id"] == 2


def test_access_log_is_off_when_configured(
    api: AppClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client = api(access_log=False)
    capsys.readouterr()
    client.get("/health/live")
    assert _access_lines(capsys) == []


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_interactive_docs_load_their_assets_from_the_service_not_a_cdn(
    client: TestClient, page: str
) -> None:
    html = client.get(page)
    assert html.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert sources and all(src.startswith("/") for src in sources), sources
    assert all(client.get(src).status_code == 200 for src in sources)
