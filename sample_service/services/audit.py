"""The audit trail: security-relevant actions, appended through this module only.

Every writer adds its row in the same transaction as the change it records, so an
action and its entry commit or roll back together. Rows are never updated or
deleted here. ``detail`` refuses keys that name secrets: what was done and to
which object is recorded, never a password, code, token or key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sample_service.models import AuditLog
from sample_service.pagination import Cursor, after
from sample_service.services.transactions import start_write

ACTIONS = (
    "login.succeeded",
    "login.failed",
    "mfa.enabled",
    "mfa.disabled",
    "api_key.created",
    "api_key.rotated",
    "api_key.revoked",
    "user.role_changed",
    "order.cancelled",
    "lab.switches_changed",
    "encryption.rotated",
)
_SECRET_WORDS = ("password", "secret", "token", "code", "key_value", "otp")
AUDIT_SORT = "-id"


@dataclass(frozen=True)
class Origin:
    """Where a request came from: its id and the client address."""

    request_id: str | None = None
    ip: str | None = None


# Calls made outside HTTP (a script, a test) still write an entry, with no origin.
NO_ORIGIN = Origin()


def record(
    *,
    session: Session,
    action: str,
    actor_id: int | None,
    entity: str,
    entity_id: object,
    origin: Origin,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one entry to the caller's transaction; the caller commits."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; add it to ACTIONS")
    secret = [name for name in detail or {} if any(w in name.lower() for w in _SECRET_WORDS)]
    if secret:
        raise ValueError(f"audit detail keys {secret} look like secrets; record what, not how")
    session.add(
        AuditLog(
            actor_id=actor_id,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            detail=detail or {},
            request_id=origin.request_id,
            ip=origin.ip,
        )
    )


def record_now(
    *,
    session: Session,
    action: str,
    actor_id: int | None,
    entity: str,
    entity_id: object,
    origin: Origin,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one entry in a transaction of its own (for changes that are not rows)."""
    start_write(session)
    record(session=session, action=action, actor_id=actor_id, entity=entity,
           entity_id=entity_id, origin=origin, detail=detail)  # fmt: skip
    session.commit()


def list_entries(
    *, session: Session, limit: int, cursor: str | None = None, action: str | None = None
) -> tuple[list[AuditLog], str | None]:
    """A page of entries, newest first, optionally of one action, and the next cursor."""
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit + 1)
    if action is not None:
        query = query.where(AuditLog.action == action)
    if cursor is not None:
        position = Cursor.decode(cursor, sort=AUDIT_SORT)
        query = query.where(after(AuditLog.id, AuditLog.id, position, descending=True))
    rows = list(session.scalars(query))
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    return page, Cursor(sort=AUDIT_SORT, value=page[-1].id, last_id=page[-1].id).encode()
