"""Admin operations: the audit trail, role changes, field-key rotation."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from sample_service.api.deps import AdminUser, CipherDep, OriginDep, SessionDep, path_id
from sample_service.api.problems import problem_responses
from sample_service.models import User
from sample_service.pagination import next_link
from sample_service.schemas.security import AuditEntry, AuditPage, RotationReport
from sample_service.schemas.users import RoleChange, UserRead
from sample_service.services import audit, field_keys, users

router = APIRouter(prefix="/v1/admin", tags=["admin"])

UserId = Annotated[int, path_id("User", 7)]


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="The audit trail, newest first (admin)",
    responses=problem_responses(400, 401, 403, 422, 429),
)
def list_audit(
    session: SessionDep,
    _admin: AdminUser,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
) -> AuditPage:
    """Cursor pagination: follow `next` (also in the `Link` header) until it is null."""
    page, after = audit.list_entries(session=session, limit=limit, cursor=cursor, action=action)
    next_url = next_link(request, response, cursor=after)
    return AuditPage(items=[AuditEntry.model_validate(e) for e in page], next=next_url)


@router.patch(
    "/users/{user_id}/role",
    response_model=UserRead,
    summary="Change an account's role (admin)",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def change_role(
    user_id: UserId, body: RoleChange, session: SessionDep, admin: AdminUser, origin: OriginDep
) -> User:
    """Audited with the role before and after."""
    return users.change_role(
        session=session, admin=admin, user_id=user_id, role=body.role, origin=origin
    )


@router.post(
    "/encryption/rotate",
    response_model=RotationReport,
    summary="Re-encrypt stored personal fields under the current key (admin)",
    responses=problem_responses(401, 403, 422, 429),
)
def rotate_field_key(
    session: SessionDep,
    admin: AdminUser,
    cipher: CipherDep,
    origin: OriginDep,
    batch_size: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> RotationReport:
    """Batches of short transactions: the service keeps serving reads and writes meanwhile."""
    done = field_keys.reencrypt(
        session=session, cipher=cipher, batch_size=batch_size, actor_id=admin.id, origin=origin
    )
    return RotationReport(**dataclasses.asdict(done))
