"""Schemas of the token endpoint (RFC 6749 shapes)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sample_service.schemas._input import Input


class TokenPair(BaseModel):
    """An access token for requests and a refresh token to get the next one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.…",
                    "token_type": "bearer",
                    "expires_in": 300,
                    "refresh_token": "q3Vn0s1Zp4…",
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Single use: each refresh returns a new one.")


class LogoutRequest(Input):
    """The refresh token whose whole rotation family ends."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"refresh_token": "q3Vn0s1Zp4…"}]}
    )

    refresh_token: str = Field(min_length=1, max_length=200)
