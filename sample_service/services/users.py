"""Accounts: registration, lookups, your own profile (its phone encrypted), role changes."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sample_service.encryption import FieldCipher
from sample_service.errors import Conflict, NotFound, Unauthorized
from sample_service.models import User
from sample_service.schemas.users import ProfileRead, UserRead
from sample_service.security import hash_password
from sample_service.services import audit
from sample_service.services.transactions import commit_or_conflict, start_write

# Roles that see and manage every customer's orders and reviews.
STAFF_ROLES = frozenset({"staff", "admin"})


def normalize_email(email: str) -> str:
    """One spelling per mailbox, so ``Alice@Shop.test`` cannot register twice."""
    return email.strip().lower()


def register(
    *, session: Session, email: str, password: str, full_name: str, role: str = "customer"
) -> User:
    """Create an account (a customer unless the mass-assignment lesson bound a role); 409 if taken."""
    email = normalize_email(email)
    password_hash = hash_password(password)  # slow on purpose: done before taking the lock
    start_write(session)
    if session.scalar(select(func.count()).where(User.email == email)):
        raise Conflict(f"an account for {email} already exists; sign in or reset the password")
    user = User(email=email, full_name=full_name, password_hash=password_hash, role=role)
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


def phone_context(user_id: int) -> str:
    """What a phone ciphertext is bound to: it opens on this row and column only."""
    return f"users.phone:{user_id}"


def profile(*, user: User, cipher: FieldCipher) -> ProfileRead:
    """The owner's view of an account, the phone decrypted."""
    phone = user.phone_encrypted
    return ProfileRead(
        **UserRead.model_validate(user).model_dump(),
        phone=cipher.decrypt(phone, context=phone_context(user.id)) if phone else None,
        mfa_enabled=user.totp_enabled_at is not None,
    )


def update_profile(
    *,
    session: Session,
    user: User,
    cipher: FieldCipher,
    full_name: str | None = None,
    phone: str | None = None,
    role: str | None = None,
) -> User:
    """Change your own name and phone (stored encrypted); ``role`` only reaches here through
    the mass-assignment lesson switch."""
    start_write(session)
    if full_name is not None:
        user.full_name = full_name
    if phone is not None:
        user.phone_encrypted = cipher.encrypt(phone, context=phone_context(user.id))
    if role is not None:
        user.role = role
    session.commit()
    return user


def change_role(
    *, session: Session, admin: User, user_id: int, role: str, origin: audit.Origin
) -> User:
    """An admin sets someone's role; audited with the role before and after."""
    start_write(session)
    user = get_user(session=session, user_id=user_id)
    before = user.role
    user.role = role
    audit.record(
        session=session,
        action="user.role_changed",
        actor_id=admin.id,
        entity="user",
        entity_id=user.id,
        origin=origin,
        detail={"from": before, "to": role},
    )
    session.commit()
    return user
