"""Accounts: registration and lookups."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sample_service.errors import Conflict, NotFound, Unauthorized
from sample_service.models import User
from sample_service.security import hash_password
from sample_service.services.transactions import commit_or_conflict, start_write

# Roles that see and manage every customer's orders and reviews.
STAFF_ROLES = frozenset({"staff", "admin"})


def normalize_email(email: str) -> str:
    """One spelling per mailbox, so ``Alice@Shop.test`` cannot register twice."""
    return email.strip().lower()


def register(*, session: Session, email: str, password: str, full_name: str) -> User:
    """Create a customer account; 409 when the email is taken."""
    email = normalize_email(email)
    password_hash = hash_password(password)  # slow on purpose: done before taking the lock
    start_write(session)
    if session.scalar(select(func.count()).where(User.email == email)):
        raise Conflict(f"an account for {email} already exists; sign in or reset the password")
    user = User(email=email, full_name=full_name, password_hash=password_hash)
    session.add(user)
    # The unique email decides a race with a concurrent registration.
    commit_or_conflict(session, f"an account for {email} already exists")
    return user


def get_user(*, session: Session, user_id: int) -> User:
    """An account by id, or ``NotFound``."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def active_user(*, session: Session, user_id: int) -> User:
    """The account a token names, or Unauthorized when it is gone or disabled since issued."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("the account behind this token no longer exists or is disabled")
    return user


def users_by_id(*, session: Session, user_ids: list[int]) -> dict[int, User]:
    """Accounts by id, in one query (a DataLoader's batch)."""
    return {user.id: user for user in session.scalars(select(User).where(User.id.in_(user_ids)))}


def find_by_email(*, session: Session, email: str) -> User | None:
    """The account registered under this email, if any."""
    return session.scalar(select(User).where(User.email == normalize_email(email)))
