"""gRPC for the catalog (``shop_catalog.proto``), beside HTTP, over the same services.

The stubs are generated from the ``.proto`` by grpcio-tools when this module is first
imported (``grpc.protos_and_services``): nothing generated is committed, so a fresh
clone cannot hold stubs that drifted from the contract, and there is no build step to
forget. The cost is grpcio-tools at run time and ~50 ms at first import.

``serve(app)`` runs the server on the app's event loop while the app lives, on
``SHOP_GRPC_PORT`` (loopback only); ``labkit.LiveService(grpc=True)`` sets that port.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc import aio

from sample_service.db import Database, session_scope
from sample_service.errors import ServiceError
from sample_service.models import Product
from sample_service.services import catalog, reviews, users

PROTO = Path(__file__).with_name("shop_catalog.proto")
MAX_PAGE = 100
SCREEN_REVIEWS = 5
T = TypeVar("T")

_ROUND = 0.25  # seconds one poll may take on a busy machine


def _generate() -> tuple[Any, Any]:
    """The message and service modules, compiled from the ``.proto`` in memory."""
    sys.path.insert(0, str(PROTO.parent))
    try:
        return grpc.protos_and_services(PROTO.name)  # type: ignore[no-any-return]
    finally:
        sys.path.remove(str(PROTO.parent))


messages, services = _generate()

# Domain errors → gRPC status codes (the REST status of each, in gRPC's vocabulary).
STATUS_OF: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    402: grpc.StatusCode.FAILED_PRECONDITION,  # the payment was declined: not retryable as is
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    410: grpc.StatusCode.NOT_FOUND,  # it was there and is no more (an expired job result)
    406: grpc.StatusCode.INVALID_ARGUMENT,  # a representation the service cannot produce
    409: grpc.StatusCode.ABORTED,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    428: grpc.StatusCode.FAILED_PRECONDITION,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def status_of(error: ServiceError) -> grpc.StatusCode:
    """The gRPC status for a domain error (INTERNAL for one without a mapping)."""
    return STATUS_OF.get(error.status, grpc.StatusCode.INTERNAL)


def to_message(product: Product) -> Any:
    """A ``Product`` row as its protobuf message."""
    return messages.Product(
        id=product.id,
        sku=product.sku,
        name=product.name,
        price_cents=product.price_cents,
        stock=product.stock,
        category_id=product.category_id,
        version=product.version,
        description=product.description,
    )


class CatalogServicer(services.CatalogServicer):  # type: ignore[misc,name-defined]
    """Each RPC is one call into ``services/catalog.py`` on a worker thread."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def _call(
        self, context: aio.ServicerContext[Any, Any], fn: Callable[..., T], **kwargs: Any
    ) -> T:
        """Run a service call with its own session; domain errors abort with their status."""

        def run() -> T:
            with session_scope(self._database) as session:
                return fn(session=session, **kwargs)

        try:
            return await asyncio.to_thread(run)
        except ServiceError as exc:
            await context.abort(status_of(exc), exc.detail)
            raise  # abort raises; this line only satisfies the type checker

    async def GetProduct(self, request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        product = await self._call(context, catalog.get_product, product_id=request.id)
        return to_message(product)

    async def GetProductScreen(self, request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        product = await self._call(context, catalog.get_product, product_id=request.id)
        category = await self._call(context, catalog.get_category, category_id=product.category_id)
        newest, _ = await self._call(
            context, reviews.list_reviews, product_id=product.id, limit=SCREEN_REVIEWS
        )
        authors = await self._call(
            context, users.users_by_id, user_ids=[review.user_id for review in newest]
        )
        return messages.ProductScreen(
            product=to_message(product),
            category_name=category.name,
            reviews=[
                messages.Review(
                    rating=r.rating, body=r.body, author_name=authors[r.user_id].full_name
                )
                for r in newest
            ],
        )

    async def ListProducts(self, request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        size = request.page_size or 20
        if not 1 <= size <= MAX_PAGE:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"page_size must be 1..{MAX_PAGE}, got {size}"
            )
        filters = catalog.ProductFilter(category_id=request.category_id or None)
        page = await self._call(
            context,
            catalog.list_products,
            filters=filters,
            limit=size,
            cursor=request.page_token or None,
        )
        return messages.ListProductsResponse(
            products=[to_message(p) for p in page.items], next_page_token=page.next_cursor or ""
        )

    async def WatchStock(
        self, request: Any, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        """Poll the products and send each (stock, version) change; ends with the deadline."""
        ids = sorted(set(request.product_ids))
        if not ids or len(ids) > MAX_PAGE:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"name 1..{MAX_PAGE} product_ids, got {len(ids)}"
            )
        interval = (request.poll_interval_ms or 100) / 1000
        seen: dict[int, tuple[int, int]] = {}
        sent = 0
        # Stop while one more poll (the pause, the query, the send) still fits before the
        # deadline: the client then sees a clean end, not DEADLINE_EXCEEDED.
        while context.time_remaining() is None or context.time_remaining() > interval + _ROUND:
            found = await self._call(context, catalog.products_by_id, product_ids=ids)
            for product_id in ids:
                product = found.get(product_id)
                if product is None:
                    await context.abort(
                        grpc.StatusCode.NOT_FOUND, f"product {product_id} does not exist"
                    )
                    return
                state = (product.stock, product.version)
                if seen.get(product_id) != state:
                    seen[product_id] = state
                    yield messages.StockChange(
                        product_id=product_id, stock=product.stock, version=product.version
                    )
                    sent += 1
                    if request.max_changes and sent >= request.max_changes:
                        return
            await asyncio.sleep(interval)


@asynccontextmanager
async def serve(
    database: Database, *, port: int, grace_seconds: float = 2.0
) -> AsyncIterator[aio.Server]:
    """The catalog's gRPC server on ``127.0.0.1:port`` for the life of the block."""
    server = aio.server()
    services.add_CatalogServicer_to_server(CatalogServicer(database), server)
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise OSError(f"gRPC port {port} on 127.0.0.1 is in use; pick another SHOP_GRPC_PORT")
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace_seconds)


__all__ = ["messages", "serve", "services", "status_of"]
