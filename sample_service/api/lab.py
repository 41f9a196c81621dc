"""Lesson switches at run time: admin only, lab mode only, loopback only."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sample_service import labswitches
from sample_service.api.deps import AdminUser, SettingsDep
from sample_service.api.problems import problem_responses
from sample_service.errors import Forbidden
from sample_service.schemas.lab import LabSwitches, LabSwitchesUpdate

router = APIRouter(prefix="/lab", tags=["lab"])


def _refuse_unless_lab(request: Request, settings: SettingsDep) -> None:
    server = request.scope.get("server")
    reason = labswitches.refusal(
        lab_mode=settings.lab_mode, server_host=server[0] if server else None
    )
    if reason is not None:
        raise Forbidden(reason)


@router.get(
    "/switches",
    response_model=LabSwitches,
    summary="The lesson switches",
    responses=problem_responses(401, 403, 429),
)
def read_switches(request: Request, settings: SettingsDep, _admin: AdminUser) -> LabSwitches:
    """Every switch and its value."""
    _refuse_unless_lab(request, settings)
    return labswitches.current(settings)


@router.patch(
    "/switches",
    response_model=LabSwitches,
    summary="Turn lesson switches on or off",
    responses=problem_responses(401, 403, 422, 429),
)
def update_switches(
    body: LabSwitchesUpdate, request: Request, settings: SettingsDep, _admin: AdminUser
) -> LabSwitches:
    """Only the switches named change; the next request sees them."""
    _refuse_unless_lab(request, settings)
    return labswitches.apply(settings, body)
