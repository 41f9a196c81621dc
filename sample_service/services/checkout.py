"""Checkout as a saga: stock reserved → payment authorized → order confirmed, each step recorded.

The stock is reserved in the order's own transaction (``orders.place_order``); the payment is
a call to another service, so it cannot share that transaction. Each step is therefore a
row in ``saga_steps`` committed on its own, and ``settle`` drives an order forward from
whatever step it reached last. That makes three things safe:

- a failed payment is compensated: the stock goes back and the order is cancelled;
- a crash between steps is recovered: ``recover`` finds sagas idle too long and settles them
  (the provider's idempotency key is the order's, so asking again never charges twice);
- a repeated step does nothing twice: each step is recorded once per order (unique key).

An ambiguous failure (a timeout after the provider may have authorized) that ends in
compensation can leave an authorization behind; providers let uncaptured authorizations
expire, which is why authorizing is safe to give up on and capturing would not be.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from sample_service.errors import PaymentRequired, Unavailable
from sample_service.models import IdempotencyKey, Order, Product, SagaStep
from sample_service.resilience.payments import PaymentDeclined, PaymentsClient, PaymentUnavailable
from sample_service.schemas.orders import OrderRead
from sample_service.services.transactions import start_write

if TYPE_CHECKING:
    from sample_service.config import Settings
    from sample_service.db import Database

FINAL_STEPS = frozenset({"order_confirmed", "stock_released"})
Now = Callable[[], dt.datetime]
log = logging.getLogger("sample_service.checkout")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def record(
    session: Session, *, order_id: int, step: str, at: dt.datetime, detail: str | None = None
) -> bool:
    """Add a step inside the caller's transaction; False when it was already recorded."""
    known = session.scalar(
        select(SagaStep.id).where(SagaStep.order_id == order_id, SagaStep.step == step)
    )
    if known is not None:
        return False
    session.add(SagaStep(order_id=order_id, step=step, detail=detail, created_at=at))
    session.flush()
    return True


def steps(session: Session, order_id: int) -> list[str]:
    """The steps an order's saga has recorded, in order."""
    query = select(SagaStep.step).where(SagaStep.order_id == order_id).order_by(SagaStep.id)
    return list(session.scalars(query))


def settle(
    *,
    session: Session,
    order_id: int,
    payments: PaymentsClient,
    pending_when_unavailable: bool = False,
    crash_after: str = "",
    now: Now = _utcnow,
) -> str:
    """Drive one order's saga forward from its last step; returns the step it ends on.

    Raises ``PaymentRequired`` (declined) or ``Unavailable`` (no answer) after compensating;
    with ``pending_when_unavailable`` the order waits with status ``payment_pending`` instead.
    ``crash_after`` is the lesson switch that kills the process right after that step.
    """
    done = steps(session, order_id)
    if FINAL_STEPS & set(done):
        return done[-1]
    if "payment_authorized" not in done:
        order = session.get_one(Order, order_id)
        session.commit()  # hold no transaction (and on SQLite no lock) while the provider works
        key = f"order-{order_id}"
        try:
            payment = payments.authorize(amount_cents=order.total_cents, reference=key, key=key)
        except PaymentDeclined:
            compensate(session=session, order_id=order_id, reason="declined", now=now)
            raise PaymentRequired(f"the payment for order {order_id} was declined") from None
        except PaymentUnavailable as exc:
            if pending_when_unavailable:
                return _pending(session=session, order_id=order_id, reason=exc.reason, now=now)
            compensate(session=session, order_id=order_id, reason=exc.reason, now=now)
            retry_after = str(max(1, round(exc.retry_after)))
            raise Unavailable(
                f"payment could not be taken ({exc.reason}); the order was not placed",
                headers={"Retry-After": retry_after},
            ) from None
        _step(session, order_id, "payment_authorized", now=now, detail=str(payment.get("id")))
        crash_if(crash_after, "payment_authorized")
    return _confirm(session=session, order_id=order_id, now=now)


