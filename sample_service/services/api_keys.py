"""API keys for machine clients: shown once, stored as digests, scoped, rotatable, revocable.

A key reads ``sk_<prefix>_<secret>``. The prefix is stored in clear so a key can be
found by primary lookup and recognised in a list or a leaked-secret scan; only the
SHA-256 of the whole key is stored (the secret has 256 random bits, so a slow hash
adds nothing). Rotation issues a new key and lets the old one live for an overlap
window, so a client can switch without an outage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from sample_service.errors import Forbidden, NotFound, Unauthorized
from sample_service.models import ApiKey, User
from sample_service.security import constant_time_equals
from sample_service.services import audit
from sample_service.services.transactions import start_write

MARK = "sk_"
# Methods a read-only key may use.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class IssuedKey:
    """A key row and its full value, which is never retrievable again."""

    key: ApiKey
    value: str


def is_api_key(credential: str) -> bool:
    """True when a credential has the API-key shape rather than a JWT's."""
    return credential.startswith(MARK)


def prefix_of(credential: str) -> str | None:
    """The visible prefix of ``sk_<prefix>_<secret>``, or None for another shape."""
    if not is_api_key(credential):
        return None
    prefix, sep, secret = credential[len(MARK) :].partition("_")
    return prefix if sep and prefix and secret else None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _new(session: Session, *, user_id: int, name: str, scope: str) -> IssuedKey:
    prefix = secrets.token_hex(4)
    value = f"{MARK}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(user_id=user_id, name=name, prefix=prefix, key_hash=_digest(value), scope=scope)
    session.add(key)
    session.flush()
    return IssuedKey(key=key, value=value)


def create(
    *, session: Session, user: User, name: str, scope: str, origin: audit.Origin
) -> IssuedKey:
    """Issue a key acting as ``user`` within ``scope`` (``read`` or ``write``)."""
    start_write(session)
    issued = _new(session, user_id=user.id, name=name, scope=scope)
    _record(session, "api_key.created", user, issued.key, origin, scope=scope)
    session.commit()
    return issued


def _record(
    session: Session, action: str, user: User, key: ApiKey, origin: audit.Origin, **detail: object
) -> None:
    audit.record(
        session=session,
        action=action,
        actor_id=user.id,
        entity="api_key",
        entity_id=key.id,
        origin=origin,
        detail={"prefix": key.prefix, **detail},
    )


def _owned(session: Session, user: User, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.user_id != user.id:
        raise NotFound(f"API key {key_id} does not exist")
    return key


def list_keys(*, session: Session, user: User) -> list[ApiKey]:
    """The user's keys, newest first (prefixes only; values are never kept)."""
    query = select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id.desc())
    return list(session.scalars(query))


def rotate(
    *, session: Session, user: User, key_id: int, overlap_seconds: int, origin: audit.Origin
) -> IssuedKey:
    """Issue a successor with the same name and scope; the old key ends after the overlap."""
    start_write(session)
    old = _owned(session, user, key_id)
    if not _live(old, _now()):
        raise NotFound(f"API key {key_id} is revoked or expired; create a new one")
    ends = _now() + dt.timedelta(seconds=overlap_seconds)
    old.expires_at = min(_aware(old.expires_at), ends) if old.expires_at else ends
    issued = _new(session, user_id=user.id, name=old.name, scope=old.scope)
    _record(session, "api_key.rotated", user, old, origin, successor=issued.key.prefix,
            overlap_seconds=overlap_seconds)  # fmt: skip
    session.commit()
    return issued


def revoke(*, session: Session, user: User, key_id: int, origin: audit.Origin) -> None:
    """End a key now; revoking a revoked key changes nothing (idempotent)."""
    start_write(session)
    key = _owned(session, user, key_id)
    if key.revoked_at is None:
        key.revoked_at = _now()
        _record(session, "api_key.revoked", user, key, origin)
    session.commit()


def _live(key: ApiKey, now: dt.datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or _aware(key.expires_at) > now)


def authenticate(*, session: Session, credential: str, method: str) -> User:
    """The user a key acts for; 401 for an unknown, revoked or expired key, 403 out of scope."""
    prefix = prefix_of(credential)
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
    if key is None or not constant_time_equals(key.key_hash, _digest(credential)):
        raise Unauthorized("unknown API key")
    if not _live(key, _now()):
        raise Unauthorized("this API key was revoked or has expired; use its successor")
    if key.scope == "read" and method not in READ_METHODS:
        raise Forbidden(f"API key {key.prefix} is read-only; {method} needs a write key")
    user = session.get(User, key.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("the account behind this key no longer exists or is disabled")
    return user
