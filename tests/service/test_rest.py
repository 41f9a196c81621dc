"""REST practices of notebook 04: order links, content negotiation, gzip, /v2 and deprecation."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import uuid
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sample_service.api.deprecation import ORDERS_V1_DEPRECATED_AT, ORDERS_V1_SUNSET_AT
from sample_service.api.negotiation import choose
from sample_service.errors import NotAcceptable
from tests.service.conftest import AppClient, Seeded, assert_problem


def _place(client: TestClient, seeded: Seeded, product_id: int = 1) -> dict[str, Any]:
    response = client.post(
        "/v1/orders",
        json={"items": [{"product_id": product_id, "quantity": 1}]},
        headers={**seeded.customer, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def _hrefs(resource: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {rel: (link["method"], link["href"]) for rel, link in resource["links"].items()}


def test_placed_order_links_self_items_and_cancel(client: TestClient, seeded: Seeded) -> None:
    order = _place(client, seeded)
    assert _hrefs(order) == {
        "self": ("GET", f"/v1/orders/{order['id']}"),
        "items": ("GET", f"/v1/orders/{order['id']}/items"),
        "cancel": ("POST", f"/v1/orders/{order['id']}/cancel"),
    }


def test_cancelled_order_offers_no_cancel_link(client: TestClient, seeded: Seeded) -> None:
    order = _place(client, seeded)
    cancelled = client.post(order["links"]["cancel"]["href"], headers=seeded.customer).json()
    assert cancelled["status"] == "cancelled"
    assert set(cancelled["links"]) == {"self", "items"}
    again = client.get(cancelled["links"]["self"]["href"], headers=seeded.customer).json()
    assert "cancel" not in again["links"]


def test_items_link_leads_to_lines_linked_to_products(client: TestClient, seeded: Seeded) -> None:
    order = _place(client, seeded, product_id=3)
    lines = client.get(order["links"]["items"]["href"], headers=seeded.customer)
    assert lines.status_code == 200
    body = lines.json()
    assert [item["links"]["product"]["href"] for item in body["items"]] == ["/v1/products/3"]
    assert body["links"]["order"]["href"] == order["links"]["self"]["href"]
    product = client.get(body["items"][0]["links"]["product"]["href"])
    assert product.status_code == 200 and product.json()["id"] == 3


def test_items_of_someone_elses_order_are_404(client: TestClient, seeded: Seeded) -> None:
    order = _place(client, seeded)
    other = seeded.token(4, "customer")  # bob
    assert_problem(client.get(f"/v1/orders/{order['id']}/items", headers=other), 404)


def test_order_pages_link_self_and_next_until_the_last(client: TestClient, seeded: Seeded) -> None:
    response = client.get("/v1/orders", params={"limit": 2}, headers=seeded.staff)
    seen = 0
    while True:
        page = response.json()
        seen += len(page["items"])
        assert page["links"]["self"]["href"] == str(response.url)
        if page["next"] is None:
            assert "next" not in page["links"]
            break
        assert page["links"]["next"]["href"] == page["next"]
        response = client.get(page["links"]["next"]["href"], headers=seeded.staff)
    assert seen >= 2


def test_links_are_in_the_openapi_schema_of_an_order(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "links" in schemas["OrderRead"]["properties"]
    assert "links" in schemas["OrderReadV2"]["required"]


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [(None, "application/json"), ("*/*", "application/json"), ("text/csv", "text/csv"),
     ("text/*", "text/csv"), ("text/csv;q=0.5, application/json", "application/json"),
     ("application/json;q=0.1, text/csv;q=0.9", "text/csv")],
)  # fmt: skip
def test_negotiation_picks_the_preferred_offer(accept: str | None, media_type: str) -> None:
    assert choose(accept, ("application/json", "text/csv")) == media_type


@pytest.mark.parametrize("accept", ["application/xml", "text/csv;q=0, application/json;q=0"])
def test_negotiation_refuses_what_it_cannot_produce(accept: str) -> None:
    with pytest.raises(NotAcceptable):
        choose(accept, ("application/json", "text/csv"))


SALES = {"from": "2025-01-01", "to": "2026-01-01", "group_by": "category"}


def test_sales_report_as_csv_holds_the_json_rows(client: TestClient, seeded: Seeded) -> None:
    as_json = client.get("/v1/reports/sales", params=SALES, headers=seeded.staff)
    as_csv = client.get(
        "/v1/reports/sales", params=SALES, headers={**seeded.staff, "Accept": "text/csv"}
    )
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    for response in (as_csv, as_json):  # Accept chose the body (Authorization is there too)
        assert "Accept" in {token.strip() for token in response.headers["vary"].split(",")}
    rows = [{k: v if k == "key" else int(v) for k, v in row.items()}
            for row in csv.DictReader(io.StringIO(as_csv.text))]  # fmt: skip
    assert rows == as_json.json()["rows"] and rows


def test_sales_report_in_an_unknown_format_is_406(client: TestClient, seeded: Seeded) -> None:
    headers = {**seeded.staff, "Accept": "application/xml"}
    body = assert_problem(client.get("/v1/reports/sales", params=SALES, headers=headers), 406)
    assert "text/csv" in body["detail"]


def test_large_bodies_are_gzipped_when_asked(client: TestClient) -> None:
    params = {"limit": 100}
    plain = client.get("/v1/products", params=params, headers={"Accept-Encoding": "identity"})
    zipped = client.get("/v1/products", params=params, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # decoded by the client
    assert len(gzip.compress(plain.content)) < len(plain.content) // 2


def test_small_bodies_stay_uncompressed(client: TestClient) -> None:
    response = client.get("/v1/products/1", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers


def test_gzip_threshold_is_a_setting(api: AppClient) -> None:
    client = api(gzip_minimum_bytes=10)
    response = client.get("/v1/products/1", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"


def test_v1_order_reads_announce_deprecation_and_successor(
    client: TestClient, seeded: Seeded
) -> None:
    order = _place(client, seeded)
    response = client.get(f"/v1/orders/{order['id']}", headers=seeded.customer)
    assert response.headers["deprecation"] == f"@{int(ORDERS_V1_DEPRECATED_AT.timestamp())}"
    assert parsedate_to_datetime(response.headers["sunset"]) == ORDERS_V1_SUNSET_AT
    assert ORDERS_V1_SUNSET_AT > ORDERS_V1_DEPRECATED_AT > dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert response.headers["link"] == f'</v2/orders/{order["id"]}>; rel="successor-version"'


def test_v1_order_page_links_next_and_successor(client: TestClient, seeded: Seeded) -> None:
    response = client.get("/v1/orders", params={"limit": 1}, headers=seeded.staff)
    links = response.headers["link"].split(", ")
    assert links == [
        f'<{response.json()["next"]}>; rel="next"',
        '</v2/orders>; rel="successor-version"',
    ]
    assert "deprecation" in response.headers


def test_v2_order_is_money_objects_and_not_deprecated(client: TestClient, seeded: Seeded) -> None:
    order = _place(client, seeded)
    response = client.get(f"/v2/orders/{order['id']}", headers=seeded.customer)
    assert response.status_code == 200
    assert "deprecation" not in response.headers
    v2 = response.json()
    cents = order["total_cents"]
    assert v2["total"] == {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": "EUR"}
    assert "total_cents" not in v2
    assert v2["links"]["cancel"] == {
        "href": f"/v2/orders/{order['id']}/cancellation",
        "method": "POST",
    }


def test_v2_cancellation_cancels_once(client: TestClient, seeded: Seeded) -> None:
    order = _place(client, seeded)
    url = f"/v2/orders/{order['id']}/cancellation"
    cancelled = client.post(url, headers=seeded.customer)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert "cancel" not in cancelled.json()["links"]
    assert_problem(client.post(url, headers=seeded.customer), 409)


def test_v2_order_list_pages_by_links(client: TestClient, seeded: Seeded) -> None:
    first = client.get("/v2/orders", params={"limit": 3}, headers=seeded.staff).json()
    second = client.get(first["links"]["next"]["href"], headers=seeded.staff).json()
    ids = [o["id"] for o in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 6


def test_v2_order_of_someone_else_is_404(client: TestClient, seeded: Seeded) -> None:
    order = _place(client, seeded)
    assert_problem(
        client.get(f"/v2/orders/{order['id']}", headers=seeded.token(4, "customer")), 404
    )


def test_offset_pages_also_carry_the_cursor_of_the_same_next_page(api: AppClient) -> None:
    client = api(lab_mode=True, offset_pagination=True)
    by_offset = client.get("/v1/products", params={"limit": 5, "offset": 0}).json()
    assert "cursor=" not in by_offset["next"] and "offset=5" in by_offset["next"]
    after_offset = client.get(by_offset["next"]).json()["items"]
    params = {"limit": 5, "cursor": by_offset["next_cursor"]}
    assert client.get("/v1/products", params=params).json()["items"] == after_offset
