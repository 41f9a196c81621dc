"""The shop's tables as typed SQLAlchemy 2.0 models.

Every table of the domain lives here so the migrations, the seed generator and
labkit's ER diagrams read one source. Models hold constraints and relationships,
never business rules (those live in ``services/``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Predictable constraint and index names: Alembic needs them to drop constraints,
# and the lessons refer to them by name (``ck_products_stock_non_negative``).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("customer", "staff", "admin")
API_KEY_SCOPES = ("read", "write")
ORDER_STATUSES = ("placed", "payment_pending", "paid", "shipped", "cancelled")
# Checkout saga steps (services/checkout.py): forward steps, then the compensating ones.
SAGA_STEPS = (
    "stock_reserved",
    "payment_pending",
    "payment_authorized",
    "order_confirmed",
    "payment_failed",
    "stock_released",
)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# The largest id inputs accept: within BIGINT, so a huge one is a 422 and not a driver error,
# and exact as a JSON number (I-JSON, RFC 7493), so a documented maximum is not rounded up.
MAX_ID = 2**53 - 1


def _now_column() -> Mapped[dt.datetime]:
    """A timezone-aware timestamp set by the database on insert."""
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __repr__(self) -> str:
        key = getattr(self, "id", None)
        return f"<{type(self).__name__} id={key!r}>"


class User(Base):
    """A person who can sign in: a customer, a staff member or an admin."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role_known"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="customer", server_default="customer")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[dt.datetime] = _now_column()
    # Personal and secret fields hold AES-256-GCM ciphertext (``encryption.py``), never plaintext.
    phone_encrypted: Mapped[str | None] = mapped_column(String(400))
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(400))
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The last TOTP time step accepted: a code is single use within its window.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    orders: Mapped[list[Order]] = relationship(back_populates="user")
    reviews: Mapped[list[Review]] = relationship(back_populates="user")

    def __repr__(self) -> str:
        return f"<User id={self.id!r} email={self.email!r} role={self.role!r}>"


