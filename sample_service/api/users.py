"""Accounts: register, read and update your own, and turn MFA on or off."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from sample_service.api.auth import NO_STORE
from sample_service.api.deps import (
    CipherDep,
    CurrentUser,
    OriginDep,
    SessionDep,
    SettingsDep,
    SignedInUser,
    StaffUser,
    path_id,
)
from sample_service.api.problems import created_responses, problem_responses
from sample_service.config import Settings
from sample_service.models import User
from sample_service.schemas.security import MfaCode, MfaEnrolment, RecoveryCodes
from sample_service.schemas.users import ProfileRead, UserCreate, UserRead, UserUpdate
from sample_service.services import mfa, users

router = APIRouter(prefix="/v1/users", tags=["users"])

UserId = Annotated[int, path_id("User", 7)]


def bound_role(body: BaseModel, settings: Settings) -> str | None:
    """``role`` from a body: refused as an unknown field (422) unless mass assignment is on."""
    role: str | None = getattr(body, "role", None)
    if role is not None and not settings.mass_assignment:
        error = {"type": "extra_forbidden", "loc": ("body", "role"), "input": role,
                 "msg": "Extra inputs are not permitted"}  # fmt: skip
        raise RequestValidationError([error])
    return role


@router.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    summary="Register a customer account",
    responses=created_responses("account", 409, 422, 429),
)
def register_user(
    session: SessionDep, body: UserCreate, response: Response, settings: SettingsDep
) -> User:
    """The password is stored as an argon2 hash and never returned."""
    user = users.register(
        session=session,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        role=bound_role(body, settings) or "customer",
    )
    response.headers["Location"] = f"/v1/users/{user.id}"
    return user


@router.get(
    "/me",
    response_model=ProfileRead,
    summary="The signed-in account",
    responses=problem_responses(401, 429),
)
def read_current_user(user: CurrentUser, cipher: CipherDep) -> ProfileRead:
    """Whoever the bearer token belongs to, with the personal fields only its owner sees."""
    return users.profile(user=user, cipher=cipher)


@router.patch(
    "/me",
    response_model=ProfileRead,
    summary="Update your name or phone",
    responses=problem_responses(401, 422, 429),
)
def update_current_user(
    user: CurrentUser, body: UserUpdate, session: SessionDep, settings: SettingsDep,
    cipher: CipherDep,
) -> ProfileRead:  # fmt: skip
    """The phone is stored encrypted (AES-256-GCM); only its owner reads it back."""
    updated = users.update_profile(
        session=session, user=user, cipher=cipher, full_name=body.full_name, phone=body.phone,
        role=bound_role(body, settings),
    )  # fmt: skip
    return users.profile(user=updated, cipher=cipher)


@router.post(
    "/me/mfa",
    response_model=MfaEnrolment,
    summary="Start TOTP enrolment: a new secret for an authenticator app",
    responses=problem_responses(401, 403, 409, 429),
)
def begin_mfa(
    user: SignedInUser,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
    response: Response,
) -> MfaEnrolment:
    """MFA turns on only once a code from the app confirms the secret."""
    response.headers.update(NO_STORE)
    enrolment = mfa.begin_enrolment(
        session=session, user=user, cipher=cipher, issuer=settings.mfa_issuer
    )
    return MfaEnrolment(secret=enrolment.secret, otpauth_uri=enrolment.uri)


@router.post(
    "/me/mfa/confirm",
    response_model=RecoveryCodes,
    summary="Confirm enrolment with a first code; returns recovery codes once",
    responses=problem_responses(401, 403, 409, 422, 429),
)
def confirm_mfa(
    user: SignedInUser,
    body: MfaCode,
    session: SessionDep,
    cipher: CipherDep,
    origin: OriginDep,
    response: Response,
) -> RecoveryCodes:
    """From now on signing in needs a code as well as the password."""
    response.headers.update(NO_STORE)
    codes = mfa.confirm_enrolment(
        session=session, user=user, code=body.code, cipher=cipher, origin=origin
    )
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/me/mfa/disable",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Turn MFA off with a current or recovery code",
    responses=problem_responses(401, 403, 409, 422, 429),
)
def disable_mfa(
    user: SignedInUser, body: MfaCode, session: SessionDep, cipher: CipherDep, origin: OriginDep
) -> None:
    """A stolen access token alone cannot turn the second factor off."""
    mfa.disable(session=session, user=user, code=body.code, cipher=cipher, origin=origin)


@router.get(
    "/{user_id}",
    response_model=UserRead,
    summary="An account by id (staff)",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def read_user(user_id: UserId, session: SessionDep, _staff: StaffUser) -> User:
    """Staff look accounts up; customers use `/v1/users/me`."""
    return users.get_user(session=session, user_id=user_id)
