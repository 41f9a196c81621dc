"""Products: create/read/update/delete, strong ETags, If-None-Match and If-Match, the cache."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sample_service.errors import PreconditionFailed
from sample_service.services import catalog
from tests.service.conftest import AppClient, Seeded, assert_problem, new_product


def test_create_answers_201_with_location_and_etag(client: TestClient, seeded: Seeded) -> None:
    product = new_product(client, seeded.staff, price_cents=2490)
    response = client.get(f"/v1/products/{product['id']}")
    assert response.json() == product
    created = client.post(
        "/v1/products",
        json={"category_id": 1, "sku": "LOC-1", "name": "Lamp", "price_cents": 1},
        headers=seeded.staff,
    )
    assert created.status_code == 201
    assert created.headers["location"] == f"/v1/products/{created.json()['id']}"
    assert created.headers["etag"] == client.get(created.headers["location"]).headers["etag"]


def test_only_staff_create_products(client: TestClient, seeded: Seeded) -> None:
    body = {"category_id": 1, "sku": "NOPE-1", "name": "x", "price_cents": 1}
    assert_problem(client.post("/v1/products", json=body), 401)
    assert_problem(client.post("/v1/products", json=body, headers=seeded.customer), 403)


def test_duplicate_sku_is_409_and_unknown_category_404(client: TestClient, seeded: Seeded) -> None:
    product = new_product(client, seeded.staff)
    again = {"category_id": 1, "sku": product["sku"], "name": "x", "price_cents": 1}
    assert_problem(client.post("/v1/products", json=again, headers=seeded.staff), 409)
    orphan = {"category_id": 999, "sku": "ORPHAN-1", "name": "x", "price_cents": 1}
    assert_problem(client.post("/v1/products", json=orphan, headers=seeded.staff), 404)


def test_read_of_missing_product_is_404(client: TestClient) -> None:
    assert_problem(client.get("/v1/products/999999"), 404)


def test_if_none_match_with_current_etag_is_304(client: TestClient) -> None:
    first = client.get("/v1/products/1")
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = client.get("/v1/products/1", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    stale = client.get("/v1/products/1", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200


def test_patch_requires_if_match(client: TestClient, seeded: Seeded) -> None:
    product = new_product(client, seeded.staff)
    response = client.patch(
        f"/v1/products/{product['id']}", json={"price_cents": 1}, headers=seeded.staff
    )
    assert_problem(response, 428)


def test_patch_with_current_etag_applies_and_bumps_version(
    client: TestClient, seeded: Seeded
) -> None:
    product = new_product(client, seeded.staff, price_cents=1000)
    url = f"/v1/products/{product['id']}"
    etag = client.get(url).headers["etag"]
    response = client.patch(
        url, json={"price_cents": 900}, headers={"If-Match": etag, **seeded.staff}
    )
    assert response.status_code == 200, response.text
    assert response.json()["price_cents"] == 900
    assert response.json()["version"] == product["version"] + 1
    assert response.headers["etag"] != etag
    assert client.get(url).headers["etag"] == response.headers["etag"]


def test_patch_with_stale_etag_is_412_and_changes_nothing(
    client: TestClient, seeded: Seeded
) -> None:
    product = new_product(client, seeded.staff, price_cents=1000)
    url = f"/v1/products/{product['id']}"
    stale = client.get(url).headers["etag"]
    fresh = client.patch(url, json={"stock": 7}, headers={"If-Match": stale, **seeded.staff})
    assert fresh.status_code == 200
    lost = client.patch(url, json={"price_cents": 1}, headers={"If-Match": stale, **seeded.staff})
    assert_problem(lost, 412)
    assert client.get(url).json()["price_cents"] == 1000


def test_optimistic_update_refuses_a_concurrent_version(seeded: Seeded) -> None:
    """Two writers read version 1: the service lets only the first write land."""
    with Session(seeded.db.engine) as session:
        product = catalog.create_product(
            session=session, category_id=1, sku="RACE-1", name="Race", price_cents=5
        )
        catalog.update_product(
            session=session, product_id=product.id, expected_version=1, changes={"stock": 3}
        )
        with pytest.raises(PreconditionFailed):
            catalog.update_product(
                session=session, product_id=product.id, expected_version=1, changes={"stock": 9}
            )
        assert catalog.get_product(session=session, product_id=product.id).stock == 3


def test_weak_if_match_never_matches(client: TestClient, seeded: Seeded) -> None:
    product = new_product(client, seeded.staff)
    url = f"/v1/products/{product['id']}"
    weak = "W/" + client.get(url).headers["etag"]
    response = client.patch(url, json={"stock": 1}, headers={"If-Match": weak, **seeded.staff})
    assert_problem(response, 412)


def test_delete_is_204_then_the_product_is_gone(client: TestClient, seeded: Seeded) -> None:
    product = new_product(client, seeded.staff)
    url = f"/v1/products/{product['id']}"
    client.get(url)  # warm the cache: the delete must invalidate it
    deleted = client.delete(url, headers=seeded.staff)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_problem(client.get(url), 404)
    assert_problem(client.delete(url, headers=seeded.staff), 404)
    listed = client.get("/v1/products", params={"q": product["name"], "limit": 100}).json()
    assert product["id"] not in [item["id"] for item in listed["items"]]


def test_write_invalidates_the_cached_read(api: AppClient, seeded: Seeded) -> None:
    client = api(lab_mode=True)
    product = new_product(client, seeded.staff, price_cents=100)
    url = f"/v1/products/{product['id']}"
    assert client.get(url).headers["x-cache"] == "MISS"
    cached = client.get(url)
    assert cached.headers["x-cache"] == "HIT"
    client.patch(
        url, json={"price_cents": 200}, headers={"If-Match": cached.headers["etag"], **seeded.staff}
    )
    after = client.get(url)
    assert after.headers["x-cache"] == "MISS" and after.json()["price_cents"] == 200


def test_cache_off_switch_reads_the_database_every_time(api: AppClient) -> None:
    client = api(lab_mode=True, cache_off=True)
    assert {client.get("/v1/products/2").headers["x-cache"] for _ in range(3)} == {"BYPASS"}


def test_categories_list_read_and_create(client: TestClient, seeded: Seeded) -> None:
    categories = client.get("/v1/categories").json()
    assert len(categories) == 12 and categories == sorted(categories, key=lambda c: c["name"])
    assert client.get("/v1/categories/1").json()["id"] == 1
    assert_problem(client.get("/v1/categories/999"), 404)
    body = {"name": "Bikes", "slug": "bikes"}
    assert_problem(client.post("/v1/categories", json=body, headers=seeded.customer), 403)
    created = client.post("/v1/categories", json=body, headers=seeded.staff)
    assert created.status_code == 201
    assert created.headers["location"] == f"/v1/categories/{created.json()['id']}"
    assert_problem(client.post("/v1/categories", json=body, headers=seeded.staff), 409)
