"""Orders, version 2: money as ``Money`` objects and cancellation as a sub-resource.

Both are breaking changes for v1 clients, so they live under ``/v2`` while ``/v1``
keeps answering (with ``Deprecation`` and ``Sunset``) until its sunset date.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from sample_service.api.deps import CacheDep, CurrentUser, OriginDep, SessionDep, SettingsDep
from sample_service.api.orders import OrderId, cancel_and_invalidate, page_links
from sample_service.api.problems import problem_responses
from sample_service.pagination import next_link
from sample_service.schemas.orders import ORDERS_V2, OrderPageV2, OrderRead, OrderReadV2
from sample_service.services import orders

router = APIRouter(prefix=ORDERS_V2, tags=["orders v2"])


@router.get(
    "",
    response_model=OrderPageV2,
    summary="List your orders, newest first (staff: everyone's)",
    responses=problem_responses(400, 401, 422, 429),
)
def list_orders_v2(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> OrderPageV2:
    """Follow `links.next` until it is absent."""
    page, after = orders.list_orders(
        session=session, user=user, limit=limit, cursor=cursor, n_plus_one=settings.n_plus_one
    )
    items = [OrderReadV2.of(OrderRead.model_validate(order)) for order in page]
    return OrderPageV2(
        items=items, links=page_links(request, next_link(request, response, cursor=after))
    )


@router.get(
    "/{order_id}",
    response_model=OrderReadV2,
    summary="One of your orders",
    responses=problem_responses(401, 404, 422, 429),
)
def read_order_v2(
    order_id: OrderId, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> OrderReadV2:
    """Someone else's order is a 404, as in v1."""
    order = orders.get_order(
        session=session, order_id=order_id, user=user, check_owner=not settings.bola
    )
    return OrderReadV2.of(OrderRead.model_validate(order))


@router.post(
    "/{order_id}/cancellation",
    response_model=OrderReadV2,
    status_code=200,
    summary="Cancel an order and restore its stock",
    responses=problem_responses(401, 404, 409, 422, 429),
)
def cancel_order_v2(
    order_id: OrderId, session: SessionDep, user: CurrentUser, cache: CacheDep, origin: OriginDep
) -> OrderReadV2:
    """v1's `/cancel` verb became a cancellation resource; follow the `cancel` link."""
    order = cancel_and_invalidate(
        session=session, order_id=order_id, user=user, cache=cache, origin=origin
    )
    return OrderReadV2.of(OrderRead.model_validate(order))
