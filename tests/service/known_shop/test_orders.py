"""Orders: idempotent placement, stock, cancellation, ownership, pagination, lesson switches."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sample_service.models import IdempotencyKey
from tests.service.conftest import AppClient
from tests.service.known_shop.conftest import Shop, bearer


def _order(
    client: TestClient,
    headers: dict[str, str],
    items: list[dict[str, int]],
    key: str | None = None,
) -> Any:
    return client.post(
        "/v1/orders",
        json={"items": items},
        headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


def _orders_with_key(shop: Shop, key: str) -> int:
    with shop.db.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(IdempotencyKey.key == key)) or 0)


def test_order_without_idempotency_key_is_428(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=5)
    response = client.post(
        "/v1/orders",
        json={"items": [{"product_id": product, "quantity": 1}]},
        headers=bearer(client, "alice@shop.test"),
    )
    assert response.status_code == 428
    assert response.headers["content-type"] == "application/problem+json"
    assert shop.stock(product) == 5


def test_order_takes_stock_and_prices_from_the_catalog(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=5, price_cents=250)
    response = _order(
        client, bearer(client, "alice@shop.test"), [{"product_id": product, "quantity": 2}]
    )
    assert response.status_code == 201
    order = response.json()
    assert response.headers["location"] == f"/v1/orders/{order['id']}"
    assert order["total_cents"] == 500 and order["status"] == "placed"
    assert order["items"] == [{"product_id": product, "quantity": 2, "unit_price_cents": 250}]
    assert shop.stock(product) == 3


def test_same_key_and_body_replays_the_first_response(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=5)
    headers = bearer(client, "alice@shop.test")
    key = str(uuid.uuid4())
    items = [{"product_id": product, "quantity": 1}]
    first = _order(client, headers, items, key)
    again = _order(client, headers, items, key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert first.headers["idempotent-replayed"] == "false"
    assert shop.stock(product) == 4
    assert _orders_with_key(shop, key) == 1


def test_same_key_with_another_body_is_422(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=5)
    headers = bearer(client, "alice@shop.test")
    key = str(uuid.uuid4())
    assert _order(client, headers, [{"product_id": product, "quantity": 1}], key).status_code == 201
    response = _order(client, headers, [{"product_id": product, "quantity": 2}], key)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/unprocessable")
    assert shop.stock(product) == 4


def test_one_key_is_per_user(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=5)
    key = str(uuid.uuid4())
    items = [{"product_id": product, "quantity": 1}]
    alice = _order(client, bearer(client, "alice@shop.test"), items, key)
    bob = _order(client, bearer(client, "bob@shop.test"), items, key)
    assert alice.json()["id"] != bob.json()["id"]
    assert shop.stock(product) == 3


def test_ordering_more_than_the_stock_is_409_and_takes_nothing(
    client: TestClient, shop: Shop
) -> None:
    plenty, scarce = shop.add_product(stock=10), shop.add_product(stock=1)
    items = [{"product_id": plenty, "quantity": 1}, {"product_id": scarce, "quantity": 2}]
    response = _order(client, bearer(client, "alice@shop.test"), items)
    assert response.status_code == 409
    assert response.json()["type"].endswith("/out-of-stock")
    assert (shop.stock(plenty), shop.stock(scarce)) == (10, 1)


def test_failed_order_does_not_burn_its_key(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=1)
    headers = bearer(client, "alice@shop.test")
    key = str(uuid.uuid4())
    assert _order(client, headers, [{"product_id": product, "quantity": 2}], key).status_code == 409
    assert _orders_with_key(shop, key) == 0


def test_unknown_product_is_409(client: TestClient) -> None:
    """A well-formed order that the current catalogue cannot fill: a conflict with its state."""
    items = [{"product_id": 999_999, "quantity": 1}]
    assert _order(client, bearer(client, "alice@shop.test"), items).status_code == 409


def test_duplicate_product_lines_are_400(client: TestClient, shop: Shop) -> None:
    """A rule across items that no JSON Schema states: 400, as for a forged cursor."""
    product = shop.add_product(stock=5)
    items = [{"product_id": product, "quantity": 1}, {"product_id": product, "quantity": 1}]
    response = _order(client, bearer(client, "alice@shop.test"), items)
    assert response.status_code == 400
    assert "once" in response.json()["detail"]


def test_cancel_restores_stock_once(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=5)
    headers = bearer(client, "alice@shop.test")
    order = _order(client, headers, [{"product_id": product, "quantity": 3}]).json()
    assert shop.stock(product) == 2
    cancelled = client.post(f"/v1/orders/{order['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert shop.stock(product) == 5
    again = client.post(f"/v1/orders/{order['id']}/cancel", headers=headers)
    assert again.status_code == 409
    assert shop.stock(product) == 5


def _alices_order(client: TestClient, shop: Shop) -> tuple[dict[str, Any], str]:
    """An order Alice placed, and its path."""
    product = shop.add_product(stock=5)
    order = _order(
        client, bearer(client, "alice@shop.test"), [{"product_id": product, "quantity": 1}]
    ).json()
    return order, f"/v1/orders/{order['id']}"


def test_another_users_order_is_404_but_staff_see_it(client: TestClient, shop: Shop) -> None:
    order, path = _alices_order(client, shop)
    bob = bearer(client, "bob@shop.test")
    assert client.get(path, headers=bob).status_code == 404
    assert client.post(f"{path}/cancel", headers=bob).status_code == 404
    assert client.get(path, headers=bearer(client, "staff@shop.test")).status_code == 200
    assert client.get(path, headers=bearer(client, "alice@shop.test")).json() == order


def test_orders_need_a_signed_in_user(client: TestClient) -> None:
    assert client.get("/v1/orders").status_code == 401
    assert client.post("/v1/orders", json={"items": []}).status_code == 401


def _new_user(client: TestClient) -> dict[str, str]:
    email = f"{uuid.uuid4().hex[:10]}@shop.test"
    body = {"email": email, "password": "long enough", "full_name": "New"}
    assert client.post("/v1/users", json=body).status_code == 201
    token = client.post("/v1/auth/token", data={"username": email, "password": "long enough"})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_order_list_pages_by_cursor_newest_first(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=50)
    headers = _new_user(client)
    placed = [
        _order(client, headers, [{"product_id": product, "quantity": 1}]).json()["id"]
        for _ in range(5)
    ]
    seen: list[int] = []
    url: str | None = "/v1/orders?limit=2"
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        page = response.json()
        seen += [order["id"] for order in page["items"]]
        if page["next"]:
            assert response.headers["link"].startswith(f'<{page["next"]}>; rel="next", ')
        url = page["next"]
    assert seen == sorted(placed, reverse=True)


def test_bad_order_cursor_is_a_400_problem(client: TestClient) -> None:
    response = client.get("/v1/orders?cursor=garbage", headers=bearer(client, "bob@shop.test"))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_order_limit_out_of_range_is_422(client: TestClient) -> None:
    headers = bearer(client, "bob@shop.test")
    assert client.get("/v1/orders?limit=0", headers=headers).status_code == 422
    assert client.get("/v1/orders?limit=101", headers=headers).status_code == 422


def _list_queries(client: TestClient, headers: dict[str, str]) -> int:
    response = client.get("/v1/orders?limit=20", headers=headers)
    assert response.status_code == 200
    return int(response.headers["x-db-queries"])


def test_n_plus_one_switch_adds_one_query_per_order(api: AppClient, shop: Shop) -> None:
    client = api()
    product = shop.add_product(stock=50)
    headers = _new_user(client)
    for _ in range(3):
        _order(client, headers, [{"product_id": product, "quantity": 1}])
    eager_three = _list_queries(client, headers)
    for _ in range(3):
        _order(client, headers, [{"product_id": product, "quantity": 1}])
    eager_six = _list_queries(client, headers)
    lazy_six = _list_queries(api(n_plus_one=True), headers)
    assert eager_six == eager_three  # eager loading: constant in the number of orders
    assert lazy_six == eager_six - 1 + 6  # lazy: the items query becomes one per order


def test_bola_switch_opens_other_users_orders_only_while_on(api: AppClient, shop: Shop) -> None:
    client = api()
    order, path = _alices_order(client, shop)
    bob = bearer(client, "bob@shop.test")
    admin = bearer(client, "admin@shop.test")
    assert client.get(path, headers=bob).status_code == 404
    assert client.patch("/lab/switches", json={"bola": True}, headers=admin).status_code == 200
    assert client.get(path, headers=bob).json()["user_id"] == order["user_id"]
    client.patch("/lab/switches", json={"bola": False}, headers=admin)
    assert client.get(path, headers=bob).status_code == 404


def test_retries_with_one_key_leave_one_order(client: TestClient, shop: Shop) -> None:
    product = shop.add_product(stock=5)
    headers = _new_user(client)
    key = str(uuid.uuid4())
    for _ in range(3):
        _order(client, headers, [{"product_id": product, "quantity": 1}], key)
    assert len(client.get("/v1/orders", headers=headers).json()["items"]) == 1
    assert shop.stock(product) == 4
