"""Orders: idempotent placement, stock that never oversells, cancellation, ownership.

Placing an order is one transaction: claim the Idempotency-Key, lock the
products, check and decrement stock, write the order, store the response for
replays. If any step fails, all of it rolls back, the key included, so a retry
with the same key runs afresh.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import Delete, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from sample_service.errors import BadRequest, Conflict, NotFound, OutOfStock, Unprocessable
from sample_service.messaging.outbox import record_order_event
from sample_service.models import IdempotencyKey, Order, OrderItem, Product, User
from sample_service.pagination import Cursor, after
from sample_service.resilience.payments import PaymentsClient
from sample_service.schemas.catalog import as_utc
from sample_service.schemas.orders import CANCELLABLE, OrderCreate, OrderRead
from sample_service.services import audit, checkout
from sample_service.services.transactions import start_write
from sample_service.services.users import STAFF_ROLES

# How long a stored Idempotency-Key answer is replayed (the service's setting overrides it).
DEFAULT_RETENTION = dt.timedelta(hours=24)


@dataclass(frozen=True)
class PlacedOrder:
    """The response to a placement, first time or replayed: JSON body, status, location."""

    body: str
    status_code: int
    location: str
    product_ids: tuple[int, ...]
    replayed: bool


def check_lines(order: OrderCreate) -> None:
    """400 when a product appears twice: its quantities belong on one line."""
    ids = [item.product_id for item in order.items]
    if len(set(ids)) != len(ids):
        raise BadRequest("each product may appear once in an order; add up the quantities")


def fingerprint(order: OrderCreate) -> str:
    """A digest of the request body: the same key with another body is refused, not replayed."""
    return hashlib.sha256(order.model_dump_json().encode()).hexdigest()


def _expired(cutoff: dt.datetime) -> Delete:
    """Delete the keys first used before ``cutoff`` (narrow it with ``.where``)."""
    # A UTC cutoff: SQLite compares it as UTC text (its CURRENT_TIMESTAMP), PostgreSQL as an instant.
    return delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)


def purge_expired_keys(*, session: Session, retention: dt.timedelta = DEFAULT_RETENTION) -> int:
    """Delete every key older than ``retention``; how many went. Expired keys replay nothing."""
    try:
        start_write(session)
        result = session.execute(_expired(dt.datetime.now(dt.UTC) - retention))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return int(result.rowcount)  # type: ignore[attr-defined]


def _replay(
    *, session: Session, user_id: int, key: str, digest: str, cutoff: dt.datetime
) -> PlacedOrder | None:
    """The stored first response for this key, ``None`` if the key is new or expired."""
    row = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
    return replay_of(row, key=key, digest=digest, cutoff=cutoff)


def replay_of(
    row: IdempotencyKey | None, *, key: str, digest: str, cutoff: dt.datetime
) -> PlacedOrder | None:
    """What a stored key answers: its first response, ``None`` when absent or expired.

    A different body under the key is 422; a first request still in flight is 409.
    """
    if row is None or as_utc(row.created_at) < cutoff:
        return None
    if row.request_hash != digest:
        raise Unprocessable(
            f"Idempotency-Key {key!r} was first used with a different body; "
            "use a new key for a new order"
        )
    if row.status_code is None or row.response_body is None:
        raise Conflict(f"a request with Idempotency-Key {key!r} is still in progress; retry")
    order = OrderRead.model_validate_json(row.response_body)
    return PlacedOrder(
        body=row.response_body,
        status_code=row.status_code,
        location=row.resource_path or "",
        product_ids=tuple(item.product_id for item in order.items),
        replayed=True,
    )


def place_order(
    *,
    session: Session,
    user_id: int,
    order: OrderCreate,
    idempotency_key: str,
    retention: dt.timedelta = DEFAULT_RETENTION,
    row_lock: bool = True,
    payments: PaymentsClient | None = None,
    pending_when_unavailable: bool = False,
    crash_after: str = "",
) -> PlacedOrder:
    """Place an order once per key: stock checked and decremented under a lock, 409 when short.

    Concurrent requests with one key: PostgreSQL makes the second INSERT of the
    key wait for the first transaction, then fail on the unique constraint, and
    the loser replays the winner's stored response; SQLite's write lock does the
    same by serialising the transactions. A key older than ``retention`` is
    forgotten: the request with it is a new one.

    ``row_lock=False`` is the lesson switch ``no_row_lock``: stock is read before the
    write transaction, without a lock, and the stale number is written back.

    With ``payments`` (a provider is configured) this transaction is the saga's first step,
    stock reserved, and ``checkout.settle`` takes the payment and confirms the order.
    """
    check_lines(order)
    digest = fingerprint(order)
    cutoff = dt.datetime.now(dt.UTC) - retention
    replay = _replay(
        session=session, user_id=user_id, key=idempotency_key, digest=digest, cutoff=cutoff
    )
    if replay is not None:
        return replay
    ids = [item.product_id for item in order.items]
    # DELIBERATELY RACY when the switch is on: these rows are stale by the time they are written.
    unlocked = None if row_lock else _live_products(session, ids, lock=False)
    try:
        start_write(session)
        session.execute(_expired(cutoff).where(IdempotencyKey.user_id == user_id,
                                               IdempotencyKey.key == idempotency_key))  # fmt: skip
        claim = IdempotencyKey(user_id=user_id, key=idempotency_key, request_hash=digest)
        session.add(claim)
        session.flush()
        products = unlocked if unlocked is not None else _live_products(session, ids, lock=True)
        placed = _create_order(session=session, user_id=user_id, order=order, products=products)
        claim.resource_path = f"/v1/orders/{placed.id}"
        record_order_event(session, kind="order.placed", order=placed)  # commits with the order
        if payments is None:
            checkout.finish_claim(claim, placed, 201)
        else:
            checkout.record(
                session, order_id=placed.id, step="stock_reserved", at=placed.created_at
            )
        session.commit()
    except IntegrityError:
        session.rollback()
        replay = _replay(
            session=session, user_id=user_id, key=idempotency_key, digest=digest, cutoff=cutoff
        )
        if replay is None:
            raise
        return replay
    except BaseException:
        session.rollback()
        raise
    if payments is not None:
        checkout.crash_if(crash_after, "stock_reserved")
        checkout.settle(
            session=session,
            order_id=placed.id,
            payments=payments,
            pending_when_unavailable=pending_when_unavailable,
            crash_after=crash_after,
        )
        session.refresh(claim)
    return PlacedOrder(
        body=claim.response_body or "",
        status_code=claim.status_code or 201,
        location=f"/v1/orders/{placed.id}",
        product_ids=tuple(item.product_id for item in order.items),
        replayed=False,
    )


def _live_products(
    session: Session, product_ids: list[int], *, lock: bool = True
) -> dict[int, Product]:
    """Live products by id, row-locked in id order (a fixed order cannot deadlock)."""
    query = (
        select(Product)
        .where(Product.id.in_(product_ids), Product.deleted_at.is_(None))
        .order_by(Product.id)
    )
    rows = session.scalars(query.with_for_update() if lock else query)
    return {product.id: product for product in rows}


def _create_order(
    *, session: Session, user_id: int, order: OrderCreate, products: dict[int, Product]
) -> Order:
    """Check and decrement the stock of ``products``, write the order (caller's transaction)."""
    placed = Order(user_id=user_id, status="placed", total_cents=0)
    now = dt.datetime.now(dt.UTC)
    for item in order.items:
        product = products.get(item.product_id)
        if product is None:
            raise Conflict(f"product {item.product_id} does not exist or was withdrawn")
        if product.stock < item.quantity:
            raise OutOfStock(
                f"product {product.id} has {product.stock} in stock, {item.quantity} asked",
                product_id=product.id,
                available=product.stock,
            )
        product.stock -= item.quantity
        product.version += 1
        product.updated_at = now
        placed.items.append(
            OrderItem(
                product_id=product.id,
                quantity=item.quantity,
                unit_price_cents=product.price_cents,
            )
        )
        placed.total_cents += item.quantity * product.price_cents
    session.add(placed)
    session.flush()
    session.refresh(placed, ["created_at"])
    return placed


ORDER_SORT = "-id"


def list_orders(
    *,
    session: Session,
    user: User,
    limit: int,
    cursor: str | None = None,
    n_plus_one: bool = False,
) -> tuple[list[Order], str | None]:
    """A page of orders, newest first: the user's own, or everyone's for staff.

    Returns the page and the cursor of the next one (``None`` on the last page).
    ``n_plus_one`` is the lesson switch: items load lazily, one query per order.
    """
    query = select(Order).order_by(Order.id.desc()).limit(limit + 1)
    if user.role not in STAFF_ROLES:
        query = query.where(Order.user_id == user.id)
    if cursor is not None:
        position = Cursor.decode(cursor, sort=ORDER_SORT)
        query = query.where(after(Order.id, Order.id, position, descending=True))
    if not n_plus_one:
        query = query.options(selectinload(Order.items))
    orders = list(session.scalars(query))
    page = orders[:limit]
    if len(orders) <= limit:
        return page, None
    return page, Cursor(sort=ORDER_SORT, value=page[-1].id, last_id=page[-1].id).encode()


def items_of_orders(*, session: Session, order_ids: list[int]) -> dict[int, list[OrderItem]]:
    """The items of each order, in one query (a DataLoader's batch)."""
    found: dict[int, list[OrderItem]] = {order_id: [] for order_id in order_ids}
    query = select(OrderItem).where(OrderItem.order_id.in_(order_ids)).order_by(OrderItem.id)
    for item in session.scalars(query):
        found[item.order_id].append(item)
    return found


def get_order(
    *,
    session: Session,
    order_id: int,
    user: User,
    check_owner: bool = True,
    for_update: bool = False,
) -> Order:
    """An order the user may see; someone else's is ``NotFound``, not forbidden.

    A 404 does not confirm that the id exists. ``check_owner=False`` is the
    BOLA lesson switch: any signed-in user reads any order. ``for_update``
    locks the row so two cancellations cannot both restore the stock.
    """
    query = select(Order).where(Order.id == order_id).options(selectinload(Order.items))
    order = session.scalar(query.with_for_update() if for_update else query)
    visible = order is not None and (
        not check_owner or order.user_id == user.id or user.role in STAFF_ROLES
    )
    if order is None or not visible:
        raise NotFound(f"order {order_id} does not exist")
    return order


def cancel_order(
    *, session: Session, order_id: int, user: User, origin: audit.Origin = audit.NO_ORIGIN
) -> Order:
    """Cancel a placed, pending or paid order and put its items back in stock; 409 once shipped."""
    try:
        start_write(session)
        order = get_order(session=session, order_id=order_id, user=user, for_update=True)
        if order.status not in CANCELLABLE:
            raise Conflict(f"order {order_id} is {order.status} and can no longer be cancelled")
        products = _live_products(session, sorted(item.product_id for item in order.items))
        now = dt.datetime.now(dt.UTC)
        for item in order.items:
            product = products.get(item.product_id)
            if product is not None:  # a withdrawn product gets no stock back
                product.stock += item.quantity
                product.version += 1
                product.updated_at = now
        audit.record(
            session=session,
            action="order.cancelled",
            actor_id=user.id,
            entity="order",
            entity_id=order.id,
            origin=origin,
            detail={"from": order.status, "total_cents": order.total_cents},
        )
        if order.status == "payment_pending":  # close its saga: recovery must not charge it
            checkout.record(session, order_id=order.id, step="stock_released", at=now,
                            detail="cancelled while the payment was pending")  # fmt: skip
        order.status = "cancelled"
        order.updated_at = now
        record_order_event(session, kind="order.cancelled", order=order)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return order
