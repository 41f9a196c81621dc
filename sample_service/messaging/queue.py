"""A job queue in the shop's own database: no broker to install, transactions included.

Any number of workers claim from one ``jobs`` table. A claim is one atomic UPDATE of the
oldest visible row: on PostgreSQL its sub-select takes the row with ``FOR UPDATE SKIP
LOCKED``, so concurrent workers pass over each other's rows instead of queueing behind
them; SQLite serialises writers, so the same UPDATE … RETURNING is already atomic there.
A claim hides the row for the visibility timeout; a worker that dies without finishing
leaves it to be claimed again, and a row claimed ``max_attempts`` times is buried as
``dead`` (the dead-letter state) instead of being tried forever.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from sample_service.models import Job

#: The queue slow operations (exports) go to, and the one published events go to.
EXPORTS, EVENTS = "exports", "events"


@dataclass(frozen=True)
class Claimed:
    """A job a worker holds until its visibility timeout: what it needs to run it."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    message_id: str | None


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction (``BEGIN IMMEDIATE`` on SQLite: queue for the lock up front)."""
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        yield conn


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DatabaseQueue:
    """Enqueue, claim, progress, complete and fail jobs in the ``jobs`` table of ``engine``."""

    def __init__(
        self, engine: Engine, *, visibility_seconds: float = 30.0, max_attempts: int = 5
    ) -> None:
        self.engine = engine
        self.visibility = dt.timedelta(seconds=visibility_seconds)
        self.max_attempts = max_attempts

    def _write(self) -> AbstractContextManager[Connection]:
        return write_transaction(self.engine)

    def publish(
        self,
        *,
        queue: str,
        kind: str,
        payload: dict[str, Any],
        message_id: str | None = None,
        owner_id: int | None = None,
        key: str | None = None,
    ) -> int:
        """Add a job visible now; returns its id (the outbox relay's publish, too)."""
        with self._write() as conn:
            return enqueue(
                conn,
                queue=queue,
                kind=kind,
                payload=payload,
                message_id=message_id,
                owner_id=owner_id,
                key=key,
                max_attempts=self.max_attempts,
            )

    def claim(self, queues: Sequence[str], *, worker: str) -> Claimed | None:
        """Take the oldest visible job of ``queues`` for the visibility timeout, or None."""
        now = _now()
        visible = (
            Job.queue.in_(queues),
            Job.status.in_(("queued", "running")),
            Job.available_at <= now,
        )
        with self._write() as conn:
            # A lease that ran out on the last attempt: dead-letter it rather than retry.
            conn.execute(
                update(Job)
                .where(*visible, Job.attempts >= Job.max_attempts)
                .values(
                    status="dead",
                    finished_at=now,
                    locked_by=None,
                    error=func.coalesce(Job.error, "visibility timeout on the last attempt"),
                )
            )
            earlier = aliased(Job)
            key_busy = exists().where(  # an older job of the same key is not finished yet
                earlier.key == Job.key,
                earlier.id < Job.id,
                earlier.status.in_(("queued", "running")),
            )
            oldest = (
                select(Job.id)
                .where(*visible, Job.attempts < Job.max_attempts, ~key_busy)
                .order_by(Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)  # SQLite renders no FOR UPDATE: not needed
                .scalar_subquery()
            )
            row = conn.execute(
                update(Job)
                .where(Job.id == oldest)
                .values(
                    status="running",
                    attempts=Job.attempts + 1,
                    locked_by=worker,
                    available_at=now + self.visibility,
                )
                .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.message_id)
            ).first()
        return None if row is None else Claimed(*row)

    def _held(self, job_id: int, worker: str) -> Any:
        """The job while this worker still holds it (not cancelled, lease not taken over)."""
        return update(Job).where(Job.id == job_id, Job.status == "running", Job.locked_by == worker)

    def progress(self, job_id: int, *, worker: str, percent: int) -> bool:
        """Record progress and extend the lease; False when the job was cancelled or taken."""
        with self._write() as conn:
            result = conn.execute(
                self._held(job_id, worker).values(
                    progress=max(0, min(percent, 100)), available_at=_now() + self.visibility
                )
            )
        return bool(result.rowcount)

    def complete(
        self,
        job_id: int,
        *,
        worker: str,
        result: str | None = None,
        expires_at: dt.datetime | None = None,
    ) -> bool:
        """Mark the job done with its result; False when this worker no longer held it."""
        with self._write() as conn:
            done = conn.execute(
                self._held(job_id, worker).values(
                    status="done",
                    progress=100,
                    result=result,
                    finished_at=_now(),
                    expires_at=expires_at,
                    locked_by=None,
                )
            )
        return bool(done.rowcount)

    def fail(self, job_id: int, *, worker: str, error: str, retry_in: float) -> str | None:
        """Record a failure: retry after ``retry_in`` seconds, or dead after the last attempt.

        Returns the new status, or None when this worker no longer held the job.
        """
        now = _now()
        with self._write() as conn:
            attempts = conn.execute(
                select(Job.attempts, Job.max_attempts).where(Job.id == job_id)
            ).first()
            if attempts is None:
                return None
            dead = attempts[0] >= attempts[1]
            values: dict[str, Any] = {"error": error[:2000], "locked_by": None}
            if dead:
                values |= {"status": "dead", "finished_at": now}
            else:
                values |= {"status": "queued", "available_at": now + dt.timedelta(seconds=retry_in)}
            changed = conn.execute(self._held(job_id, worker).values(**values))
        if not changed.rowcount:
            return None
        return "dead" if dead else "queued"

    def counts(self, queue: str | None = None) -> dict[str, int]:
        """Jobs by status (of one queue, or all): what a dashboard or a test looks at."""
        query = select(Job.status, func.count()).group_by(Job.status)
        if queue is not None:
            query = query.where(Job.queue == queue)
        with self.engine.connect() as conn:
            return {str(status): int(n) for status, n in conn.execute(query)}


def enqueue(
    conn: Connection,
    *,
    queue: str,
    kind: str,
    payload: dict[str, Any],
    message_id: str | None = None,
    owner_id: int | None = None,
    key: str | None = None,
    max_attempts: int = 5,
) -> int:
    """Insert a job in the caller's transaction (so it commits with the caller's change)."""
    job_id: int = conn.execute(
        insert(Job)
        .values(
            queue=queue,
            kind=kind,
            payload=payload,
            message_id=message_id,
            owner_id=owner_id,
            key=key,
            max_attempts=max_attempts,
            available_at=_now(),
        )
        .returning(Job.id)
    ).scalar_one()
    return job_id
