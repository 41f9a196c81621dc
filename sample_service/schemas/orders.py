"""Schemas of orders and their items."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sample_service.schemas._input import Input
from sample_service.schemas.catalog import UtcDatetime

OrderStatus = Literal["placed", "paid", "shipped", "cancelled"]


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


class OrderPage(BaseModel):
    """One page of orders, newest first; ``next`` is the link to the following page."""

    items: list[OrderRead]
    next: str | None = Field(description="URL of the next page, absent on the last page.")
