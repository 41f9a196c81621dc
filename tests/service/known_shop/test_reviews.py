"""Reviews: one per user and product, public reads, author-or-staff deletes."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from tests.service.known_shop.conftest import Shop, bearer


def _review(client: TestClient, product: int, email: str, rating: int = 4) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/v1/products/{product}/reviews",
        json={"rating": rating, "body": "Fine."},
        headers=bearer(client, email),
    )
    return response


def test_review_is_created_with_location(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=1)
    response = _review(client, product, "alice@shop.test")
    assert response.status_code == 201
    review = response.json()
    assert response.headers["location"] == f"/v1/reviews/{review['id']}"
    assert client.get(f"/v1/reviews/{review['id']}").json() == review


def test_second_review_of_a_product_by_one_user_is_409(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=1)
    assert _review(client, product, "alice@shop.test").status_code == 201
    assert _review(client, product, "alice@shop.test").status_code == 409
    assert _review(client, product, "bob@shop.test").status_code == 201


def test_review_of_a_missing_product_is_404(client: TestClient) -> None:
    assert _review(client, 999_999, "alice@shop.test").status_code == 404


def test_rating_outside_one_to_five_is_422(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=1)
    assert _review(client, product, "alice@shop.test", rating=6).status_code == 422


def test_reviews_need_a_signed_in_user(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=1)
    assert client.post(f"/v1/products/{product}/reviews", json={"rating": 3}).status_code == 401


def test_reviews_list_newest_first_across_pages(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=1)
    ids = [
        _review(client, product, email).json()["id"]
        for email in ("alice@shop.test", "bob@shop.test", "staff@shop.test")
    ]
    first = client.get(f"/v1/products/{product}/reviews?limit=2").json()
    second = client.get(first["next"]).json()
    assert [r["id"] for r in first["items"] + second["items"]] == sorted(ids, reverse=True)
    assert second["next"] is None


def test_only_the_author_or_staff_delete_a_review(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=1)
    mine = _review(client, product, "alice@shop.test").json()["id"]
    theirs = _review(client, product, "bob@shop.test").json()["id"]
    alice = bearer(client, "alice@shop.test")
    assert client.delete(f"/v1/reviews/{theirs}", headers=alice).status_code == 404
    assert client.delete(f"/v1/reviews/{mine}", headers=alice).status_code == 204
    assert client.get(f"/v1/reviews/{mine}").status_code == 404
    staff = bearer(client, "staff@shop.test")
    assert client.delete(f"/v1/reviews/{theirs}", headers=staff).status_code == 204
