"""The OAuth2 token endpoint (password and refresh_token grants) and sign-out."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Response, status

from sample_service.api.deps import OriginDep, SessionDep, SettingsDep
from sample_service.api.problems import problem_responses
from sample_service.errors import BadRequest
from sample_service.schemas.auth import LogoutRequest, TokenPair
from sample_service.services import auth

router = APIRouter(prefix="/v1/auth", tags=["auth"])

# RFC 6749 §5.1: token responses must not be cached anywhere.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post(
    "/token",
    response_model=TokenPair,
    summary="Sign in, or trade a refresh token for a new pair",
    responses=problem_responses(400, 401, 422, 429),
)
def issue_token(
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    grant_type: Annotated[Literal["password", "refresh_token"], Form()] = "password",
    username: Annotated[str | None, Form(max_length=254, description="The email")] = None,
    password: Annotated[str | None, Form(max_length=128)] = None,
    refresh_token: Annotated[str | None, Form(max_length=200)] = None,
    otp: Annotated[
        str | None, Form(max_length=16, description="TOTP or recovery code, once MFA is on")
    ] = None,
    *,
    origin: OriginDep,
) -> TokenPair:
    """`password` grant checks the email and password (and `otp` once MFA is on);
    `refresh_token` rotates the token."""
    response.headers.update(NO_STORE)
    if grant_type == "password":
        if not username or not password:
            raise BadRequest("grant_type=password needs username and password")
        return auth.login(
            session=session,
            email=username,
            password=password,
            settings=settings,
            otp=otp,
            origin=origin,
        )
    if not refresh_token:
        raise BadRequest("grant_type=refresh_token needs refresh_token")
    return auth.refresh(session=session, refresh_token=refresh_token, settings=settings)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End a sign-in: revoke its refresh token family",
    responses=problem_responses(422, 429),
)
def logout(session: SessionDep, body: LogoutRequest) -> None:
    """Idempotent: an unknown or already revoked token is also a 204."""
    auth.logout(session=session, refresh_token=body.refresh_token)
