"""Orders: place (idempotent), list, read, cancel."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sample_service.api.deprecation import DEPRECATED_HEADERS, deprecate
from sample_service.api.deps import (
    CacheDep,
    ClaimsDep,
    CurrentUser,
    DatabaseDep,
    OriginDep,
    PaymentsDep,
    SessionDep,
    SettingsDep,
    get_current_user,
    path_id,
    session_slot,
)
from sample_service.api.problems import problem_responses
from sample_service.cache import Cache, product_key
from sample_service.config import Settings
from sample_service.db import Database
from sample_service.errors import PreconditionRequired
from sample_service.models import Order, User
from sample_service.pagination import next_link
from sample_service.resilience.payments import PaymentsClient
from sample_service.schemas.orders import (
    ORDERS_V2,
    Link,
    OrderCreate,
    OrderLineRead,
    OrderLines,
    OrderPage,
    OrderRead,
)
from sample_service.security import AccessClaims
from sample_service.services import audit, orders, placement

router = APIRouter(prefix="/v1/orders", tags=["orders"])

OrderId = Annotated[int, path_id("Order", 101)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Unique per order attempt (a UUID); a retry with the same key and body "
        "gets the first response again instead of a second order.",
        examples=["8e03978e-40d5-43e8-bc93-6894a57f9324"],
    ),
]


@router.post(
    "",
    response_model=OrderRead,
    status_code=201,
    summary="Place an order (requires Idempotency-Key)",
    responses={
        201: {
            "headers": {
                "Location": {"description": "URL of the order", "schema": {"type": "string"}},
                "Idempotent-Replayed": {
                    "description": "true when this is the stored answer to an earlier request",
                    "schema": {"type": "string", "enum": ["true", "false"]},
                },
            }
        },
        202: {"description": "Accepted; the payment is pending (provider unreachable)"},
        **problem_responses(401, 402, 409, 422, 428, 429, 503),
    },
)
async def place_order(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    claims: ClaimsDep,
    body: OrderCreate,
    cache: CacheDep,
    payments: PaymentsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Stock is taken in the same transaction; a replay answers `Idempotent-Replayed: true`.

    With a payments provider configured, the order is paid before it is confirmed (a saga).
    """
    if idempotency_key is None:
        raise PreconditionRequired("POST /v1/orders needs an Idempotency-Key header (a UUID)")
    retention = dt.timedelta(seconds=settings.idempotency_retention_seconds)
    # Async on purpose: measured by `labkit bench order order_postgres -c 32` beside the
    # FastAPI hello-world, the bare-driver placement (placement.py) doubled the ORM path's
    # share of its throughput on both engines and cut SQLite's P99 ratio 12x. The saga,
    # API keys and the no_row_lock lesson keep the ORM path.
    if placement.fits(claims, no_row_lock=settings.no_row_lock, payments=payments):
        placed = await placement.place_order(
            database=database, user_id=cast(AccessClaims, claims).user_id, order=body,
            idempotency_key=idempotency_key, retention=retention,
            wait_seconds=settings.db_wait_seconds,
        )  # fmt: skip
    else:
        placed = await _place_in_threadpool(request, database, settings, claims, body, payments,
                                            idempotency_key, retention)  # fmt: skip
    if not placed.replayed:  # stock changed: cached product representations are stale
        await cache.invalidate(*map(product_key, placed.product_ids))
    headers = {"Location": placed.location, "Idempotent-Replayed": str(placed.replayed).lower()}
    return Response(placed.body, placed.status_code, headers, media_type="application/json")


