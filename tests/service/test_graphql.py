"""GraphQL at /graphql: reads, mutations, DataLoaders, abuse limits, field authorization, errors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sample_service.graphql import COST_BUDGET, MAX_ALIASES, MAX_BATCH, MAX_DEPTH
from tests.service.conftest import ALICE_ID, AppClient, Seeded, new_product

PLACE = """mutation Place($items: [OrderLine!]!, $key: String!) {
  placeOrder(items: $items, idempotencyKey: $key) { id status totalCents items { quantity } } }"""
CANCEL = "mutation Cancel($id: Int!) { cancelOrder(id: $id) { id status } }"
STOCK = "query Stock($id: Int!) { product(id: $id) { stock } }"
PAGE = """query Page($first: Int!) { products(first: $first) { edges { node {
  name category { name } reviews(first: 3) { edges { node { author { fullName } } } } } } } }"""


def ask(
    client: TestClient, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> dict[str, Any]:
    """POST one query; returns the JSON body (the status is checked to be 200)."""
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


# -- reads --------------------------------------------------------------------------------------


def test_products_connection_pages_by_cursor_without_overlap(client: TestClient) -> None:
    query = """query P($after: String) { products(first: 4, after: $after) {
      edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""
    first = ask(client, query)["data"]["products"]
    second = ask(client, query, after=first["pageInfo"]["endCursor"])["data"]["products"]
    ids = [edge["node"]["id"] for edge in first["edges"] + second["edges"]]
    assert first["pageInfo"]["hasNextPage"] is True
    assert ids == sorted(ids) and len(set(ids)) == 8


def test_product_reads_category_and_newest_reviews_through_the_services(
    client: TestClient,
) -> None:
    query = """{ product(id: 1) { id category { id name }
      reviews(first: 2) { edges { node { id rating author { fullName } } } } } }"""
    product = ask(client, query)["data"]["product"]
    rest_reviews = client.get("/v1/products/1/reviews?limit=2").json()["items"]
    assert product["category"]["id"] == client.get("/v1/products/1").json()["category_id"]
    assert [e["node"]["id"] for e in product["reviews"]["edges"]] == [r["id"] for r in rest_reviews]


def test_unknown_product_is_a_not_found_error_carrying_the_request_id(
    client: TestClient,
) -> None:
    response = client.post("/graphql", json={"query": "{ product(id: 999999) { id } }"})
    body = response.json()
    assert response.status_code == 200
    assert body["data"] == {"product": None}
    assert codes(body) == ["NOT_FOUND"]
    assert body["errors"][0]["extensions"]["request_id"] == response.headers["x-request-id"]


def test_a_malformed_body_is_a_graphql_error_not_a_500(client: TestClient) -> None:
    response = client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


# -- auth and field-level authorization --------------------------------------------------------


def test_me_is_null_when_anonymous_and_the_token_holder_when_signed_in(
    client: TestClient, seeded: Seeded
) -> None:
    assert ask(client, "{ me { id } }")["data"] == {"me": None}
    me = ask(client, "{ me { id email } }", seeded.customer)["data"]["me"]
    assert me["id"] == ALICE_ID and "@" in me["email"]


def test_a_forged_token_is_unauthorized(client: TestClient) -> None:
    body = ask(client, "{ me { id } }", {"Authorization": "Bearer not-a-token"})
    assert codes(body) == ["UNAUTHORIZED"]


def test_orders_need_a_signed_in_user(client: TestClient) -> None:
    assert codes(ask(client, "{ orders { edges { node { id } } } }")) == ["UNAUTHORIZED"]


@pytest.mark.parametrize(
    ("who", "hidden"), [("anonymous", True), ("customer", True), ("staff", False)]
)
def test_reviewers_email_is_shown_only_to_staff(
    client: TestClient, seeded: Seeded, who: str, hidden: bool
) -> None:
    headers = {"anonymous": {}, "customer": seeded.customer, "staff": seeded.staff}[who]
    query = "{ product(id: 1) { reviews(first: 3) { edges { node { author { id email } } } } } }"
    body = ask(client, query, headers)
    authors = [e["node"]["author"] for e in body["data"]["product"]["reviews"]["edges"]]
    others = [a for a in authors if a["id"] != ALICE_ID]
    assert others, "the seed gives product 1 reviews by other customers"
    assert all((a["email"] is None) == hidden for a in others)
    assert ("FORBIDDEN" in codes(body)) == hidden


def test_order_totals_are_shown_to_their_owner_only(client: TestClient, seeded: Seeded) -> None:
    product = new_product(client, seeded.staff, stock=5)
    items = [{"productId": product["id"], "quantity": 1}]
    placed = ask(client, PLACE, seeded.customer, items=items, key=str(uuid.uuid4()))
    order = placed["data"]["placeOrder"]
    assert order["totalCents"] == product["price_cents"]
    staff_view = ask(
        client, "{ orders(first: 50) { edges { node { id totalCents } } } }", seeded.staff
    )
    seen = {e["node"]["id"]: e["node"]["totalCents"] for e in staff_view["data"]["orders"]["edges"]}
    assert seen[order["id"]] is None
    assert "FORBIDDEN" in codes(staff_view)


# -- mutations ---------------------------------------------------------------------------------


def test_place_order_is_idempotent_and_cancel_restores_stock(
    client: TestClient, seeded: Seeded
) -> None:
    product = new_product(client, seeded.staff, stock=5)
    items = [{"productId": product["id"], "quantity": 2}]
    key = str(uuid.uuid4())
    first = ask(client, PLACE, seeded.customer, items=items, key=key)["data"]["placeOrder"]
    again = ask(client, PLACE, seeded.customer, items=items, key=key)["data"]["placeOrder"]
    assert first["id"] == again["id"]
    assert ask(client, STOCK, id=product["id"])["data"]["product"]["stock"] == 3
    cancelled = ask(client, CANCEL, seeded.customer, id=first["id"])["data"]["cancelOrder"]
    assert cancelled["status"] == "cancelled"
    assert ask(client, STOCK, id=product["id"])["data"]["product"]["stock"] == 5
    assert codes(ask(client, CANCEL, seeded.customer, id=first["id"])) == ["CONFLICT"]


def test_place_order_beyond_stock_is_an_out_of_stock_error(
    client: TestClient, seeded: Seeded
) -> None:
    product = new_product(client, seeded.staff, stock=1)
    items = [{"productId": product["id"], "quantity": 2}]
    body = ask(client, PLACE, seeded.customer, items=items, key=str(uuid.uuid4()))
    assert codes(body) == ["OUT_OF_STOCK"]
    assert ask(client, STOCK, id=product["id"])["data"]["product"]["stock"] == 1


def test_someone_elses_order_cannot_be_cancelled(client: TestClient, seeded: Seeded) -> None:
    product = new_product(client, seeded.staff, stock=3)
    items = [{"productId": product["id"], "quantity": 1}]
    order = ask(client, PLACE, seeded.customer, items=items, key=str(uuid.uuid4()))
    bob = seeded.token(4, "customer")
    assert codes(ask(client, CANCEL, bob, id=order["data"]["placeOrder"]["id"])) == ["NOT_FOUND"]


# -- DataLoaders -------------------------------------------------------------------------------


def _statements(client: TestClient, first: int) -> int:
    response = client.post("/graphql", json={"query": PAGE, "variables": {"first": first}})
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    return int(response.headers["x-db-queries"])


def test_dataloaders_keep_statements_constant_as_the_page_grows(api: AppClient) -> None:
    client = api(lab_mode=True)
    assert _statements(client, 2) == _statements(client, 12)


def test_without_dataloaders_statements_grow_with_the_page(api: AppClient) -> None:
    client = api(lab_mode=True, no_dataloader=True)
    # Per product: its category, its reviews, and each review's author (up to 3).
    assert _statements(client, 12) - _statements(client, 2) >= 10 * 2


# -- abuse limits ------------------------------------------------------------------------------


def test_an_accepted_query_reports_its_cost(client: TestClient) -> None:
    body = ask(client, PAGE, first=10)
    # 1 + 10 * (1 + 1 + 1 + (1 + 3 * (1 + 1 + 1 + 1 + 1))) : products, edges, node, name...
    assert 0 < body["extensions"]["cost"]["requested"] <= COST_BUDGET
    assert body["extensions"]["cost"]["budget"] == COST_BUDGET


def test_a_query_over_the_cost_budget_is_refused_before_it_runs(client: TestClient) -> None:
    body = ask(client, PAGE, first=50)
    assert body["data"] is None
    assert codes(body) == ["COST_LIMIT"]
    assert str(COST_BUDGET) in body["errors"][0]["message"]


def test_a_query_deeper_than_the_limit_is_refused(client: TestClient) -> None:
    nested = "category { products(first: 1) { edges { node { " * 3
    query = "{ product(id: 1) { " + nested + "id" + " } } } }" * 3 + " } }"
    body = ask(client, query)
    assert codes(body) == ["DEPTH_LIMIT"]
    assert str(MAX_DEPTH) in body["errors"][0]["message"]


def test_an_alias_flood_is_refused(client: TestClient) -> None:
    flood = " ".join(f"a{i}: categories {{ id }}" for i in range(MAX_ALIASES + 1))
    assert codes(ask(client, "{ " + flood + " }")) == ["ALIAS_LIMIT"]


def test_a_batch_flood_is_refused_and_a_small_batch_runs(client: TestClient) -> None:
    one = {"query": "{ categories { id } }"}
    small = client.post("/graphql", json=[one] * MAX_BATCH)
    assert small.status_code == 200 and len(small.json()) == MAX_BATCH
    flood = client.post("/graphql", json=[one] * (MAX_BATCH + 1))
    assert flood.status_code == 400
    assert flood.json()["errors"][0]["extensions"]["code"] == "BATCH_LIMIT"


@pytest.mark.parametrize(("lab_mode", "refused"), [(False, True), (True, False)])
def test_introspection_is_off_outside_lab_mode(
    api: AppClient, lab_mode: bool, refused: bool
) -> None:
    body = ask(api(lab_mode=lab_mode), "{ __schema { queryType { name } } }")
    assert ("INTROSPECTION_DISABLED" in codes(body)) == refused


def test_rate_limit_charges_by_cost(api: AppClient) -> None:
    client = api(rate_limit_enabled=True, rate_limit_capacity=60, rate_limit_refill_per_second=0.01)
    cheap = client.post("/graphql", json={"query": "{ categories { id } }"})
    assert cheap.status_code == 200
    dear = {"query": PAGE, "variables": {"first": 20}}
    answers = [client.post("/graphql", json=dear) for _ in range(3)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.json().get("extensions") for a in answers]
    assert refused[0].json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert "retry-after" in refused[0].headers


def test_an_unexpected_failure_is_masked_and_carries_the_request_id(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sample_service.services import catalog

    def broken(**_kwargs: Any) -> None:
        raise RuntimeError("secret connection string in here")

    monkeypatch.setattr(catalog, "list_categories", broken)
    response = client.post("/graphql", json={"query": "{ categories { id } }"})
    error = response.json()["errors"][0]
    assert response.status_code == 200
    assert error["extensions"]["code"] == "INTERNAL"
    assert "secret" not in error["message"]
    assert error["extensions"]["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_an_idempotency_key_out_of_bounds_is_unprocessable(
    client: TestClient, seeded: Seeded, key: str
) -> None:
    items = [{"productId": 1, "quantity": 1}]
    assert codes(ask(client, PLACE, seeded.customer, items=items, key=key)) == ["UNPROCESSABLE"]


def test_an_invalid_order_is_unprocessable(client: TestClient, seeded: Seeded) -> None:
    items = [{"productId": 1, "quantity": 0}]
    body = ask(client, PLACE, seeded.customer, items=items, key=str(uuid.uuid4()))
    assert codes(body) == ["UNPROCESSABLE"]
