"""Schemas for categories, products and the sales report."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

from sample_service.models import MAX_ID
from sample_service.schemas._input import Input

Cents = Annotated[int, Field(ge=0, le=100_000_000, description="Money in integer cents")]
Stock = Annotated[int, Field(ge=0, le=1_000_000)]
Slug = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
Sku = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=5000)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def as_utc(value: dt.datetime) -> dt.datetime:
    """One rendering whatever the driver returns (naive from SQLite, local-zone from psycopg).

    Identical bytes from every read path keep the ETag stable.
    """
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


UtcDatetime = Annotated[dt.datetime, AfterValidator(as_utc)]


class CategoryCreate(Input):
    """A new category."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Coffee", "slug": "coffee", "description": ""}]},
    )

    name: Annotated[str, Field(min_length=1, max_length=80)]
    slug: Slug
    description: Text = ""


class CategoryRead(BaseModel):
    """A category as clients see it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    slug: str
    description: str


# One example product: what staff send, and (with id, version, timestamps) what clients read.
_NEW_PRODUCT: dict[str, JsonValue] = {
    "category_id": 1,
    "sku": "COF-0001",
    "name": "Espresso beans 1 kg",
    "description": "Dark roast",
    "price_cents": 2490,
    "stock": 40,
}


class ProductCreate(Input):
    """A new product; staff only."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [_NEW_PRODUCT]},
    )

    category_id: Id
    sku: Sku
    name: Name
    description: Text = ""
    price_cents: Cents
    stock: Stock = 0


class ProductUpdate(Input):
    """A partial update: only the fields sent change."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"price_cents": 2290, "stock": 35}]}
    )

    category_id: Id | None = None
    name: Name | None = None
    description: Text | None = None
    price_cents: Cents | None = None
    stock: Stock | None = None


class ProductRead(BaseModel):
    """A product as clients see it; ``version`` grows on every change."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    **_NEW_PRODUCT,
                    "version": 3,
                    "created_at": "2025-03-01T10:00:00Z",
                    "updated_at": "2025-03-02T09:30:00Z",
                }
            ]
        },
    )

    id: int
    category_id: int
    sku: str
    name: str
    description: str
    price_cents: int
    stock: int
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ProductPage(BaseModel):
    """One page of products; follow ``next`` until it is null."""

    items: list[ProductRead]
    next: str | None = Field(description="URL of the next page, null on the last page")
    next_cursor: str | None = Field(
        description="The opaque cursor of the next page (inside `next` unless paging by offset)"
    )
    limit: int


class SalesRow(BaseModel):
    """One group of the sales report."""

    key: str = Field(description="The day (YYYY-MM-DD) or the category slug")
    orders: int
    units: int
    revenue_cents: int


class SalesReport(BaseModel):
    """Revenue of non-cancelled orders in ``[from, to)``, grouped by day or category."""

    model_config = ConfigDict(serialize_by_alias=True)

    date_from: dt.date = Field(serialization_alias="from")
    date_to: dt.date = Field(serialization_alias="to")
    group_by: str
    rows: list[SalesRow]
    total_revenue_cents: int
