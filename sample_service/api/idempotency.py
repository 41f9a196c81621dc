"""Idempotency keys as stored state: expired ones are purged (admin)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel

from sample_service.api.deps import AdminUser, SessionDep, SettingsDep
from sample_service.api.problems import problem_responses
from sample_service.services import orders

router = APIRouter(prefix="/v1/idempotency-keys", tags=["orders"])


class Purge(BaseModel):
    """What a purge removed, and the retention it applied."""

    purged: int
    retention_seconds: int


@router.delete(
    "/expired",
    response_model=Purge,
    summary="Delete stored Idempotency-Key answers older than the retention (admin)",
    responses=problem_responses(401, 403, 429),
)
def purge_expired_keys(session: SessionDep, settings: SettingsDep, _admin: AdminUser) -> Purge:
    """Expired keys already replay nothing; purging only gives their rows back."""
    retention = settings.idempotency_retention_seconds
    purged = orders.purge_expired_keys(session=session, retention=dt.timedelta(seconds=retention))
    return Purge(purged=purged, retention_seconds=retention)
