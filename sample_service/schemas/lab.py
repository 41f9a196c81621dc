"""Schemas of the lesson switches."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LabSwitches(BaseModel):
    """Every lesson switch; all off by default, each one makes a bad practice measurable."""

    model_config = ConfigDict(
        validate_assignment=True,
        json_schema_extra={"examples": [{"bola": True, "latency_ms": 0, "error_rate": 0.0}]},
    )

    n_plus_one: bool = Field(
        default=False, description="Order lists load items one query per order."
    )
    offset_pagination: bool = Field(
        default=False, description="Collections page by OFFSET, not cursor."
    )
    bola: bool = Field(default=False, description="GET /v1/orders/{id} skips the ownership check.")
    injectable_search: bool = Field(
        default=False, description="Product search builds SQL from strings."
    )
    cache_off: bool = Field(default=False, description="Product reads bypass the cache.")
    latency_ms: int = Field(
        default=0, ge=0, le=10_000, description="Delay added to every /v1 request."
    )
    error_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of /v1 requests failing 500."
    )

    def any_on(self) -> bool:
        """True when any switch differs from its default."""
        return self != LabSwitches()


class LabSwitchesUpdate(BaseModel):
    """A partial update: only the switches named change."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"n_plus_one": True}]}
    )

    n_plus_one: bool | None = None
    offset_pagination: bool | None = None
    bola: bool | None = None
    injectable_search: bool | None = None
    cache_off: bool | None = None
    latency_ms: int | None = Field(None, ge=0, le=10_000)
    error_rate: float | None = Field(None, ge=0.0, le=1.0)
