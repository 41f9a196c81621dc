"""GraphQL at ``/graphql`` over the same services as REST (strawberry).

``install_graphql(app)`` mounts the endpoint; ``build_schema(lab_mode=...)`` is the
schema itself, also what the SDL export and the breaking-change check read.
Refusals (depth, aliases, batch size, cost, rate) and domain errors come back as
GraphQL errors carrying a ``code`` and the request id, never as a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import strawberry
from cross_web import HTTPException
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from graphql import GraphQLError, NoSchemaIntrospectionCustomRule
from pydantic import ValidationError
from strawberry.extensions import AddValidationRules, MaxAliasesLimiter, QueryDepthLimiter
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionResult

from sample_service.cache import product_key
from sample_service.db import session_scope
from sample_service.errors import NotFound, ServiceError, Unprocessable
from sample_service.graphql._context import Context
from sample_service.graphql._limits import (
    COST_BUDGET,
    MAX_ALIASES,
    MAX_BATCH,
    MAX_DEPTH,
    CostLimit,
    query_cost,
)
from sample_service.graphql._types import (
    Category,
    Connection,
    Ctx,
    Order,
    Product,
    User,
    clamp,
    connection,
    own_orders,
)
from sample_service.schemas.orders import OrderCreate, OrderItemCreate
from sample_service.services import catalog, orders

__all__ = [
    "COST_BUDGET",
    "MAX_ALIASES",
    "MAX_BATCH",
    "MAX_DEPTH",
    "SDL_PATH",
    "build_schema",
    "install_graphql",
    "query_cost",
    "sdl",
]


@strawberry.type
class Query:
    """Catalog reads for anyone; the viewer and their orders once signed in."""

    @strawberry.field
    async def product(self, info: Ctx, id: int) -> Product | None:
        row = await info.context.loaders.product.load(id)
        if row is None:
            raise NotFound(f"product {id} does not exist")
        return Product(row=row)

    @strawberry.field
    async def products(
        self, info: Ctx, first: int = 20, after: str | None = None, category_id: int | None = None
    ) -> Connection[Product]:
        """Live products by id, filtered like ``GET /v1/products``."""
        first = clamp(first)
        page = await info.context.run(
            catalog.list_products,
            session=info.context.session,
            filters=catalog.ProductFilter(category_id=category_id),
            limit=first + 1,
            cursor=after,
        )
        return connection(page.items, first, "id", Product)

    @strawberry.field
    async def categories(self, info: Ctx) -> list[Category]:
        rows = await info.context.run(catalog.list_categories, session=info.context.session)
        return [Category(row=row) for row in rows]

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="The signed-in user; null when anonymous."
    )
    async def me(self, info: Ctx) -> User | None:
        user = await info.context.viewer()
        return User(row=user) if user is not None else None

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Your orders, newest first (staff: everyone's)."
    )
    async def orders(
        self, info: Ctx, first: int = 10, after: str | None = None
    ) -> Connection[Order] | None:
        return await own_orders(info, first, after)


MAX_KEY_LENGTH = 200  # the column's width, as the Idempotency-Key header allows


@strawberry.input
class OrderLine:
    """One line of a new order."""

    product_id: int
    quantity: int


@strawberry.type
class Mutation:
    """Orders, through the same service calls as ``POST /v1/orders`` and its cancel."""

    @strawberry.mutation(  # type: ignore[untyped-decorator]
        description="Place an order once per idempotency key."
    )
    async def place_order(self, info: Ctx, items: list[OrderLine], idempotency_key: str) -> Order:
        context = info.context
        user = await context.require_viewer()
        if not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:  # as the REST header is bounded
            raise Unprocessable(f"idempotencyKey must be 1..{MAX_KEY_LENGTH} characters (a UUID)")
        try:
            body = OrderCreate(
                items=[OrderItemCreate(product_id=i.product_id, quantity=i.quantity) for i in items]
            )
        except ValidationError as exc:
            raise Unprocessable(f"invalid order: {exc.errors()[0]['msg']}") from None
        placed = await context.run(
            orders.place_order,
            session=context.session,
            user_id=user.id,
            order=body,
            idempotency_key=idempotency_key,
        )
        if not placed.replayed:
            await context.http_request.app.state.cache.invalidate(
                *map(product_key, placed.product_ids)
            )
        order_id = int(placed.location.rsplit("/", 1)[1])
        row = await context.run(
            orders.get_order, session=context.session, order_id=order_id, user=user
        )
        return Order(row=row)

    @strawberry.mutation(  # type: ignore[untyped-decorator]
        description="Cancel a placed or paid order; its stock comes back."
    )
    async def cancel_order(self, info: Ctx, id: int) -> Order:
        context = info.context
        user = await context.require_viewer()
        row = await context.run(
            orders.cancel_order, session=context.session, order_id=id, user=user
        )
        await context.http_request.app.state.cache.invalidate(
            *(product_key(item.product_id) for item in row.items)
        )
        return Order(row=row)


def build_schema(*, lab_mode: bool = False) -> strawberry.Schema:
    """The shop's schema with its abuse limits; introspection only in lab mode."""
    extensions: list[Any] = [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        CostLimit,
    ]
    if not lab_mode:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(batching_config={"max_operations": MAX_BATCH}),
    )


