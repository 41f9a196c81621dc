"""Field-key rotation: re-encrypt stored values under the current key, in batches.

Every configured key still decrypts, so the service keeps answering while a
rotation runs; each batch is its own short transaction, so no lock is held for
long and an interrupted rotation resumes where it stopped (values already under
the current key are skipped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from sample_service.encryption import VERSION, FieldCipher, UndecryptableField
from sample_service.models import User
from sample_service.services import audit
from sample_service.services.mfa import secret_context
from sample_service.services.transactions import start_write
from sample_service.services.users import phone_context

# Every encrypted column and the context its values are bound to.
ENCRYPTED: tuple[tuple[InstrumentedAttribute[str | None], Callable[[int], str]], ...] = (
    (User.phone_encrypted, phone_context),
    (User.totp_secret_encrypted, secret_context),
)


@dataclass(frozen=True)
class Rotation:
    """How many values one rotation re-encrypted, in how many batches, and how many no key opens."""

    key_id: str
    rewritten: int
    batches: int
    unreadable: int


def _stale(column: InstrumentedAttribute[str | None], cipher: FieldCipher) -> ColumnElement[bool]:
    """Values present and sealed under another key than the current one."""
    return and_(column.is_not(None), ~column.startswith(f"{VERSION}:{cipher.current}:"))


def reencrypt(
    *,
    session: Session,
    cipher: FieldCipher,
    batch_size: int,
    actor_id: int | None,
    origin: audit.Origin,
) -> Rotation:
    """Re-seal every value not under ``cipher.current``; one commit per batch."""
    rewritten = batches = unreadable = 0
    last_id = 0
    stale = or_(*(_stale(column, cipher) for column, _ in ENCRYPTED))
    while True:
        start_write(session)
        query = select(User).where(stale, User.id > last_id).order_by(User.id).limit(batch_size)
        rows = list(session.scalars(query))
        if not rows:
            session.rollback()
            break
        for user in rows:
            for column, context in ENCRYPTED:
                stored = getattr(user, column.key)
                if stored is None or cipher.is_current(stored):
                    continue
                bound = context(user.id)
                try:
                    plain = cipher.decrypt(stored, context=bound)
                except UndecryptableField:  # its key was dropped too early: left, and counted
                    unreadable += 1
                    continue
                setattr(user, column.key, cipher.encrypt(plain, context=bound))
                rewritten += 1
        last_id = rows[-1].id
        session.commit()
        batches += 1
    start_write(session)
    audit.record(
        session=session,
        action="encryption.rotated",
        actor_id=actor_id,
        entity="field_key",
        entity_id=cipher.current,
        origin=origin,
        detail={"rewritten": rewritten, "batches": batches, "unreadable": unreadable},
    )
    session.commit()
    return Rotation(cipher.current, rewritten=rewritten, batches=batches, unreadable=unreadable)
