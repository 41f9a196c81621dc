"""Schemas of user accounts; a password goes in, never comes out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