async def _place_in_threadpool(
    request: Request,
    database: Database,
    settings: Settings,
    claims: AccessClaims | str,
    body: OrderCreate,
    payments: PaymentsClient | None,
    idempotency_key: str,
    retention: dt.timedelta,
) -> orders.PlacedOrder:
    """The ORM placement, in a session of its own: the saga, API keys, the no_row_lock lesson."""
    async with session_slot(database) as session:
        user = await run_in_threadpool(get_current_user, request, claims, session)
        place = partial(
            orders.place_order,
            session=session,
            user_id=user.id,
            order=body,
            idempotency_key=idempotency_key,
            retention=retention,
            row_lock=not settings.no_row_lock,
            payments=payments,
            pending_when_unavailable=settings.payments_fallback == "pending",
            crash_after=settings.saga_crash_after,
        )
        return await run_in_threadpool(place)


def _deprecated(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a deprecated read: its headers on 200, then the error statuses."""
    return {200: {"headers": DEPRECATED_HEADERS}, **problem_responses(*statuses)}


def page_links(request: Request, next_url: str | None) -> dict[str, Link]:
    """A collection page's links: ``self``, and ``next`` unless this is the last page."""
    links = {"self": Link(href=str(request.url))}
    if next_url is not None:
        links["next"] = Link(href=next_url)
    return links


@router.get(
    "",
    response_model=OrderPage,
    summary="List your orders, newest first (staff: everyone's)",
    deprecated=True,
    responses=_deprecated(400, 401, 422, 429),
)
def list_orders(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> OrderPage:
    """Cursor pagination: follow `next` (also in the `Link` header) until it is null."""
    page, after = orders.list_orders(
        session=session, user=user, limit=limit, cursor=cursor, n_plus_one=settings.n_plus_one
    )
    next_url = next_link(request, response, cursor=after)
    deprecate(response, successor=ORDERS_V2)
    return OrderPage(
        items=[OrderRead.model_validate(order) for order in page],
        next=next_url,
        links=page_links(request, next_url),
    )


@router.get(
    "/{order_id}",
    response_model=OrderRead,
    summary="One of your orders",
    deprecated=True,
    responses=_deprecated(401, 404, 422, 429),
)
def read_order(
    order_id: OrderId,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    response: Response,
) -> Order:
    """Someone else's order is a 404: the id's existence is not confirmed."""
    order = orders.get_order(
        session=session, order_id=order_id, user=user, check_owner=not settings.bola
    )
    deprecate(response, successor=f"{ORDERS_V2}/{order_id}")
    return order


@router.get(
    "/{order_id}/items",
    response_model=OrderLines,
    summary="The lines of one of your orders, each linked to its product",
    responses=problem_responses(401, 404, 422, 429),
)
def read_order_items(order_id: OrderId, session: SessionDep, user: CurrentUser) -> OrderLines:
    """The `items` link of an order leads here."""
    order = orders.get_order(session=session, order_id=order_id, user=user)
    lines = [OrderLineRead.model_validate(item) for item in order.items]
    links = {"self": Link(href=f"{router.prefix}/{order_id}/items"),
             "order": Link(href=f"{router.prefix}/{order_id}")}  # fmt: skip
    return OrderLines(items=lines, links=links)


@router.post(
    "/{order_id}/cancel",
    response_model=OrderRead,
    summary="Cancel an order and restore its stock",
    responses=problem_responses(401, 404, 409, 422, 429),
)
def cancel_order(
    order_id: OrderId, session: SessionDep, user: CurrentUser, cache: CacheDep, origin: OriginDep
) -> Order:
    """Placed, payment-pending or paid orders can be cancelled (409 otherwise); follow `cancel`."""
    return cancel_and_invalidate(
        session=session, order_id=order_id, user=user, cache=cache, origin=origin
    )


def cancel_and_invalidate(
    *, session: Session, order_id: int, user: User, cache: Cache, origin: audit.Origin
) -> Order:
    """Cancel, then drop the cached products whose stock came back (v1 and v2 both do this)."""
    order = orders.cancel_order(session=session, order_id=order_id, user=user, origin=origin)
    cache.invalidate_from_thread(*(product_key(item.product_id) for item in order.items))
    return order
