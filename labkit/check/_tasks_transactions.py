"""Module 06 (transactions and idempotency): retries that cannot duplicate, edits that cannot be
lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from labkit.check._registry import Failed, task
from labkit.check._shop import live_shop

_ORDER = {"items": [{"product_id": 3, "quantity": 1}]}


class _LosesFirstResponse(httpx.HTTPTransport):
    """The first order placed goes through, but its response is lost on the way back."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and request.url.path == "/v1/orders":
            self.keys.append(request.headers.get("Idempotency-Key"))
            if len(self.keys) == 1:
                response.close()
                raise httpx.ReadError(
                    "connection reset after the request was sent", request=request
                )
        return response


def _order_count(client: httpx.Client) -> int:
    return len(client.get("/v1/orders?limit=100").json()["items"])


@task(
    "06.1",
    "order_with_safe_retries",
    title="Retrying an order after a lost response places it once",
    hints=(
        "The first attempt's response is lost, but the server did place the order.",
        "The server can only tell a retry from a new order if the retry says so.",
        "Choose the Idempotency-Key once, before the first attempt, and send the same one again.",
    ),
)
def order_with_safe_retries(place: Callable[[httpx.Client, dict[str, Any]], Any]) -> None:
    """Exactly one new order, every attempt under one key, and the function returns the order."""
    if not callable(place):
        raise Failed("pass the function itself: lk.check('06.1', place_order)")
    transport = _LosesFirstResponse()
    headers = dict(live_shop().login("customer").headers)
    with httpx.Client(base_url=live_shop().url, transport=transport, headers=headers) as client:
        before = _order_count(client)
        try:
            place(client, _ORDER)
        except httpx.TransportError as exc:
            raise Failed(f"the lost response ended the call ({exc}); retry it") from None
        placed = _order_count(client) - before
    if len(transport.keys) < 2:
        raise Failed("the order was sent once; a lost response needs a retry")
    if None in transport.keys:
        raise Failed("an attempt went without an Idempotency-Key header")
    if placed != 1:
        raise Failed(f"{placed} orders were placed for one purchase ({len(transport.keys)} tries)")


class _RivalEditor(httpx.HTTPTransport):
    """Just before the learner's first change lands, another editor changes the product."""

    def __init__(self, rival: Callable[[], None]) -> None:
        super().__init__()
        self.rival: Callable[[], None] | None = rival

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH" and self.rival is not None:
            rival, self.rival = self.rival, None
            rival()
        return super().handle_request(request)


@task(
    "06.2",
    "edit_without_lost_update",
    title="A price change that never overwrites someone else's edit",
    hints=(
        "Between your read and your write, another editor changed the product.",
        "Send the ETag of your read as If-Match; the service answers 412 if it is stale.",
        "On 412, read again (new ETag, their change included) and apply yours to that.",
    ),
)
def edit_without_lost_update(set_price: Callable[[httpx.Client, int, int], Any]) -> None:
    """Both the rival's rename and the learner's new price survive."""
    if not callable(set_price):
        raise Failed("pass the function itself: lk.check('06.2', set_price)")
    service = live_shop()
    with service.login("staff") as rival_client:
        product = rival_client.post(
            "/v1/products",
            json={"category_id": 1, "sku": f"CHK-{id(set_price)}", "name": "Kettle",
                  "price_cents": 1000, "stock": 5},
        ).json()  # fmt: skip

        def rename() -> None:
            etag = rival_client.get(f"/v1/products/{product['id']}").headers["ETag"]
            rival_client.patch(
                f"/v1/products/{product['id']}", json={"name": "Kettle (renamed)"},
                headers={"If-Match": etag},
            )  # fmt: skip

        headers = dict(service.login("staff").headers)
        with httpx.Client(
            base_url=service.url, transport=_RivalEditor(rename), headers=headers
        ) as c:
            try:
                set_price(c, product["id"], 1250)
            except httpx.HTTPStatusError as exc:
                raise Failed(
                    f"the change ended with {exc.response.status_code}; handle it"
                ) from None
        final = rival_client.get(f"/v1/products/{product['id']}").json()
    if final["price_cents"] != 1250:
        raise Failed(f"the price is {final['price_cents']}, not 1250: your change did not land")
    if final["name"] != "Kettle (renamed)":
        raise Failed(f"the name is back to {final['name']!r}: your write erased the rival's edit")
