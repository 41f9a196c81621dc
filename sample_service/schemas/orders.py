"""Schemas of orders and their items."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from sample_service.schemas._input import Input
from sample_service.schemas.catalog import UtcDatetime

# payment_pending: accepted while the payment provider was unreachable, settled later (lesson 11).
OrderStatus = Literal["placed", "payment_pending", "paid", "shipped", "cancelled"]
CANCELLABLE = frozenset({"placed", "payment_pending", "paid"})
ORDERS_V1 = "/v1/orders"


class Link(BaseModel):
    """A hypermedia control: where to go, and with which method."""

    href: str = Field(examples=["/v1/orders/101"])
    method: Literal["GET", "POST"] = "GET"


Links = dict[str, Link]


class OrderItemCreate(Input):
    """One line of a new order; the price is the product's at order time, not the client's."""

    model_config = ConfigDict(extra="forbid")

    product_id: int = Field(ge=1, le=2**31 - 1)
    quantity: int = Field(ge=1, le=100)


class OrderCreate(Input):
    """A new order: each product at most once (a 400 otherwise: no JSON Schema can say it)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"items": [{"product_id": 1, "quantity": 2}]}]},
    )

    items: list[OrderItemCreate] = Field(min_length=1, max_length=50)


class OrderItemRead(BaseModel):
    """One line of an order, with the price paid."""

    model_config = ConfigDict(from_attributes=True)

    product_id: int
    quantity: int
    unit_price_cents: int


class OrderLineRead(OrderItemRead):
    """One line of an order as its own resource: it links to the product."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> Links:
        """``product``: the product this line bought."""
        return {"product": Link(href=f"/v1/products/{self.product_id}")}


class OrderLines(BaseModel):
    """The lines of one order, linked back to it."""

    items: list[OrderLineRead]
    links: Links


class OrderRead(BaseModel):
    """An order with its items."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 101,
                    "user_id": 7,
                    "status": "placed",
                    "total_cents": 2598,
                    "created_at": "2026-01-05T10:00:00Z",
                    "items": [{"product_id": 1, "quantity": 2, "unit_price_cents": 1299}],
                }
            ]
        },
    )

    id: int
    user_id: int
    status: OrderStatus
    total_cents: int
    created_at: UtcDatetime
    items: list[OrderItemRead]

    @computed_field(  # type: ignore[prop-decorator]
        description="Hypermedia controls: `self`, `items`, and `cancel` only while the order "
        "can be cancelled. Follow them instead of building URLs."
    )
    @property
    def links(self) -> Links:
        """What a client may do next with this order, given its state."""
        return order_links(ORDERS_V1, self.id, self.status, cancel="cancel")


def order_links(base: str, order_id: int, status: str, *, cancel: str) -> Links:
    """``self`` and ``items`` always; ``cancel`` (a POST to ``cancel``) while cancellable."""
    links = {
        "self": Link(href=f"{base}/{order_id}"),
        "items": Link(href=f"{ORDERS_V1}/{order_id}/items"),
    }
    if status in CANCELLABLE:
        links["cancel"] = Link(href=f"{base}/{order_id}/{cancel}", method="POST")
    return links


class OrderPage(BaseModel):
    """One page of orders, newest first; ``next`` is the link to the following page."""

    items: list[OrderRead]
    next: str | None = Field(description="URL of the next page, absent on the last page.")
    links: Links = Field(description="`self`, and `next` while there is a following page.")


ORDERS_V2 = "/v2/orders"


class Money(BaseModel):
    """An amount as a decimal string with its currency: v2's money, where v1 sent cents."""

    amount: str = Field(pattern=r"^\d+\.\d{2}$", examples=["25.98"])
    currency: Literal["EUR"] = "EUR"

    @classmethod
    def of_cents(cls, cents: int) -> Money:
        """Cents as a two-decimal amount, exact (no float on the way)."""
        return cls(amount=f"{cents // 100}.{cents % 100:02d}")


class OrderItemReadV2(BaseModel):
    """One line of a v2 order."""

    product_id: int
    quantity: int
    unit_price: Money


class OrderReadV2(BaseModel):
    """Version 2 of an order: money as `Money` objects (a breaking change from v1's cents)."""

    id: int
    user_id: int
    status: OrderStatus
    total: Money
    created_at: UtcDatetime
    items: list[OrderItemReadV2]
    links: Links

    @classmethod
    def of(cls, order: OrderRead) -> OrderReadV2:
        """The v2 representation of an order read through v1's schema."""
        items = [
            OrderItemReadV2(
                product_id=item.product_id,
                quantity=item.quantity,
                unit_price=Money.of_cents(item.unit_price_cents),
            )
            for item in order.items
        ]
        return cls(
            id=order.id,
            user_id=order.user_id,
            status=order.status,
            total=Money.of_cents(order.total_cents),
            created_at=order.created_at,
            items=items,
            links=order_links(ORDERS_V2, order.id, order.status, cancel="cancellation"),
        )


class OrderPageV2(BaseModel):
    """One page of v2 orders."""

    items: list[OrderReadV2]
    links: Links = Field(description="`self`, and `next` while there is a following page.")
