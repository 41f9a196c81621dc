"""API keys for machine clients: create (shown once), list, rotate with overlap, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status

from sample_service.api.auth import NO_STORE
from sample_service.api.deps import OriginDep, SessionDep, SettingsDep, SignedInUser, path_id
from sample_service.api.problems import created_responses, problem_responses
from sample_service.schemas.security import ApiKeyCreate, ApiKeyIssued, ApiKeyRead
from sample_service.services import api_keys

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])

KeyId = Annotated[int, path_id("API key", 1)]


def _issued(issued: api_keys.IssuedKey, response: Response) -> ApiKeyIssued:
    response.headers.update(NO_STORE)  # the key's value must not linger in any cache
    return ApiKeyIssued(**ApiKeyRead.model_validate(issued.key).model_dump(), key=issued.value)


@router.post(
    "",
    response_model=ApiKeyIssued,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key acting as you (its value is shown once)",
    responses=created_responses("API key", 401, 403, 422, 429),
)
def create_api_key(
    body: ApiKeyCreate,
    user: SignedInUser,
    session: SessionDep,
    origin: OriginDep,
    response: Response,
) -> ApiKeyIssued:
    """Only the key's digest is stored; the prefix identifies it later."""
    issued = api_keys.create(
        session=session, user=user, name=body.name, scope=body.scope, origin=origin
    )
    return _issued(issued, response)


@router.get(
    "",
    response_model=list[ApiKeyRead],
    summary="Your API keys",
    responses=problem_responses(401, 403, 429),
)
def list_api_keys(user: SignedInUser, session: SessionDep) -> list[ApiKeyRead]:
    """Prefixes, scopes and lifetimes; never a value."""
    return [ApiKeyRead.model_validate(k) for k in api_keys.list_keys(session=session, user=user)]


@router.post(
    "/{key_id}/rotate",
    response_model=ApiKeyIssued,
    summary="Rotate a key: a successor now, the old key ends after the overlap",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def rotate_api_key(
    key_id: KeyId, user: SignedInUser, session: SessionDep, settings: SettingsDep,
    origin: OriginDep, response: Response,
) -> ApiKeyIssued:  # fmt: skip
    """Both keys work during `api_key_overlap_seconds`, so clients switch without an outage."""
    issued = api_keys.rotate(
        session=session, user=user, key_id=key_id,
        overlap_seconds=settings.api_key_overlap_seconds, origin=origin,
    )  # fmt: skip
    return _issued(issued, response)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a key now",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def revoke_api_key(
    key_id: KeyId, user: SignedInUser, session: SessionDep, origin: OriginDep
) -> None:
    """Idempotent: revoking a revoked key is also a 204."""
    api_keys.revoke(session=session, user=user, key_id=key_id, origin=origin)
