"""Webhook endpoints and their delivery log; order status steps taken by staff."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sample_service.schemas.catalog import UtcDatetime

EventType = Literal["order.placed", "order.paid", "order.shipped", "order.cancelled"]


class WebhookCreate(BaseModel):
    """Where to POST, and which events."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000, examples=["https://hooks.example.com/shop"])
    events: list[EventType] = Field(min_length=1, examples=[["order.paid", "order.shipped"]])


class WebhookRead(BaseModel):
    """An endpoint without its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[str] = Field(validation_alias="event_types")
    status: Literal["active", "disabled"]
    consecutive_failures: int
    created_at: UtcDatetime
    disabled_at: UtcDatetime | None = None
    previous_expires_at: UtcDatetime | None = Field(
        None, description="until then deliveries are signed with the previous secret too"
    )


class WebhookSecret(WebhookRead):
    """An endpoint with its signing secret: shown at registration and rotation only."""

    secret: str = Field(description="whsec_… (Standard Webhooks); verify every delivery with it")


class SecretRotation(BaseModel):
    """How long the old secret keeps signing deliveries beside the new one."""

    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int = Field(86_400, ge=0, le=7 * 86_400)


class AttemptRead(BaseModel):
    """One line of the delivery log."""

    message_id: str = Field(description="the webhook-id header, the same on every retry")
    event_type: str
    attempt: int
    at: UtcDatetime
    status_code: int | None
    error: str | None
    duration_ms: int
    delivery_status: Literal["pending", "delivered", "failed", "skipped"]


class StatusChange(BaseModel):
    """The next step of an order: placed → paid → shipped."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["paid", "shipped"]
