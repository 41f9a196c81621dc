"""The OpenAPI document is one a contract reviewer accepts, and the app keeps to it.

Schemathesis generates requests for every operation from the app's own OpenAPI and
checks each answer: never a 5xx, always a documented status, body and content type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup

from sample_service.main import create_app
from sample_service.text import TEXT_PATTERN
from tests.service.conftest import ADMIN_ID, ALICE_ID, Seeded

checks.load_all_checks()
ALL_CHECKS = checks.CHECKS.get_all()
ERROR_STATUSES = {"401", "403", "404", "409", "422", "429"}


@pytest.fixture(scope="module")
def openapi(seeded: Seeded) -> dict[str, Any]:
    document: dict[str, Any] = create_app(seeded.settings()).openapi()
    return document


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_every_operation_has_a_unique_id_and_a_summary(openapi: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(openapi)]
    assert len(ids) == len(set(ids))
    assert all(op.get("summary") for _, _, op in _operations(openapi))


def test_bearer_security_scheme_is_declared_on_protected_operations(
    openapi: dict[str, Any],
) -> None:
    schemes = openapi["components"]["securitySchemes"]
    assert any(s["type"] == "oauth2" for s in schemes.values())
    secured = {op["operationId"] for _, _, op in _operations(openapi) if op.get("security")}
    assert {"create_product", "update_product", "delete_product", "sales_report"} <= secured


def test_every_error_response_uses_the_problem_schema(openapi: dict[str, Any]) -> None:
    for method, path, operation in _operations(openapi):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                content = response["content"]
                assert "application/problem+json" in content, (method, path, status)
                schema = content["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path)


def test_protected_operations_document_auth_errors(openapi: dict[str, Any]) -> None:
    for method, path, operation in _operations(openapi):
        documented = set(operation["responses"])
        assert "429" in documented or path.startswith("/health"), (method, path)
        if operation.get("security"):
            assert {"401", "403"} & documented, (method, path)
        if "requestBody" in operation or operation.get("parameters"):
            assert "422" in documented, (method, path)


def test_headers_the_service_insists_on_are_documented_as_required(
    openapi: dict[str, Any],
) -> None:
    required = {
        (op["operationId"], p["name"].lower())
        for _, _, op in _operations(openapi)
        for p in op.get("parameters", [])
        if p["in"] == "header" and p.get("required")
    }
    assert {("place_order", "idempotency-key"), ("update_product", "if-match")} <= required


def test_every_status_the_edge_can_answer_is_documented(openapi: dict[str, Any]) -> None:
    for method, path, operation in _operations(openapi):
        documented = set(operation["responses"])
        if path != "/health/live":
            assert "503" in documented, (method, path)
            assert "Retry-After" in operation["responses"]["503"]["headers"], (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= documented, (method, path)


def test_nothing_refused_is_advertised(openapi: dict[str, Any]) -> None:
    names = {p["name"] for _, _, op in _operations(openapi) for p in op.get("parameters", [])}
    assert "offset" not in names  # refused unless a lesson switch is on


def _numbers(node: Any) -> Iterator[float]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("maximum", "minimum") and isinstance(value, (int, float)):
                yield value
            yield from _numbers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _numbers(value)


def test_numeric_bounds_are_exact_as_json_numbers(openapi: dict[str, Any]) -> None:
    """A bound above 2**53 is rounded by every client that reads JSON numbers as doubles."""
    bounds = list(_numbers(openapi))
    assert bounds and all(float(bound) == bound and abs(bound) <= 2**53 for bound in bounds)


def test_free_text_inputs_say_control_characters_are_refused(openapi: dict[str, Any]) -> None:
    full_name = openapi["components"]["schemas"]["UserCreate"]["properties"]["full_name"]
    assert full_name["pattern"] == TEXT_PATTERN


def test_request_bodies_carry_examples(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for name in ("ProductCreate", "ProductUpdate", "ProductRead", "CategoryCreate", "Problem"):
        assert schemas[name].get("examples"), name


# Statuses a schema-valid request may still get, each for a reason no schema can state: a
# forged cursor or a cross-parameter rule (400), a stale If-Match (412). Everything else a
# valid request gets must be a success, an auth answer, 404, 409 or 429.
FUZZ_CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", 400, 401, 403, 404, 409, 412, 429]
            },
            "missing_required_header": {"expected-statuses": [400, 401, 403, 422, 428]},
        }
    }
)
CASES_PER_OPERATION = 12  # per role and generation mode: >1,000 cases per database
ROLES = {"admin": ADMIN_ID, "customer": ALICE_ID}


def _fuzz(operation: Any, headers: dict[str, str], mode: GenerationMode) -> tuple[int, list[str]]:
    """Run generated cases against one operation; how many ran, and the failures as text."""
    failures: list[str] = []
    ran = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=CASES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        nonlocal ran
        ran += 1
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=ALL_CHECKS)
        except (AssertionError, FailureGroup) as exc:
            if not failures:  # the first failure per operation is enough to act on
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:600]}")

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid: an operation without inputs
        assert mode is GenerationMode.NEGATIVE, operation.label
    return ran, failures


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_keeps_its_contract(seeded: Seeded, role: str) -> None:
    """Fuzz every operation from the app's own OpenAPI (in-process), valid and invalid data,
    with every Schemathesis check: no 5xx, no undocumented status, header or body."""
    app = create_app(seeded.settings())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=FUZZ_CONFIG)
    headers = seeded.token(ROLES[role], role)
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        # A stream answers for as long as its order lives: tests/service/known_shop/test_streams.
        if result.ok().path != "/v1/orders/{order_id}/events"
    ]
    assert len(operations) >= 20
    cases, failures = 0, []
    for operation in operations:
        for mode in GenerationMode:
            ran, found = _fuzz(operation, headers, mode)
            cases, failures = cases + ran, failures + found
    assert failures == [], "\n\n".join(failures)
    assert cases >= 500, cases  # two roles on each database: over 2,000 in all
