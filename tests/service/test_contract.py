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
from schemathesis import checks
from schemathesis.core.failures import FailureGroup

from sample_service.main import create_app
from tests.service.conftest import ADMIN_ID, Seeded

CONTRACT_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
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


def test_request_bodies_carry_examples(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for name in ("ProductCreate", "ProductUpdate", "ProductRead", "CategoryCreate", "Problem"):
        assert schemas[name].get("examples"), name


def _fuzz(operation: Any, headers: dict[str, str]) -> list[str]:
    """Run generated cases against one operation; the failures, as text."""
    failures: list[str] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CONTRACT_CHECKS)
        except (AssertionError, FailureGroup) as exc:
            if not failures:  # the first failure per operation is enough to act on
                failures.append(f"{operation.label}: {str(exc)[:600]}")

    run()
    return failures


def test_every_operation_keeps_its_contract(seeded: Seeded) -> None:
    """Fuzz each operation from the app's own OpenAPI (in-process) as an admin."""
    if seeded.db.kind != "sqlite":
        pytest.skip("the contract is the same on every database; it is fuzzed on SQLite")
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(seeded.settings()))
    headers = seeded.token(ADMIN_ID, "admin")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures = [f for operation in operations for f in _fuzz(operation, headers)]
    assert failures == [], "\n\n".join(failures)
