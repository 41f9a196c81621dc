"""Cache-Control per route: public catalog reads are shareable, personal data is never stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import AppClient
from tests.service.known_shop.conftest import bearer

PUBLIC = "public, max-age=5, stale-while-revalidate=30"
PERSONAL = "private, no-store"


@pytest.mark.parametrize(
    "path", ["/v1/products", "/v1/products/1", "/v1/categories", "/v1/products/1/reviews"]
)
def test_public_catalog_reads_may_be_shared_and_served_stale(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == PUBLIC


def test_a_304_keeps_the_public_policy(client: TestClient) -> None:
    etag = client.get("/v1/products/1").headers["etag"]
    response = client.get("/v1/products/1", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["cache-control"] == PUBLIC


def test_the_public_policy_comes_from_settings(api: AppClient) -> None:
    client = api(catalog_max_age_seconds=60, catalog_stale_while_revalidate_seconds=0)
    expected = "public, max-age=60, stale-while-revalidate=0"
    assert client.get("/v1/categories").headers["cache-control"] == expected


@pytest.mark.parametrize("path", ["/v1/users/me", "/v1/orders", "/v2/orders", "/v1/api-keys"])
def test_personal_reads_are_private_and_never_stored(client: TestClient, path: str) -> None:
    response = client.get(path, headers=bearer(client, "alice@shop.test"))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == PERSONAL


def test_catalog_writes_and_errors_are_not_marked_public(client: TestClient) -> None:
    assert "cache-control" not in client.get("/v1/products/999999").headers
    staff = bearer(client, "staff@shop.test")
    created = client.post("/v1/categories", json={"name": "Cc", "slug": "cc"}, headers=staff)
    assert created.status_code == 201, created.text
    assert "public" not in created.headers.get("cache-control", "")


def test_health_and_metrics_carry_no_catalog_policy(client: TestClient) -> None:
    assert "cache-control" not in client.get("/health/live").headers
