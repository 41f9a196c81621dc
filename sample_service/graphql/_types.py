"""The shop's GraphQL types: each field resolves through a DataLoader or a service call.

No business rule lives here: stock, ownership and idempotency are the services'
(the same functions REST calls); this module only shapes the graph and says who
may read which field.
"""

from __future__ import annotations

import datetime as dt
from typing import Generic, TypeVar

import strawberry
from strawberry.types import Info

from sample_service.errors import Forbidden
from sample_service.graphql._context import MAX_FIRST, Context
from sample_service.models import Category as CategoryRow
from sample_service.models import Order as OrderRow
from sample_service.models import OrderItem as OrderItemRow
from sample_service.models import Product as ProductRow
from sample_service.models import Review as ReviewRow
from sample_service.models import User as UserRow
from sample_service.pagination import Cursor
from sample_service.services import orders, reviews

Node = TypeVar("Node")
Ctx = Info[Context, None]


def clamp(first: int) -> int:
    """A page size within 0..MAX_FIRST (the cost limit already charged what was asked)."""
    return max(0, min(first, MAX_FIRST))


@strawberry.type
class PageInfo:
    """Relay's page info: follow ``endCursor`` while ``hasNextPage``."""

    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[Node]):
    """One item of a connection and the cursor just after it."""

    cursor: str
    node: Node


@strawberry.type
class Connection(Generic[Node]):
    """A page in the Relay connection shape."""

    edges: list[Edge[Node]]
    page_info: PageInfo


def connection(rows: list[object], first: int, sort: str, wrap: type) -> Connection:  # type: ignore[type-arg]
    """A connection from ``first + 1`` rows sorted by id (the extra one says there is more)."""
    page = rows[:first]
    edges = [
        Edge(cursor=Cursor(sort, row.id, row.id).encode(), node=wrap(row=row))  # type: ignore[attr-defined]
        for row in page
    ]
    end = edges[-1].cursor if edges else None
    return Connection(
        edges=edges, page_info=PageInfo(has_next_page=len(rows) > first, end_cursor=end)
    )


@strawberry.type
class Category:
    """A shelf of the shop."""

    row: strawberry.Private[CategoryRow]

    @strawberry.field
    def id(self) -> int:
        return self.row.id

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def slug(self) -> str:
        return self.row.slug

    @strawberry.field
    async def products(self, info: Ctx, first: int = 10) -> Connection[Product]:
        """The category's first live products by id."""
        first = clamp(first)
        rows = await info.context.loaders.products_of.load(self.row.id, first + 1)
        return connection(rows, first, "id", Product)  # type: ignore[arg-type]


@strawberry.type
class User:
    """An account as others see it; the e-mail only to itself and staff."""

    row: strawberry.Private[UserRow]

    @strawberry.field
    def id(self) -> int:
        return self.row.id

    @strawberry.field
    def full_name(self) -> str:
        return self.row.full_name

    @strawberry.field
    def role(self) -> str:
        return self.row.role

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Only the account itself and staff may read it."
    )
    async def email(self, info: Ctx) -> str | None:
        viewer = await info.context.viewer()
        if viewer is not None and (viewer.id == self.row.id or await info.context.is_staff()):
            return self.row.email
        raise Forbidden("email is shown only to the account itself and to staff")


@strawberry.type
class Review:
    """A customer's rating of a product."""

    row: strawberry.Private[ReviewRow]

    @strawberry.field
    def id(self) -> int:
        return self.row.id

    @strawberry.field
    def rating(self) -> int:
        return self.row.rating

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field
    async def author(self, info: Ctx) -> User:
        user = await info.context.loaders.user.load(self.row.user_id)
        assert user is not None  # a review's author is never deleted (foreign key)
        return User(row=user)

    @strawberry.field
    async def product(self, info: Ctx) -> Product | None:
        """None once the product is withdrawn."""
        row = await info.context.loaders.product.load(self.row.product_id)
        return Product(row=row) if row is not None else None


@strawberry.type
class Product:
    """A product of the catalog; prices in integer cents."""

    row: strawberry.Private[ProductRow]

    @strawberry.field
    def id(self) -> int:
        return self.row.id

    @strawberry.field
    def sku(self) -> str:
        return self.row.sku

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def description(self) -> str:
        return self.row.description

    @strawberry.field
    def price_cents(self) -> int:
        return self.row.price_cents

    @strawberry.field(  # type: ignore[untyped-decorator]
        deprecation_reason="Floats round money; use priceCents (integer cents). "
        "Removed in the next major version."
    )
    def price(self) -> float:
        return self.row.price_cents / 100

    @strawberry.field
    def stock(self) -> int:
        return self.row.stock

    @strawberry.field
    async def category(self, info: Ctx) -> Category:
        row = await info.context.loaders.category.load(self.row.category_id)
        assert row is not None  # foreign key
        return Category(row=row)

    @strawberry.field
    async def reviews(
        self, info: Ctx, first: int = 5, after: str | None = None
    ) -> Connection[Review]:
        """The newest reviews first."""
        first = clamp(first)
        if after is None:
            rows = await info.context.loaders.reviews.load(self.row.id, first + 1)
        else:  # later pages are rare: the service's own keyset query
            rows, _ = await info.context.run(
                reviews.list_reviews,
                session=info.context.session,
                product_id=self.row.id,
                limit=first + 1,
                cursor=after,
            )
        return connection(rows, first, reviews.REVIEW_SORT, Review)  # type: ignore[arg-type]


@strawberry.type
class OrderItem:
    """One line of an order, at the price of the day it was placed."""

    row: strawberry.Private[OrderItemRow]

    @strawberry.field
    def quantity(self) -> int:
        return self.row.quantity

    @strawberry.field
    def unit_price_cents(self) -> int:
        return self.row.unit_price_cents

    @strawberry.field
    async def product(self, info: Ctx) -> Product | None:
        """None once the product is withdrawn."""
        row = await info.context.loaders.product.load(self.row.product_id)
        return Product(row=row) if row is not None else None


@strawberry.type
class Order:
    """An order; staff see everyone's, the total only its owner."""

    row: strawberry.Private[OrderRow]

    @strawberry.field
    def id(self) -> int:
        return self.row.id

    @strawberry.field
    def status(self) -> str:
        return self.row.status

    @strawberry.field
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Only the order's owner may read it."
    )
    async def total_cents(self, info: Ctx) -> int | None:
        viewer = await info.context.require_viewer()
        if viewer.id != self.row.user_id:
            raise Forbidden("an order's total is shown only to the customer who placed it")
        return self.row.total_cents

    @strawberry.field
    async def items(self, info: Ctx) -> list[OrderItem]:
        rows = await info.context.loaders.items.load(self.row.id)
        return [OrderItem(row=row) for row in rows or []]

    @strawberry.field
    async def customer(self, info: Ctx) -> User:
        user = await info.context.loaders.user.load(self.row.user_id)
        assert user is not None  # foreign key
        return User(row=user)


async def own_orders(info: Ctx, first: int, after: str | None) -> Connection[Order]:
    """The viewer's orders (staff: everyone's), newest first, through the orders service."""
    context = info.context
    user = await context.require_viewer()
    first = clamp(first)
    # Items are not eager-loaded here: the items hop has its own DataLoader.
    rows, _ = await context.run(
        orders.list_orders,
        session=context.session,
        user=user,
        limit=first + 1,
        cursor=after,
        n_plus_one=True,
    )
    return connection(rows, first, orders.ORDER_SORT, Order)  # type: ignore[arg-type]
