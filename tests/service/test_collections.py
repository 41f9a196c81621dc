"""Product collections: cursor pagination, filters, sorting with a tie-breaker, bad cursors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sample_service.models import Product
from sample_service.pagination import Cursor
from tests.service.conftest import AppClient, Seeded, assert_problem


def _walk(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    """Follow `next` links from the first page to the last."""
    items: list[dict[str, Any]] = []
    response = client.get("/v1/products", params=params)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["next"] is None:
            assert "link" not in response.headers
            return items
        assert response.headers["link"] == f'<{page["next"]}>; rel="next"'
        response = client.get(page["next"])


def _live_products(seeded: Seeded) -> list[Product]:
    with seeded.db.engine.connect() as conn:
        return list(conn.execute(select(Product).where(Product.deleted_at.is_(None))))


@pytest.mark.parametrize("sort", ["id", "-id", "price_cents", "-price_cents", "name", "-name"])
def test_cursor_walk_serves_every_product_once_in_order(
    client: TestClient, seeded: Seeded, sort: str
) -> None:
    items = _walk(client, sort=sort, limit=7)
    live = _live_products(seeded)
    assert sorted(item["id"] for item in items) == sorted(p.id for p in live)
    key = sort.lstrip("-")
    descending = sort.startswith("-")
    expected = sorted(items, key=lambda i: (i[key], i["id"]), reverse=descending)
    assert items == expected


def test_equal_prices_are_ordered_by_id(client: TestClient, seeded: Seeded) -> None:
    for _ in range(3):
        client.post(
            "/v1/products",
            json={"category_id": 2, "sku": f"TIE-{_}", "name": "Tie", "price_cents": 77},
            headers=seeded.staff,
        )
    ids = [i["id"] for i in _walk(client, sort="price_cents", limit=2, max_price_cents=77)
           if i["price_cents"] == 77]  # fmt: skip
    assert len(ids) >= 3 and ids == sorted(ids)


def test_filters_narrow_the_collection(client: TestClient, seeded: Seeded) -> None:
    live = _live_products(seeded)
    by_category = _walk(client, category_id=3, limit=100)
    assert {i["id"] for i in by_category} == {p.id for p in live if p.category_id == 3}
    priced = _walk(client, min_price_cents=1000, max_price_cents=3000, limit=100)
    assert {i["id"] for i in priced} == {p.id for p in live if 1000 <= p.price_cents <= 3000}
    searched = _walk(client, q="kettle", limit=100)
    assert {i["id"] for i in searched} == {p.id for p in live if "kettle" in p.name.lower()}


def test_search_text_is_data_not_sql(client: TestClient) -> None:
    response = client.get("/v1/products", params={"q": "zzz' OR '1'='1"})
    assert response.status_code == 200 and response.json()["items"] == []
    assert client.get("/v1/products", params={"q": "100%"}).json()["items"] == []


def test_injectable_search_switch_leaks_every_row(api: AppClient, seeded: Seeded) -> None:
    """The lesson switch pastes the search into SQL: a quote turns it into `OR 1=1`."""
    exploit = {"q": "zzz' OR 1=1 OR products.name LIKE 'zzz", "limit": 100}
    assert api().get("/v1/products", params=exploit).json()["items"] == []
    leaked = api(lab_mode=True, injectable_search=True).get("/v1/products", params=exploit)
    with seeded.db.engine.connect() as conn:
        every_row = conn.scalar(select(func.count()).select_from(Product)) or 0
    assert leaked.status_code == 200
    assert len(leaked.json()["items"]) == min(100, every_row)


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_limit_outside_1_to_100_is_422(client: TestClient, limit: int) -> None:
    assert_problem(client.get("/v1/products", params={"limit": limit}), 422)


@pytest.mark.parametrize("cursor", ["garbage", "W10", "!!!", "eyJhIjoxfQ"])
def test_bad_cursor_is_400_not_500(client: TestClient, cursor: str) -> None:
    assert_problem(client.get("/v1/products", params={"cursor": cursor}), 400)


def test_cursor_from_another_sort_is_400(client: TestClient) -> None:
    page = client.get("/v1/products", params={"sort": "price_cents", "limit": 2}).json()
    response = client.get("/v1/products", params={"sort": "name", "cursor": page["next_cursor"]})
    assert_problem(response, 400)


def test_offset_is_refused_unless_the_switch_is_on(api: AppClient) -> None:
    assert_problem(api().get("/v1/products", params={"offset": 10}), 400)
    client = api(lab_mode=True, offset_pagination=True)
    first = client.get("/v1/products", params={"offset": 0, "limit": 5}).json()
    assert "offset=5" in first["next"]
    second = client.get(first["next"]).json()
    by_cursor = _walk(client, limit=10)[:10]
    assert [i["id"] for i in first["items"] + second["items"]] == [i["id"] for i in by_cursor]


@pytest.mark.parametrize(
    ("sort", "value"),
    [("price_cents", "cheap"), ("-name", 5), ("id", 1.5), ("-price_cents", 2**40)],
)
def test_a_cursor_whose_value_does_not_fit_the_sort_is_400(
    client: TestClient, sort: str, value: object
) -> None:
    forged = Cursor(sort, value, 3).encode()

    assert_problem(client.get("/v1/products", params={"sort": sort, "cursor": forged}), 400)


def test_a_filtered_page_after_a_cursor_is_one_precompiled_query(client: TestClient) -> None:
    heard: list[str] = []
    client.app.state.db.read_listeners.append(heard.append)  # type: ignore[attr-defined]
    params = {"sort": "-price_cents", "limit": 3, "min_price_cents": 100, "q": "a"}
    first = client.get("/v1/products", params=params).json()

    second = client.get("/v1/products", params={**params, "cursor": first["next_cursor"]})

    assert second.status_code == 200 and len(heard) == 2
    assert heard[0] != heard[1] and "LIMIT" in heard[1].upper()
    prices = [item["price_cents"] for item in first["items"] + second.json()["items"]]
    assert prices == sorted(prices, reverse=True)
