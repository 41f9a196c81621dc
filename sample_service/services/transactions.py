"""Where a write transaction starts, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sample_service.db import begin_write
from sample_service.errors import Conflict


def start_write(session: Session) -> None:
    """End the read transaction the request opened, then begin as a writer.

    Every request has already read (the signed-in user, a product) by the time a
    service writes. On SQLite a transaction that read first and writes later
    cannot wait for the write lock: if another writer committed in between, it
    fails at once with "database is locked". Beginning the write transaction
    with ``BEGIN IMMEDIATE`` makes it queue for the lock instead; on PostgreSQL
    this is a plain BEGIN.
    """
    if session.in_transaction():
        session.commit()
    begin_write(session)


def commit_or_conflict(session: Session, detail: str) -> None:
    """Commit; a unique or foreign-key clash becomes ``Conflict(detail)``.

    The constraint decides, not a prior SELECT, so two concurrent writes cannot both land.
    """
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(detail) from None
