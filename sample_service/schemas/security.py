"""Schemas of MFA enrolment, API keys and the audit trail."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sample_service.schemas.catalog import UtcDatetime

Scope = Literal["read", "write"]


class MfaEnrolment(BaseModel):
    """A new TOTP secret to put in an authenticator app; MFA is on once a code confirms it."""

    secret: str = Field(description="Base32 TOTP secret (RFC 6238, 30 s, 6 digits).")
    otpauth_uri: str = Field(description="The same secret as an otpauth:// URI for a QR code.")


class MfaCode(BaseModel):
    """A 6-digit TOTP code, or a recovery code."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "492039"}]})

    code: str = Field(min_length=6, max_length=16)


class RecoveryCodes(BaseModel):
    """Single-use codes for when the authenticator is lost; shown only this once."""

    recovery_codes: list[str]


class ApiKeyCreate(BaseModel):
    """A key for a machine client, limited to reading or allowed to write."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "stock sync", "scope": "read"}]}
    )

    name: str = Field(min_length=1, max_length=80)
    scope: Scope = "read"


class ApiKeyRead(BaseModel):
    """A key as listed: its prefix identifies it; the value is never shown again."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scope: Scope
    created_at: UtcDatetime
    expires_at: UtcDatetime | None
    revoked_at: UtcDatetime | None


class ApiKeyIssued(ApiKeyRead):
    """A new key with its full value: store it now, it cannot be read back."""

    key: str = Field(description="Send as `X-API-Key` or `Authorization: Bearer`.")


class AuditEntry(BaseModel):
    """One audit record."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    actor_id: int | None
    action: str
    entity: str
    entity_id: str
    detail: dict[str, Any]
    request_id: str | None
    ip: str | None
    created_at: UtcDatetime


class AuditPage(BaseModel):
    """A page of the audit trail, newest first."""

    items: list[AuditEntry]
    next: str | None = Field(description="The next page's URL; null on the last page.")


class RotationReport(BaseModel):
    """What a field-key rotation did."""

    key_id: str = Field(description="The key every value is now sealed under.")
    rewritten: int = Field(description="Values re-encrypted by this call.")
    batches: int
    unreadable: int = Field(description="Values under a key no longer configured (left as is).")
