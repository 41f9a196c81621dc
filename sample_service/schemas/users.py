"""Schemas of user accounts; a password goes in, never comes out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from sample_service.schemas._input import Input
from sample_service.schemas.catalog import UtcDatetime

Role = Literal["customer", "staff", "admin"]
# Shape only: whether a mailbox exists is for a confirmation mail, not a regex.
# Spelled without \s, which Python, Rust (pydantic) and JavaScript regexes read differently.
EMAIL_PATTERN = r"^[^@\x00-\x20\x7f]+@[^@\x00-\x20\x7f]+\.[^@\x00-\x20\x7f]+$"


class UserCreate(Input):
    """A registration: every new account is a customer."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"email": "carol@shop.test", "password": "correct horse", "full_name": "Carol"}
            ]
        },
    )

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=8, max_length=128)
    full_name: str = Field(min_length=1, max_length=120)
    # Not part of the contract: read only so the `mass_assignment` lesson switch can bind it;
    # with the switch off a request naming it is refused like any other unknown field.
    role: SkipJsonSchema[Role | None] = Field(default=None, exclude=True)


class UserRead(BaseModel):
    """An account as its owner (or staff) sees it."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "email": "carol@shop.test",
                    "full_name": "Carol",
                    "role": "customer",
                    "created_at": "2026-01-05T10:00:00Z",
                }
            ]
        },
    )

    id: int
    email: str
    full_name: str
    role: Role
    created_at: UtcDatetime


class UserUpdate(BaseModel):
    """A change to your own profile: only the fields sent change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"full_name": "Carol Smith", "phone": "+44 20 7946 0000"}]},
    )

    full_name: str | None = Field(default=None, min_length=1, max_length=120)
    phone: str | None = Field(default=None, min_length=3, max_length=32, pattern=r"^[0-9+ ()-]+$")
    role: SkipJsonSchema[Role | None] = Field(default=None, exclude=True)


class ProfileRead(UserRead):
    """Your own account: with the personal fields only its owner sees, decrypted."""

    phone: str | None = None
    mfa_enabled: bool = False


class RoleChange(BaseModel):
    """An admin's change of someone's role."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "staff"}]})

    role: Role