class Category(Base):
    """A product category; products belong to exactly one."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")

    products: Mapped[list[Product]] = relationship(back_populates="category")

    def __repr__(self) -> str:
        return f"<Category id={self.id!r} slug={self.slug!r}>"


class Product(Base):
    """Something for sale: money in integer cents, stock never below zero.

    ``version`` grows on every write and backs the ETag and ``If-Match``
    (optimistic concurrency); ``deleted_at`` marks a soft delete.
    """

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_non_negative"),
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    sku: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    price_cents: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[dt.datetime] = _now_column()
    updated_at: Mapped[dt.datetime] = _now_column()
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    category: Mapped[Category] = relationship(back_populates="products")
    reviews: Mapped[list[Review]] = relationship(back_populates="product")

    def __repr__(self) -> str:
        return f"<Product id={self.id!r} sku={self.sku!r} stock={self.stock!r}>"


class Order(Base):
    """A customer's order; its total is the sum of its items at order time."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"status IN {ORDER_STATUSES!r}", name="status_known"),
        CheckConstraint("total_cents >= 0", name="total_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="placed", server_default="placed")
    total_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = _now_column()
    updated_at: Mapped[dt.datetime] = _now_column()

    user: Mapped[User] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Order id={self.id!r} status={self.status!r} total_cents={self.total_cents!r}>"


class OrderItem(Base):
    """One product line of an order, with the price paid."""

    __tablename__ = "order_items"
    __table_args__ = (
        UniqueConstraint("order_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_cents >= 0", name="unit_price_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()


class Review(Base):
    """A rating of a product; one per user and product."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("user_id", "product_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[dt.datetime] = _now_column()

    user: Mapped[User] = relationship(back_populates="reviews")
    product: Mapped[Product] = relationship(back_populates="reviews")


class IdempotencyKey(Base):
    """The first response to a keyed request, replayed when the key comes back.

    ``status_code`` is NULL while the first request is still in flight.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    resource_path: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = _now_column()


class RefreshToken(Base):
    """A refresh token, stored as a hash; rotation chains tokens of one family.

    Presenting a token that was already used revokes its whole family.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[dt.datetime] = _now_column()
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RecoveryCode(Base):
    """A single-use MFA recovery code, stored as a SHA-256 digest (the code is random)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    """A machine client's key: shown once, stored as a digest, found by its visible prefix.

    ``expires_at`` is set when the key is rotated (the overlap window) and
    ``revoked_at`` when it is revoked; either ends it.
    """

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(f"scope IN {API_KEY_SCOPES!r}", name="scope_known"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = _now_column()
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<ApiKey id={self.id!r} prefix={self.prefix!r} scope={self.scope!r}>"


class AuditLog(Base):
    """Who did what, when, from where, under which request id; rows are only ever added."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _now_column()
    ip: Mapped[str | None] = mapped_column(String(45))


class SagaStep(Base):
    """One step of an order's checkout saga, recorded once: a repeat delivery adds nothing."""

    __tablename__ = "saga_steps"
    __table_args__ = (
        UniqueConstraint("order_id", "step"),
        CheckConstraint(f"step IN {SAGA_STEPS!r}", name="step_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    step: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = _now_column()


JOB_STATUSES = ("queued", "running", "done", "dead", "cancelled")


class Job(Base):
    """A unit of work in the shop's own queue: a slow export or one published event.

    A worker claims a row by moving ``available_at`` past now (its visibility timeout);
    a worker that dies leaves the row to be claimed again once that time passes, and
    after ``max_attempts`` claims the row goes ``dead`` (the dead-letter state). Jobs that
    share a ``key`` are claimed one at a time, oldest first (per-order ordering).
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status_known"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        Index("ix_jobs_claim", "queue", "status", "available_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    queue: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str | None] = mapped_column(String(36))
    # Jobs with one key (an order's id) run one at a time, in id order.
    key: Mapped[str | None] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="queued", server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    available_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    locked_by: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = _now_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<Job id={self.id!r} kind={self.kind!r} status={self.status!r}>"


class OutboxEvent(Base):
    """A domain event written in the same transaction as the change it reports.

    The relay publishes rows whose ``published_at`` is NULL; a crash between publishing
    and marking publishes the row again, which the consumer's processed ids absorb.
    """

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    topic: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = _now_column()
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class ProcessedMessage(Base):
    """A message id a consumer has applied: the second delivery of it changes nothing."""

    __tablename__ = "processed_messages"

    consumer: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    processed_at: Mapped[dt.datetime] = _now_column()


class ProductSales(Base):
    """Units sold per product, a read model kept from order events (eventually consistent)."""

    __tablename__ = "product_sales"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    units: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[dt.datetime] = _now_column()


class DailySales(Base):
    """Orders, units and revenue per day of ordering, kept from order events (the streaming
    twin of the batch ETL's aggregate; cancelled orders are taken back out)."""

    __tablename__ = "daily_sales"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    units: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    revenue_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    updated_at: Mapped[dt.datetime] = _now_column()


# Webhooks: endpoints, one delivery per (endpoint, event), one row per attempt; the attempts
# are the delivery log a receiver's owner reads to see retries.
ENDPOINT_STATUSES = ("active", "disabled")
DELIVERY_STATUSES = ("pending", "delivered", "failed", "skipped")


class WebhookEndpoint(Base):
    """A receiver's URL, the event types it wants and its signing secrets.

    During a rotation ``previous_secret`` stays valid until ``previous_expires_at``: every
    delivery is signed with both, so the receiver can switch secrets at any moment.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (CheckConstraint(f"status IN {ENDPOINT_STATUSES!r}", name="status_known"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), default="active", server_default="active")
    # Failed attempts in a row, across deliveries; any success resets it.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(Base):
    """One event for one endpoint; its ``message_id`` is the ``webhook-id`` of every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "message_id"),  # fan-out twice, deliver once
        CheckConstraint(f"status IN {DELIVERY_STATUSES!r}", name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Base):
    """One POST to the receiver: when, what it answered, how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


metadata = Base.metadata
