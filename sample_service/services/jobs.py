"""Jobs as resources: start an export, read its state, cancel it, fetch its result.

The request only writes a ``queued`` row and answers ``202 Accepted``; a worker process
does the work (``sample_service/worker.py``). Jobs are their owner's; admins see all.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sample_service.errors import Conflict, Gone, NotFound
from sample_service.messaging.queue import EXPORTS
from sample_service.models import Job, OutboxEvent, User
from sample_service.schemas.catalog import as_utc
from sample_service.schemas.jobs import OrdersExport
from sample_service.services.transactions import start_write

FINAL = ("done", "dead", "cancelled")


def start_export(
    *, session: Session, user: User, export: OrdersExport, max_attempts: int = 5
) -> Job:
    """Queue an orders export for ``user``; the caller answers 202 with the job's URL."""
    try:
        start_write(session)
        job = Job(
            queue=EXPORTS,
            kind="orders.export",
            payload=export.model_dump(),
            owner_id=user.id,
            max_attempts=max_attempts,
            available_at=dt.datetime.now(dt.UTC),
        )
        session.add(job)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return job


def get_job(*, session: Session, job_id: int, user: User, for_update: bool = False) -> Job:
    """The job, if it is ``user``'s (or ``user`` is an admin); 404 otherwise."""
    job = session.get(Job, job_id, with_for_update=for_update)
    if job is None or (job.owner_id != user.id and user.role != "admin"):
        raise NotFound(f"job {job_id} not found")
    return job


def cancel_job(*, session: Session, job_id: int, user: User) -> Job:
    """Cancel a queued or running job (a running worker stops at its next progress report).

    Cancelling a cancelled job is a no-op; a finished one is a 409.
    """
    try:
        start_write(session)
        job = get_job(session=session, job_id=job_id, user=user, for_update=True)
        if job.status in ("queued", "running"):
            job.status, job.locked_by = "cancelled", None
            job.finished_at = dt.datetime.now(dt.UTC)
        elif job.status != "cancelled":
            raise Conflict(f"job {job_id} is {job.status} and can no longer be cancelled")
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return job


def job_result(*, session: Session, job_id: int, user: User) -> str:
    """The finished job's result; 409 before it is done, 410 once it has expired."""
    job = get_job(session=session, job_id=job_id, user=user)
    if job.status != "done" or job.result is None:
        raise Conflict(f"job {job_id} is {job.status}; its result exists once it is done")
    if job.expires_at is not None and as_utc(job.expires_at) <= dt.datetime.now(dt.UTC):
        raise Gone(f"the result of job {job_id} expired at {as_utc(job.expires_at).isoformat()}")
    return job.result


def backlog(*, session: Session) -> tuple[dict[tuple[str, str], int], int, float]:
    """Jobs by (queue, status), unpublished outbox events, and the oldest one's age in seconds."""
    jobs = session.execute(
        select(Job.queue, Job.status, func.count()).group_by(Job.queue, Job.status)
    )
    waiting = session.execute(
        select(func.count(), func.min(OutboxEvent.created_at)).where(
            OutboxEvent.published_at.is_(None)
        )
    ).one()
    lag = (
        0.0
        if waiting[1] is None
        else (dt.datetime.now(dt.UTC) - as_utc(waiting[1])).total_seconds()
    )
    return {(queue, status): int(n) for queue, status, n in jobs}, int(waiting[0]), max(lag, 0.0)
