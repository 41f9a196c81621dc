"""Schemas of product reviews."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sample_service.schemas._input import Input
from sample_service.schemas.catalog import UtcDatetime


class ReviewCreate(Input):
    """A rating from 1 to 5 with an optional text."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"rating": 5, "body": "Sturdy and quiet."}]},
    )

    rating: int = Field(ge=1, le=5)
    body: str = Field("", max_length=2000)


class ReviewUpdate(BaseModel):
    """A correction by the author within a day: only the fields sent change."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"rating": 4, "body": "Quiet enough."}]}
    )

    rating: int | None = Field(default=None, ge=1, le=5)
    body: str | None = Field(default=None, max_length=2000)


class ReviewRead(BaseModel):
    """A review as anyone sees it."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "user_id": 7,
                    "product_id": 1,
                    "rating": 5,
                    "body": "Sturdy and quiet.",
                    "created_at": "2026-01-05T10:00:00Z",
                }
            ]
        },
    )

    id: int
    user_id: int
    product_id: int
    rating: int
    body: str
    created_at: UtcDatetime


class ReviewPage(BaseModel):
    """One page of a product's reviews, newest first."""

    items: list[ReviewRead]
    next: str | None = Field(description="URL of the next page, absent on the last page.")
