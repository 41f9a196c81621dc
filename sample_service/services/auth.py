"""Sign-in, refresh-token rotation with reuse detection, and sign-out.

Refresh tokens are opaque ``<row id>.<secret>`` strings: the id finds the row by
primary key, and the secret's SHA-256 digest is compared in constant time, so
neither the lookup nor the comparison leaks through timing how close a guess
was. Only digests are stored. Tokens are single use: each refresh marks the
presented token used and issues the next one of the same family. A used token presented again means it was copied, so the whole family
is revoked and both the thief and the victim must sign in again.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from sample_service.config import Settings
from sample_service.encryption import cipher_from_settings
from sample_service.errors import MfaRequired, Unauthorized
from sample_service.models import RefreshToken, User
from sample_service.schemas.auth import TokenPair
from sample_service.security import (
    constant_time_equals,
    create_access_token,
    new_family_id,
    new_refresh_token,
    token_digest,
    verify_password,
)
from sample_service.services import audit, mfa
from sample_service.services.transactions import start_write
from sample_service.services.users import find_by_email
from sample_service.text import parse_id


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _issue(*, session: Session, user: User, family_id: str, settings: Settings) -> TokenPair:
    """Add a refresh token row and sign an access token; the caller commits."""
    secret = new_refresh_token()
    row = RefreshToken(
        user_id=user.id,
        family_id=family_id,
        token_hash=token_digest(secret),
        issued_at=_now(),
        expires_at=_now() + dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
    )
    session.add(row)
    session.flush()  # assigns the id the token carries
    access = create_access_token(
        user_id=user.id,
        role=user.role,
        secret=settings.jwt_secret,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    return TokenPair(
        access_token=access,
        expires_in=settings.access_token_ttl_seconds,
        refresh_token=f"{row.id}.{secret}",
    )


def _refuse(
    session: Session, *, email: str, user: User | None, origin: audit.Origin, reason: str
) -> None:
    """Record a failed sign-in (committed: the refusal must not roll it back)."""
    audit.record(
        session=session,
        action="login.failed",
        actor_id=user.id if user else None,
        entity="user",
        entity_id=user.id if user else "unknown",
        origin=origin,
        detail={"email": email, "reason": reason},
    )
    session.commit()


def login(
    *,
    session: Session,
    email: str,
    password: str,
    settings: Settings,
    otp: str | None = None,
    origin: audit.Origin = audit.NO_ORIGIN,
) -> TokenPair:
    """Check the password (and the one-time code once MFA is on), then start a token family.

    The code is required of enrolled users whose role is in ``mfa_required_roles`` (staff and
    admin by default); others enrolled may send it, and a wrong one is refused all the same.

    The same message whether the email or the password is wrong, so the
    endpoint does not confirm which accounts exist. With the ``sign_in_timing_leak``
    lesson switch an unknown email skips the hash, and response time tells.
    """
    user = find_by_email(session=session, email=email)
    if user is None and settings.sign_in_timing_leak:
        ok = False
    else:
        ok = verify_password(password, user.password_hash if user else None)
    start_write(session)
    if user is None or not ok or not user.is_active:
        _refuse(session, email=email, user=user, origin=origin, reason="password")
        raise Unauthorized("email or password is wrong")
    method = "none"
    if user.totp_enabled_at is not None and (otp or user.role in settings.mfa_required_roles):
        if not otp:
            _refuse(session, email=email, user=user, origin=origin, reason="mfa_missing")
            raise MfaRequired("this account has MFA on; send its 6-digit code as `otp`")
        spent = mfa.verify_second_factor(
            session=session, user=user, code=otp, cipher=cipher_from_settings(settings)
        )
        if spent is None:
            _refuse(session, email=email, user=user, origin=origin, reason="mfa_wrong")
            raise Unauthorized("the one-time code is wrong, expired or already used")
        method = spent
    audit.record(
        session=session,
        action="login.succeeded",
        actor_id=user.id,
        entity="user",
        entity_id=user.id,
        origin=origin,
        detail={"second_factor": method},
    )
    pair = _issue(session=session, user=user, family_id=new_family_id(), settings=settings)
    session.commit()
    return pair


def _find(session: Session, token: str) -> RefreshToken | None:
    """The row a refresh token names, if its secret matches."""
    text_id, _, secret = token.partition(".")
    row_id = parse_id(text_id)
    if row_id is None or not secret:
        return None
    row = session.get(RefreshToken, row_id)
    if row is None or not constant_time_equals(row.token_hash, token_digest(secret)):
        return None
    return row


def revoke_family(*, session: Session, family_id: str) -> int:
    """Revoke every live token of a family; returns how many were revoked."""
    start_write(session)
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def refresh(*, session: Session, refresh_token: str, settings: Settings) -> TokenPair:
    """Trade a refresh token for a new pair; a reused token revokes its family (401)."""
    start_write(session)
    row = _find(session, refresh_token)
    if row is None:
        raise Unauthorized("unknown refresh token; sign in again")
    if row.revoked_at is not None:
        raise Unauthorized("this refresh token was revoked; sign in again")
    if _aware(row.expires_at) <= _now():
        raise Unauthorized("this refresh token expired; sign in again")
    # Mark it used only if nobody else did first: two concurrent refreshes with
    # one token cannot both succeed, and the loser is treated as a reuse.
    claimed = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=_now())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        revoke_family(session=session, family_id=row.family_id)
        raise Unauthorized("refresh token reuse detected; every session of this sign-in ended")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        session.rollback()
        raise Unauthorized("the account behind this token no longer exists or is disabled")
    pair = _issue(session=session, user=user, family_id=row.family_id, settings=settings)
    session.commit()
    return pair


def logout(*, session: Session, refresh_token: str) -> None:
    """End the sign-in this refresh token belongs to; unknown tokens are ignored (idempotent)."""
    start_write(session)
    row = _find(session, refresh_token)
    if row is not None:
        revoke_family(session=session, family_id=row.family_id)
