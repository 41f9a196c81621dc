"""Staff move an order forward; each step is an event (webhooks, the order's stream)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from sample_service.api.deps import SessionDep, StaffUser, path_id
from sample_service.api.problems import problem_responses
from sample_service.models import Order
from sample_service.schemas.orders import OrderRead
from sample_service.schemas.webhooks import StatusChange
from sample_service.services import fulfilment

router = APIRouter(prefix="/v1/orders", tags=["orders"])

OrderId = Annotated[int, path_id("Order", 101)]


@router.post(
    "/{order_id}/status",
    response_model=OrderRead,
    summary="Mark an order paid, then shipped (staff)",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
def change_order_status(
    order_id: OrderId, body: StatusChange, session: SessionDep, user: StaffUser
) -> Order:
    """Only the next step is allowed (409 otherwise); it commits with its outbox event."""
    return fulfilment.advance(session=session, order_id=order_id, user=user, status=body.status)
