"""Second factor: TOTP (RFC 6238) enrolment, single-use codes, hashed recovery codes.

The TOTP secret is stored encrypted (``encryption.py``), bound to its user's row.
A code is accepted once: the last accepted time step is kept and only a later
step passes, claimed by a conditional UPDATE so two concurrent sign-ins with one
code cannot both succeed. Recovery codes are random, shown once, stored as
SHA-256 digests and spent on use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import pyotp
from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from sample_service.encryption import FieldCipher
from sample_service.errors import Conflict, Unauthorized
from sample_service.models import RecoveryCode, User
from sample_service.services import audit
from sample_service.services.transactions import start_write

RECOVERY_CODES = 10
# One step either side of now: a phone clock 30 s off still signs in.
VALID_WINDOW = 1


@dataclass(frozen=True)
class Enrolment:
    """What an authenticator app needs: the secret and the ``otpauth://`` URI of its QR code."""

    secret: str
    uri: str


def secret_context(user_id: int) -> str:
    """What a TOTP secret's ciphertext is bound to: it opens on this row and column only."""
    return f"users.totp_secret:{user_id}"


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().lower().encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def begin_enrolment(*, session: Session, user: User, cipher: FieldCipher, issuer: str) -> Enrolment:
    """Store a new secret (not yet active) and return it; 409 once MFA is on."""
    start_write(session)
    if user.totp_enabled_at is not None:
        raise Conflict("MFA is already on; turn it off with a code first")
    secret = pyotp.random_base32()
    user.totp_secret_encrypted = cipher.encrypt(secret, context=secret_context(user.id))
    user.totp_last_step = None
    session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)
    return Enrolment(secret=secret, uri=uri)


def _claim_step(
    session: Session, user: User, code: str, cipher: FieldCipher, now: dt.datetime
) -> bool:
    """True when ``code`` is valid for a step after the last one used, which it then spends."""
    if user.totp_secret_encrypted is None or not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(cipher.decrypt(user.totp_secret_encrypted, context=secret_context(user.id)))
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            claimed = session.execute(
                update(User)
                .where(
                    User.id == user.id,
                    or_(User.totp_last_step.is_(None), User.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
            return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]
    return False


def _spend_recovery_code(session: Session, user: User, code: str, now: dt.datetime) -> bool:
    """True when ``code`` is an unused recovery code of this user, now spent."""
    spent = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return bool(spent.rowcount == 1)  # type: ignore[attr-defined]


def verify_second_factor(
    *, session: Session, user: User, code: str, cipher: FieldCipher, now: dt.datetime | None = None
) -> str | None:
    """Spend a TOTP code or a recovery code; returns which (``totp``/``recovery``) or None.

    Runs in the caller's write transaction: the caller commits the spend.
    """
    now = now or _now()
    if _claim_step(session, user, code, cipher, now):
        return "totp"
    if _spend_recovery_code(session, user, code, now):
        return "recovery"
    return None


def confirm_enrolment(
    *, session: Session, user: User, code: str, cipher: FieldCipher, origin: audit.Origin
) -> list[str]:
    """Turn MFA on with a first valid code; returns the recovery codes, shown this once."""
    start_write(session)
    if user.totp_enabled_at is not None:
        raise Conflict("MFA is already on")
    if user.totp_secret_encrypted is None:
        raise Conflict("no enrolment started; POST /v1/users/me/mfa first")
    if not _claim_step(session, user, code, cipher, _now()):
        session.rollback()
        raise Unauthorized("the one-time code is wrong, expired or already used")
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_digest(c)) for c in codes)
    user.totp_enabled_at = _now()
    audit.record(
        session=session,
        action="mfa.enabled",
        actor_id=user.id,
        entity="user",
        entity_id=user.id,
        origin=origin,
        detail={"recovery_issued": len(codes)},
    )
    session.commit()
    return codes


def disable(
    *, session: Session, user: User, code: str, cipher: FieldCipher, origin: audit.Origin
) -> None:
    """Turn MFA off; needs a current code or a recovery code (a stolen session is not enough)."""
    start_write(session)
    if user.totp_enabled_at is None:
        raise Conflict("MFA is not on")
    method = verify_second_factor(session=session, user=user, code=code, cipher=cipher)
    if method is None:
        session.rollback()
        raise Unauthorized("the one-time code is wrong, expired or already used")
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.totp_secret_encrypted = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    audit.record(
        session=session,
        action="mfa.disabled",
        actor_id=user.id,
        entity="user",
        entity_id=user.id,
        origin=origin,
        detail={"method": method},
    )
    session.commit()
