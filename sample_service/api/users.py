"""Accounts: register, and read your own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status

from sample_service.api.deps import CurrentUser, SessionDep, StaffUser, path_id
from sample_service.api.problems import created_responses, problem_responses
from sample_service.models import User
from sample_service.schemas.users import UserCreate, UserRead
from sample_service.services import users

router = APIRouter(prefix="/v1/users", tags=["users"])

UserId = Annotated[int, path_id("User", 7)]


@router.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    summary="Register a customer account",
    responses=created_responses("account", 409, 422, 429),
)
def register_user(session: SessionDep, body: UserCreate, response: Response) -> User:
    """The password is stored as an argon2 hash and never returned."""
    user = users.register(
        session=session, email=body.email, password=body.password, full_name=body.full_name
    )
    response.headers["Location"] = f"/v1/users/{user.id}"
    return user


@router.get(
    "/me",
    response_model=UserRead,
    summary="The signed-in account",
    responses=problem_responses(401, 429),
)
def read_current_user(user: CurrentUser) -> User:
    """Whoever the bearer token belongs to."""
    return user


@router.get(
    "/{user_id}",
    response_model=UserRead,
    summary="An account by id (staff)",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def read_user(user_id: UserId, session: SessionDep, _staff: StaffUser) -> User:
    """Staff look accounts up; customers use `/v1/users/me`."""
    return users.get_user(session=session, user_id=user_id)