async def _context(request: Request, response: Response) -> AsyncIterator[Context]:
    """One session and one set of DataLoaders per request."""
    with session_scope(request.app.state.db) as session:
        yield Context(request=request, response=response, session=session)


class _Refused(HTTPException):
    """A request refused before any operation ran, with its GraphQL error code."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(400, reason)
        self.code = code


class _Router(GraphQLRouter[Context, None]):
    """Strawberry's FastAPI router, with errors that carry a code and the request id."""

    def _validate_batch_request(self, request_data: list[Any], protocol: Any) -> None:
        if len(request_data) > MAX_BATCH:
            raise _Refused(
                f"a batch may hold at most {MAX_BATCH} operations, got {len(request_data)}; "
                "send the rest in another request",
                "BATCH_LIMIT",
            )
        super()._validate_batch_request(request_data, protocol)

    async def run(self, request: Any, context: Any = None, root_value: Any = None) -> Any:
        """Refusals of the whole request (a bad body, a batch too big) as GraphQL errors."""
        try:
            return await super().run(request, context=context, root_value=root_value)
        except HTTPException as exc:
            code = exc.code if isinstance(exc, _Refused) else "BAD_REQUEST"
            extensions = {"code": code, "request_id": getattr(request.state, "request_id", None)}
            body = {"errors": [{"message": exc.reason, "extensions": extensions}]}
            return JSONResponse(body, status_code=exc.status_code)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        request_id = getattr(request.state, "request_id", None)
        shown_errors = cast(list[dict[str, Any]], response.get("errors") or [])
        for error, shown in zip(result.errors or [], shown_errors, strict=True):
            shown["extensions"] = {**(shown.get("extensions") or {}), **_describe(error)}
            shown["extensions"]["request_id"] = request_id
            if "code" not in shown["extensions"] or shown["extensions"]["code"] == "INTERNAL":
                shown["message"] = _message(error)
        return response


# Refusals by strawberry's own limit rules, told apart by their messages.
_RULE_CODES = (
    ("maximum operation depth", "DEPTH_LIMIT"),
    ("aliases found", "ALIAS_LIMIT"),
    ("introspection", "INTROSPECTION_DISABLED"),
)


def _describe(error: GraphQLError) -> dict[str, Any]:
    """A machine-readable code: the domain error's slug, the limit's name, or GRAPHQL."""
    original = error.original_error
    if isinstance(original, ServiceError):
        return {"code": original.slug.upper().replace("-", "_"), "status": original.status}
    if original is not None and not isinstance(original, GraphQLError):
        return {"code": "INTERNAL"}
    if error.extensions and "code" in error.extensions:
        return {"code": error.extensions["code"]}
    text = error.message.lower()
    code = next((code for part, code in _RULE_CODES if part in text), "GRAPHQL_VALIDATION")
    return {"code": code}


def _message(error: GraphQLError) -> str:
    """The client's message; an unexpected exception's text stays in the server log."""
    original = error.original_error
    if original is not None and not isinstance(original, (GraphQLError, ServiceError)):
        return "internal error; quote the request_id when reporting it"
    return error.message


SDL_PATH = Path(__file__).with_name("schema.graphql")


def sdl() -> str:
    """The schema as SDL: the contract committed in ``schema.graphql`` (a test compares)."""
    return build_schema(lab_mode=True).as_str() + "\n"


def install_graphql(app: FastAPI) -> None:
    """Mount ``/graphql`` (GraphiQL offline is not shipped: POST queries or use the SDL)."""
    schema = build_schema(lab_mode=app.state.settings.lab_mode)
    router = _Router(schema, context_getter=_context, graphql_ide=None)  # type: ignore[arg-type]
    app.include_router(router, prefix="/graphql", include_in_schema=False)
