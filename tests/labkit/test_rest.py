"""lk.rest: exchanges as rows, walks that count duplicates and skips, a client that follows links."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from labkit import rest
from labkit.databases import Database, seed
from labkit.errors import LabkitError
from tests.conftest import any_database

__all__ = ["any_database"]

ROWS = list(range(1, 24))


def _pages(request: httpx.Request, rows: list[int]) -> httpx.Response:
    """An offset-paged collection of ``rows``, 5 a page, linking ``next`` like the shop."""
    offset = int(request.url.params.get("offset", 0))
    items = [{"id": i, "price": i // 3} for i in rows[offset : offset + 5]]
    more = offset + 5 < len(rows)
    next_url = str(request.url.copy_set_param("offset", offset + 5)) if more else None
    return httpx.Response(200, json={"items": items, "next": next_url})


def _client(handler: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://shop.test")


def test_walk_follows_next_to_the_last_page() -> None:
    with _client(lambda request: _pages(request, ROWS)) as client:
        walk = rest.walk(client, "/items", {"offset": 0})
    assert walk.ids == ROWS and walk.duplicates == 0 and walk.missed(ROWS) == 0
    assert walk.frame()["depth"].tolist() == [0, 5, 10, 15, 20]
    assert walk.frame()["items"].tolist() == [5, 5, 5, 5, 3]


def test_walk_counts_duplicates_and_skips_when_rows_shift() -> None:
    rows = list(ROWS)

    def shift(walk: rest.Walk) -> None:
        if len(walk.pages) == 1:
            rows.insert(0, 100)  # a new row before the position: the next page repeats one
        elif len(walk.pages) == 3:
            rows.remove(1)
            rows.remove(2)  # two served rows gone: the next page skips two

    with _client(lambda request: _pages(request, rows)) as client:
        walk = rest.walk(client, "/items", {"offset": 0}, between=shift)
    assert walk.duplicates == 1
    assert walk.missed(set(ROWS) - {1, 2}) == 2  # 15 and 16 slid under the fourth page


def test_boundary_ties_count_equal_keys_across_pages() -> None:
    with _client(lambda request: _pages(request, ROWS)) as client:
        walk = rest.walk(client, "/items", {"offset": 0})
    # price = id // 3: pages end at ids 5|6 (1|2), 10|11 (3|3), 15|16 (5|5), 20|21 (6|7)
    assert walk.boundary_ties("price") == 2


def test_walk_refuses_an_error_page_and_endless_walks() -> None:
    broken = _client(lambda request: httpx.Response(500, text="boom"))
    with broken as client, pytest.raises(LabkitError, match="answered 500"):
        rest.walk(client, "/items")
    loop = {"items": [{"id": 1}], "next": "http://shop.test/items"}
    endless = _client(lambda request: httpx.Response(200, json=loop))
    with endless as client, pytest.raises(LabkitError, match="max_pages"):
        rest.walk(client, "/items", max_pages=3)


def test_exchange_reads_a_problem_document() -> None:
    problem = {"type": "https://shop.test/problems/not-found", "detail": "gone", "request_id": "r1"}
    response = httpx.Response(
        404,
        content=json.dumps(problem),
        headers={"content-type": "application/problem+json", "x-request-id": "r1"},
        request=httpx.Request("GET", "http://shop.test/v1/products/9?x=1"),
    )
    row = rest.exchange(response, "no such product")
    assert (row["status"], row["request"], row["why"]) == (
        404,
        "GET /v1/products/9?x=1",
        "no such product",
    )
    assert (row["problem_type"], row["request_id"], row["x_request_id"]) == (
        problem["type"],
        "r1",
        "r1",
    )


def test_link_client_follows_method_and_href_only() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json={"status": "cancelled", "links": {}})

    order = {"links": {"cancel": {"href": "/anywhere/7/undo", "method": "POST"}}}
    with _client(handler) as client:
        links = rest.LinkClient(client)
        assert links.can(order, "cancel")
        cancelled = links.follow(order, "cancel")
        assert not links.can(cancelled, "cancel")
        with pytest.raises(LabkitError, match="no 'cancel' link"):
            links.follow(cancelled, "cancel")
    assert seen == ["POST /anywhere/7/undo"]
    assert links.visited == ["POST /anywhere/7/undo → 200"]


def test_link_client_raises_on_an_error_answer() -> None:
    order = {"links": {"self": {"href": "/v1/orders/1", "method": "GET"}}}
    missing = _client(lambda request: httpx.Response(404, text="nope"))
    with missing as client, pytest.raises(LabkitError, match="answered 404"):
        rest.LinkClient(client).follow(order, "self")


def test_grow_catalog_adds_products_with_repeated_prices(any_database: Database) -> None:
    if any_database.kind == "duckdb":
        pytest.skip("the shop is not seeded on DuckDB here")
    seed(any_database, scale=20)
    before = rest.grow_catalog(any_database, products=0)
    after = rest.grow_catalog(any_database, products=300)
    assert after == before + 300
