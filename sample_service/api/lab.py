"""Lesson switches at run time: admin only, lab mode only, loopback only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from sample_service import labswitches
from sample_service.api.deps import AdminUser, OriginDep, SessionDep, SettingsDep
from sample_service.api.problems import problem_responses
from sample_service.errors import Forbidden
from sample_service.models import User
from sample_service.schemas.lab import LabSwitches, LabSwitchesUpdate
from sample_service.services import audit

router = APIRouter(prefix="/lab", tags=["lab"])


def lab_admin(request: Request, settings: SettingsDep, admin: AdminUser) -> User:
    """An admin, on a service in lab mode listening on loopback (403 otherwise)."""
    server = request.scope.get("server")
    reason = labswitches.refusal(
        lab_mode=settings.lab_mode, server_host=server[0] if server else None
    )
    if reason is not None:
        raise Forbidden(reason)
    return admin


LabAdmin = Annotated[User, Depends(lab_admin)]


@router.get(
    "/switches",
    response_model=LabSwitches,
    summary="The lesson switches",
    responses=problem_responses(401, 403, 429),
)
def read_switches(settings: SettingsDep, _admin: LabAdmin) -> LabSwitches:
    """Every switch and its value."""
    return labswitches.current(settings)


@router.patch(
    "/switches",
    response_model=LabSwitches,
    summary="Turn lesson switches on or off",
    responses=problem_responses(401, 403, 422, 429),
)
def update_switches(
    body: LabSwitchesUpdate,
    settings: SettingsDep,
    admin: LabAdmin,
    session: SessionDep,
    origin: OriginDep,
) -> LabSwitches:
    """Only the switches named change; the next request sees them. Audited."""
    switches = labswitches.apply(settings, body)
    audit.record_now(
        session=session,
        action="lab.switches_changed",
        actor_id=admin.id,
        entity="lab",
        entity_id="switches",
        origin=origin,
        detail=body.model_dump(exclude_unset=True),
    )
    return switches
