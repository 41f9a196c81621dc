"""Webhook endpoints: register (SSRF-checked), read, rotate the secret, enable, the log.

An endpoint is its owner's (admins see all); its secret is shown once, at registration
and at each rotation. Deliveries themselves run on the worker (``webhooks/delivery.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from sample_service.errors import BadRequest, NotFound
from sample_service.models import User
from sample_service.services.transactions import start_write
from sample_service.webhooks import (
    UnsafeTarget,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    check_target,
    new_secret,
)


def _commit(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise


def register(
    *, session: Session, user: User, url: str, event_types: Sequence[str], allow_loopback: bool
) -> WebhookEndpoint:
    """A new active endpoint with a fresh secret; 400 when the URL reaches a private address.

    400, not 422: the URL is well formed; where it leads is a rule no schema can state.
    """
    try:
        check_target(url, allow_loopback=allow_loopback)
    except UnsafeTarget as exc:
        raise BadRequest(str(exc), url=url) from None
    start_write(session)
    endpoint = WebhookEndpoint(
        owner_id=user.id,
        url=url,
        event_types=sorted(set(event_types)),
        secret=new_secret(),
        status="active",
        consecutive_failures=0,
    )
    session.add(endpoint)
    _commit(session)
    return endpoint


def get_endpoint(
    *, session: Session, endpoint_id: int, user: User, for_update: bool = False
) -> WebhookEndpoint:
    """The endpoint, if ``user`` owns it (or is an admin); 404 otherwise."""
    endpoint = session.get(WebhookEndpoint, endpoint_id, with_for_update=for_update)
    if endpoint is None or (endpoint.owner_id != user.id and user.role != "admin"):
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


def rotate_secret(
    *, session: Session, endpoint_id: int, user: User, overlap: dt.timedelta
) -> WebhookEndpoint:
    """A new secret; the old one still signs every delivery for ``overlap``.

    The receiver may switch to the new secret at any moment of the overlap without a single
    delivery failing: each carries a signature under both.
    """
    start_write(session)
    endpoint = get_endpoint(session=session, endpoint_id=endpoint_id, user=user, for_update=True)
    endpoint.previous_secret, endpoint.secret = endpoint.secret, new_secret()
    endpoint.previous_expires_at = dt.datetime.now(dt.UTC) + overlap
    _commit(session)
    return endpoint


def enable(*, session: Session, endpoint_id: int, user: User) -> WebhookEndpoint:
    """Enable a disabled endpoint again (its failure count starts over)."""
    start_write(session)
    endpoint = get_endpoint(session=session, endpoint_id=endpoint_id, user=user, for_update=True)
    endpoint.status, endpoint.consecutive_failures, endpoint.disabled_at = "active", 0, None
    _commit(session)
    return endpoint


def attempts(
    *, session: Session, endpoint_id: int, user: User, limit: int
) -> list[tuple[WebhookAttempt, WebhookDelivery]]:
    """The delivery log: the endpoint's latest attempts, oldest first, with their delivery."""
    get_endpoint(session=session, endpoint_id=endpoint_id, user=user)
    rows = session.execute(
        select(WebhookAttempt, WebhookDelivery)
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookAttempt.id.desc())
        .limit(limit)
    ).all()
    return [(a, d) for a, d in reversed(rows)]
