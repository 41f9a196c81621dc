"""Products: a paginated, filterable list; a cached, ETagged read; staff-only writes."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from sample_service.api.conditional import (
    Representation,
    check_if_match,
    none_match,
    product_representation,
)
from sample_service.api.deps import (
    CacheDep,
    ProductDep,
    ProductId,
    SessionDep,
    SettingsDep,
    StaffUser,
)
from sample_service.api.problems import created_responses, problem_responses
from sample_service.cache import Cache, product_key
from sample_service.config import Settings
from sample_service.db import Database, session_scope
from sample_service.errors import BadRequest
from sample_service.models import MAX_ID
from sample_service.pagination import next_link
from sample_service.schemas.catalog import ProductCreate, ProductPage, ProductRead, ProductUpdate
from sample_service.services import catalog

router = APIRouter(prefix="/v1/products", tags=["products"])

JSON = "application/json"
IfMatch = Annotated[str | None, Header(description="The ETag of your last read of this product")]
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "ETags you hold; a match answers 304",
    "schema": {"type": "string"},
}
_ETAG_HEADER = {
    "ETag": {"description": "Strong validator of the representation", "schema": {"type": "string"}}
}


async def product_filter(
    category_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    min_price_cents: Annotated[int | None, Query(ge=0, le=100_000_000)] = None,
    max_price_cents: Annotated[int | None, Query(ge=0, le=100_000_000)] = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in the product name")] = None,
) -> catalog.ProductFilter:
    """Query parameters that narrow a product listing (async: no threadpool hop to build it)."""
    return catalog.ProductFilter(category_id, min_price_cents, max_price_cents, q)


# The catalog page takes the read-by-id's lean path: `async def`, app state read directly,
# one precompiled SELECT on the bare driver, rows validated and encoded once by pydantic.
# The lesson switches that change the query (offset pages, the injectable search) keep
# the ORM path in the threadpool, as they are there to be shown, not to be fast.
@router.get(
    "",
    summary="List products, a page at a time",
    response_model=ProductPage,
    responses=problem_responses(400, 422, 429),
)
async def list_products(
    request: Request,
    response: Response,
    filters: Annotated[catalog.ProductFilter, Depends(product_filter)],
    sort: catalog.ProductSort = "id",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512, description="From a `next` link")] = None,
    # Not in the contract: refused unless the offset_pagination lesson switch is on.
    offset: Annotated[int | None, Query(ge=0, le=10**9, include_in_schema=False)] = None,
) -> Response:
    state = request.app.state
    settings: Settings = state.settings
    if offset is not None and not settings.offset_pagination:
        raise BadRequest("offset pagination is switched off; follow the `next` link (a cursor)")
    if offset is None and not (filters.q and settings.injectable_search):
        page = await catalog.fetch_product_page(
            database=state.db, filters=filters, sort=sort, limit=limit, cursor=cursor
        )
    else:
        page = await run_in_threadpool(
            _orm_page, state.db, filters, sort, limit, cursor, offset, settings.injectable_search
        )
    nxt = next_link(request, response, **page.next_query())  # sets `response`'s Link header
    body = ProductPage(items=page.items, next=nxt, next_cursor=page.next_cursor, limit=limit)
    link = response.headers.get("link")
    return Response(
        body.model_dump_json(), media_type=JSON, headers={"Link": link} if link else None
    )


def _orm_page(
    database: Database,
    filters: catalog.ProductFilter,
    sort: catalog.ProductSort,
    limit: int,
    cursor: str | None,
    offset: int | None,
    unsafe_search: bool,
) -> catalog.ProductPage:
    """The listing through an ORM session, for the lesson switches that change its query."""
    with session_scope(database) as session:
        return catalog.list_products(
            session=session, filters=filters, sort=sort, limit=limit, cursor=cursor,
            offset=offset, unsafe_search=unsafe_search,
        )  # fmt: skip


async def _read(state: State, product_id: int) -> Representation:
    """Cache-aside: the cached bytes, else one bare-driver query whose result is then cached."""
    cache: Cache = state.cache

    async def load() -> bytes:
        if state.settings.slow_read_ms:  # an expensive query: the window misses pile up in
            await asyncio.sleep(state.settings.slow_read_ms / 1000)
        row = await catalog.fetch_product_row(database=state.db, product_id=product_id)
        return product_representation(row).pack()

    return Representation.unpack(await cache.get_or_load(product_key(product_id), load))


# The hot path, kept lean on purpose (measured: see db.py): `async def` with no
# threadpool hop, no sub-dependencies (app state is read directly), no ORM session and
# no response-model pass; the cache holds the serialized bytes and their ETag.
@router.get(
    "/{product_id}",
    summary="Read one product (ETag, 304 on If-None-Match)",
    response_model=ProductRead,
    responses={
        200: {"headers": _ETAG_HEADER},
        304: {"description": "Not modified: your copy is current", "headers": _ETAG_HEADER},
        **problem_responses(404, 422, 429),
    },
    openapi_extra={"parameters": [_IF_NONE_MATCH]},
)
async def get_product(product_id: ProductId, request: Request) -> Response:
    representation = await _read(request.app.state, product_id)
    headers = {"ETag": representation.etag}  # Cache-Control: CacheControlMiddleware
    if none_match(request.headers.get("if-none-match"), representation.etag):
        return Response(status_code=304, headers=headers)
    return Response(representation.body, media_type=JSON, headers=headers)


@router.post(
    "",
    status_code=201,
    summary="Create a product (staff)",
    response_model=ProductRead,
    responses=created_responses("product", 401, 403, 404, 409, 413, 415, 422, 429),
)
async def create_product(data: ProductCreate, session: SessionDep, _staff: StaffUser) -> Response:
    product = await run_in_threadpool(
        lambda: catalog.create_product(session=session, **data.model_dump())
    )
    representation = product_representation(product)
    headers = {"Location": f"{router.prefix}/{product.id}", "ETag": representation.etag}
    return Response(representation.body, status_code=201, media_type=JSON, headers=headers)


@router.patch(
    "/{product_id}",
    summary="Change a product (staff, If-Match required)",
    response_model=ProductRead,
    responses={
        200: {"headers": _ETAG_HEADER},
        **problem_responses(401, 403, 404, 412, 413, 415, 422, 428, 429),
    },
)
async def update_product(
    changes: ProductUpdate,
    _staff: StaffUser,
    product: ProductDep,
    session: SessionDep,
    settings: SettingsDep,
    cache: CacheDep,
    if_match: IfMatch = None,
) -> Response:
    """Optimistic concurrency: the write lands only on the version the client last saw."""
    check_if_match(
        if_match, product_representation(product).etag, required=settings.require_if_match
    )
    updated = await run_in_threadpool(
        lambda: catalog.update_product(
            session=session, product_id=product.id, expected_version=product.version,
            changes=changes.model_dump(exclude_unset=True, exclude_none=True),
        )
    )  # fmt: skip
    await cache.invalidate(product_key(product.id))
    representation = product_representation(updated)
    return Response(representation.body, media_type=JSON, headers={"ETag": representation.etag})


@router.delete(
    "/{product_id}",
    status_code=204,
    summary="Retire a product (staff; soft delete)",
    responses=problem_responses(401, 403, 404, 429),
)
async def delete_product(
    product_id: ProductId, _staff: StaffUser, session: SessionDep, cache: CacheDep
) -> Response:
    await run_in_threadpool(lambda: catalog.delete_product(session=session, product_id=product_id))
    await cache.invalidate(product_key(product_id))
    return Response(status_code=204)
