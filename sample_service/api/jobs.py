"""Slow work as resources: ``202 Accepted`` + ``Location`` of a job, polled, cancelled."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from sample_service.api.deps import CurrentUser, SessionDep, SettingsDep, StaffUser, path_id
from sample_service.api.problems import problem_responses
from sample_service.schemas.jobs import JobRead, OrdersExport
from sample_service.services import jobs

router = APIRouter(tags=["jobs"])

JobId = Annotated[int, path_id("Job", 7)]
# While a job runs, a polite client waits this long between polls.
POLL_AFTER_SECONDS = "1"


@router.post(
    "/v1/exports/orders",
    status_code=202,
    response_model=JobRead,
    summary="Export orders as CSV, in the background (staff)",
    responses={
        202: {
            "headers": {"Location": {"description": "URL of the job", "schema": {"type": "string"}}}
        },
        **problem_responses(401, 403, 422, 429),
    },
)
def export_orders(
    session: SessionDep,
    settings: SettingsDep,
    user: StaffUser,
    response: Response,
    body: OrdersExport | None = None,
) -> JobRead:
    """Answers at once; follow `Location` until the job is `done`, then its `result` link."""
    job = jobs.start_export(
        session=session,
        user=user,
        export=body or OrdersExport(),
        max_attempts=settings.job_max_attempts,
    )
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    response.headers["Retry-After"] = POLL_AFTER_SECONDS
    return JobRead.of(job)


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobRead,
    summary="A job's status and progress",
    responses=problem_responses(401, 404, 422, 429),
)
def get_job(session: SessionDep, user: CurrentUser, job_id: JobId, response: Response) -> JobRead:
    """`Retry-After` says when to look again while the job is not finished."""
    job = jobs.get_job(session=session, job_id=job_id, user=user)
    if job.status not in jobs.FINAL:
        response.headers["Retry-After"] = POLL_AFTER_SECONDS
    return JobRead.of(job)


@router.delete(
    "/v1/jobs/{job_id}",
    response_model=JobRead,
    summary="Cancel a queued or running job",
    responses=problem_responses(401, 404, 409, 422, 429),
)
def cancel_job(session: SessionDep, user: CurrentUser, job_id: JobId) -> JobRead:
    """A running export stops at its next page; a finished job answers 409."""
    return JobRead.of(jobs.cancel_job(session=session, job_id=job_id, user=user))


@router.get(
    "/v1/jobs/{job_id}/result",
    summary="A finished export's CSV (410 once expired)",
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **problem_responses(401, 404, 409, 410, 422, 429),
    },
)
def job_result(session: SessionDep, user: CurrentUser, job_id: JobId) -> Response:
    """The CSV the worker wrote, while it lasts."""
    body = jobs.job_result(session=session, job_id=job_id, user=user)
    return Response(body, media_type="text/csv")