def compensate(*, session: Session, order_id: int, reason: str, now: Now = _utcnow) -> None:
    """Undo the reservation: stock back, order cancelled, the request's key freed for a retry."""
    try:
        start_write(session)
        if "stock_released" in steps(session, order_id):
            session.rollback()
            return  # already compensated: a repeat does nothing
        record(session, order_id=order_id, step="payment_failed", at=now(), detail=reason[:200])
        record(session, order_id=order_id, step="stock_released", at=now())
        order = session.get_one(Order, order_id, with_for_update=True)
        ids = sorted(item.product_id for item in order.items)
        products = session.scalars(
            select(Product).where(Product.id.in_(ids)).order_by(Product.id).with_for_update()
        )
        by_id = {product.id: product for product in products}
        for item in order.items:
            product = by_id[item.product_id]
            product.stock += item.quantity
            product.version += 1
            product.updated_at = now()
        order.status = "cancelled"
        order.updated_at = now()
        claim = _claim(session, order_id)
        if claim is not None:
            session.delete(claim)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    log.info("order %s compensated: %s", order_id, reason)


def recover(
    *,
    session: Session,
    payments: PaymentsClient,
    idle_seconds: float,
    now: Now = _utcnow,
) -> dict[int, str]:
    """Settle every saga idle for ``idle_seconds`` or more (run at start and periodically).

    Returns the step each one reached; a provider still unreachable leaves it pending for
    the next pass rather than guessing.
    """
    cutoff = now() - dt.timedelta(seconds=idle_seconds)
    finished = select(SagaStep.order_id).where(SagaStep.step.in_(FINAL_STEPS))
    open_steps = select(SagaStep).where(SagaStep.order_id.not_in(finished)).order_by(SagaStep.id)
    latest = {row.order_id: row for row in session.scalars(open_steps)}
    stuck = [order_id for order_id, row in latest.items() if _aware(row.created_at) <= cutoff]
    session.commit()
    reached: dict[int, str] = {}
    for order_id in stuck:
        try:
            reached[order_id] = settle(
                session=session,
                order_id=order_id,
                payments=payments,
                pending_when_unavailable=True,
                now=now,
            )
        except PaymentRequired:
            reached[order_id] = "stock_released"
    if reached:
        log.info("recovered sagas: %s", reached)
    return reached


async def sweep(*, database: Database, payments: PaymentsClient, settings: Settings) -> None:
    """Recover stuck sagas at start, then every ``saga_sweep_seconds`` (a background task)."""
    from sample_service.db import session_scope

    def once() -> None:
        with session_scope(database) as session:
            recover(session=session, payments=payments, idle_seconds=settings.saga_idle_seconds)

    while True:
        try:
            await asyncio.to_thread(once)
        except Exception:  # a sweep that fails is retried at the next one, never fatal
            log.exception("saga recovery failed")
        await asyncio.sleep(settings.saga_sweep_seconds)


def finish_claim(claim: IdempotencyKey, order: Order, status_code: int) -> str:
    """Store the response for replays of the placing request; returns its JSON body."""
    body = OrderRead.model_validate(order).model_dump_json()
    claim.status_code = status_code
    claim.response_body = body
    return body


def _claim(session: Session, order_id: int) -> IdempotencyKey | None:
    """The placing request's idempotency record, found by the order it created."""
    return session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.resource_path == f"/v1/orders/{order_id}")
    )


def _step(
    session: Session, order_id: int, step: str, *, now: Now, detail: str | None = None
) -> None:
    try:
        start_write(session)
        record(session, order_id=order_id, step=step, at=now(), detail=detail)
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _pending(*, session: Session, order_id: int, reason: str, now: Now) -> str:
    try:
        start_write(session)
        record(session, order_id=order_id, step="payment_pending", at=now(), detail=reason[:200])
        order = session.get_one(Order, order_id, with_for_update=True)
        order.status = "payment_pending"
        order.updated_at = now()
        claim = _claim(session, order_id)
        if claim is not None and claim.status_code is None:
            finish_claim(claim, order, 202)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return "payment_pending"


def _confirm(*, session: Session, order_id: int, now: Now) -> str:
    """Mark the order paid, unless it was cancelled while its payment was pending."""
    try:
        start_write(session)
        order = session.get_one(Order, order_id, with_for_update=True)
        if order.status == "cancelled":  # cancelled while pending: its saga was closed then
            session.rollback()
            return "stock_released"
        if record(session, order_id=order_id, step="order_confirmed", at=now()):
            order.status = "paid"
            order.updated_at = now()
            claim = _claim(session, order_id)
            if claim is not None:
                finish_claim(claim, order, 201)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return "order_confirmed"


def crash_if(crash_after: str, step: str) -> None:
    """The crash-recovery lesson: die right after a step, as a killed process would."""
    if crash_after == step:
        log.error("lab switch saga_crash_after=%s: exiting now", step)
        os._exit(70)


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
