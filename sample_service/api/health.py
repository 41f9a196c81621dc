"""Liveness and readiness probes.

Live says the process answers; ready says it can do its job (the database answers and
there is a free database slot), so a load balancer stops sending traffic during an outage
or while the service sheds load, instead of sending more to a process that cannot take it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from sample_service.api.deps import DatabaseDep
from sample_service.api.problems import problem_responses
from sample_service.errors import Saturated, Unavailable

router = APIRouter(prefix="/health", tags=["health"])

READY_TIMEOUT_SECONDS = 2.0


class HealthStatus(BaseModel):
    """A probe's answer."""

    status: str
    database: str | None = None
    db_slots_in_use: int | None = None
    db_slots: int | None = None


async def _within(ping: Coroutine[Any, Any, None], seconds: float) -> None:
    """Await `ping` for at most `seconds`, then give up on it without waiting for it to unwind.

    `asyncio.wait_for` waits for the cancelled ping to finish, and a driver stuck on a
    blackholed socket (nothing answers, not even the request to cancel) can take far longer
    than the probe's bound to do so: the probe would hang exactly when it matters.
    """
    task = asyncio.ensure_future(ping)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        task.add_done_callback(_consume)  # its eventual error is expected: nobody awaits it
        raise TimeoutError(f"no answer within {seconds} s")
    task.result()


def _consume(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


@router.get("/live", summary="Is the process up", operation_id="health_live")
async def live() -> HealthStatus:
    return HealthStatus(status="ok")


@router.get(
    "/ready",
    summary="Can the service reach its database, and take more requests",
    operation_id="health_ready",
    responses=problem_responses(503),
)
async def ready(database: DatabaseDep) -> HealthStatus:
    admission = database.admission
    if admission.saturated():
        raise Saturated(
            f"saturated: {admission.in_use} of {admission.capacity} database slots in use, "
            f"{admission.waiting} requests waiting"
        )
    try:
        await _within(database.ping(), READY_TIMEOUT_SECONDS)
    except Exception as exc:
        raise Unavailable(
            f"the {database.kind} database is unreachable: {type(exc).__name__}"
        ) from exc
    return HealthStatus(
        status="ok",
        database=database.kind,
        db_slots_in_use=admission.in_use,
        db_slots=admission.capacity,
    )
