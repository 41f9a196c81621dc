"""Contract tests run Schemathesis bounded in time and report failures per operation."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit import contract
from labkit._process import free_port
from labkit.contract._testing import _curl, _read
from labkit.errors import LabkitError
from labkit.service import LiveService

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def service() -> Iterator[LiveService]:
    with LiveService(db="sqlite", scale=20) as svc:
        yield svc


@pytest.fixture(scope="module")
def served(service: LiveService) -> dict[str, Any]:
    return contract.load(service).doc


def test_service_honours_its_own_health_contract(service: LiveService) -> None:
    report = contract.test(service, include="^/health/live$", max_examples=2, timeout=90)
    assert report.complete
    assert [r.operation for r in report.operations] == ["GET /health/live"]
    assert report.operation("GET /health/live").cases >= 1
    assert report.ok, report.to_frame()


def test_undocumented_status_is_reported_with_a_reproduction(
    service: LiveService, served: dict[str, Any]
) -> None:
    responses = served["paths"]["/health/live"]["get"]["responses"]
    responses["204"] = {"description": "Alive"}
    del responses["200"]
    report = contract.test(service, served, include="^/health/live$", max_examples=2, timeout=90)
    result = report.operation("GET /health/live")
    assert not report.ok
    assert "status_code_conformance" in result.failures
    failure = result.examples["status_code_conformance"]
    assert failure.status == 200
    assert failure.curl.startswith("curl -X GET") and failure.curl.endswith("/health/live")
    assert report.to_frame().loc[0, "checks failed"] == "status_code_conformance"


def test_run_stops_at_its_time_limit_without_hanging(service: LiveService) -> None:
    report = contract.test(service, timeout=0.2)
    assert not report.complete
    assert not report.ok


def test_target_without_a_url_is_refused() -> None:
    with pytest.raises(LabkitError, match="running service"):
        contract.test(object())


def test_curl_replays_headers_and_a_base64_body() -> None:
    body = base64.b64encode(b'{"a": 1}').decode()
    request = {
        "method": "POST",
        "uri": "http://127.0.0.1:1/v1/things",
        "headers": {"Content-Type": ["application/json"]},
        "body": {"$base64": body},
    }
    assert _curl(request) == (
        "curl -X POST -H 'Content-Type: application/json' --data-binary '{\"a\": 1}' "
        "http://127.0.0.1:1/v1/things"
    )


def test_events_fold_into_results_and_survive_a_cut_last_line(tmp_path: Path) -> None:
    failure = {"code": "ST101", "title": "Server error", "message": "", "severity": "critical"}
    scenario = {
        "recorder": {
            "label": "GET /v1/things",
            "cases": {"a": {}, "b": {}},
            "checks": {
                "a": [{"name": "not_a_server_error", "status": "success"}],
                "b": [
                    {
                        "name": "not_a_server_error",
                        "status": "failure",
                        "failure_info": {"failure": failure},
                    },
                    {
                        "name": "not_a_server_error",
                        "status": "failure",
                        "failure_info": {"failure": failure},
                    },
                ],
            },
            "interactions": {
                "b": {
                    "request": {"method": "GET", "uri": "http://x/v1/things", "headers": {}},
                    "response": {"status_code": 500},
                }
            },
        }
    }
    path = tmp_path / "events.ndjson"
    path.write_text(json.dumps({"ScenarioFinished": scenario}) + "\n" + '{"EngineFini')
    [result], errors, finished = _read(path)
    assert (result.cases, result.failures, finished, errors) == (
        2,
        {"not_a_server_error": 1},
        False,
        [],
    )
    assert result.examples["not_a_server_error"].status == 500


def test_engine_errors_are_kept_and_make_the_run_not_ok(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    lines = [
        {"NonFatalError": {"label": "GET /v1/things", "value": "schema error"}},
        {"EngineFinished": {}},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    results, errors, finished = _read(path)
    assert (results, errors, finished) == ([], ["GET /v1/things: schema error"], True)
    report = contract.ContractTestReport(results, complete=True, seed=0, command=[], errors=errors)
    assert not report.ok


def test_unreachable_service_is_one_clear_error() -> None:
    port = free_port()
    with pytest.raises(LabkitError, match="before testing anything") as caught:
        contract.test(f"http://127.0.0.1:{port}", timeout=60)
    assert f"127.0.0.1:{port}/openapi.json" in str(caught.value)
