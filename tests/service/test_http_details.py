"""HTTP details: personal answers are never cached, HEAD wherever GET, exact media types."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import Seeded, assert_problem


def _tokens(header: str) -> set[str]:
    """The names a list header holds, however many header lines they came in."""
    return {token.strip() for token in header.split(",")}


@pytest.mark.parametrize("path", ["/v1/users/me", "/v1/orders", "/v1/users/3"])
def test_personal_answers_are_private_and_vary_by_authorization(
    client: TestClient, seeded: Seeded, path: str
) -> None:
    response = client.get(path, headers=seeded.staff)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    assert "Authorization" in _tokens(response.headers["vary"])


def test_a_public_product_read_keeps_its_shared_cache_rules(client: TestClient) -> None:
    response = client.get("/v1/products/1")
    assert response.headers["cache-control"].startswith("public, max-age=")
    assert "Authorization" not in response.headers.get("vary", "")


@pytest.mark.parametrize(
    "path", ["/v1/products/1", "/v1/products?limit=2", "/health/live", "/docs"]
)
def test_head_answers_wherever_get_does_with_its_headers_and_no_body(
    client: TestClient, path: str
) -> None:
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers.get("etag") == get.headers.get("etag")


def test_405_names_every_method_of_the_path_head_included(client: TestClient) -> None:
    response = client.post("/docs")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, HEAD"
    assert client.put("/v1/products/1").headers["allow"] == "DELETE, GET, HEAD, PATCH"


@pytest.mark.parametrize(
    "media_type", ["application/json-patch+json", "application/merge-patch+json", "text/json"]
)
def test_only_plain_json_is_taken_as_json(
    client: TestClient, seeded: Seeded, media_type: str
) -> None:
    response = client.post(
        "/v1/categories",
        content=b'{"name": "Kettles", "slug": "kettles-2"}',
        headers={"content-type": media_type, **seeded.staff},
    )
    assert_problem(response, 415)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Kettles", "slug": True},
        {"name": 7, "slug": "kettles"},
        {"name": "Kettles", "slug": "kettles", "description": False},
    ],
)
def test_json_values_are_not_coerced_between_types(
    client: TestClient, seeded: Seeded, body: dict[str, object]
) -> None:
    assert_problem(client.post("/v1/categories", json=body, headers=seeded.staff), 422)


@pytest.mark.parametrize("price", [True, "2290", "2290.0"])
def test_a_number_field_takes_numbers_only(
    client: TestClient, seeded: Seeded, price: object
) -> None:
    response = client.patch(
        "/v1/products/1", json={"price_cents": price}, headers={"If-Match": "*", **seeded.staff}
    )
    assert_problem(response, 422)


def test_an_integral_float_is_an_integer_as_json_schema_says(
    client: TestClient, seeded: Seeded
) -> None:
    response = client.patch(
        "/v1/products/2", json={"stock": 7.0}, headers={"If-Match": "*", **seeded.staff}
    )
    assert response.status_code == 200 and response.json()["stock"] == 7
