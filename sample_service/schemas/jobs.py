"""Job resources: what ``202 Accepted`` points at, polled until the work is done."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sample_service.models import Job
from sample_service.schemas.catalog import UtcDatetime
from sample_service.schemas.orders import Link, Links, OrderStatus


class OrdersExport(BaseModel):
    """What to export: every order, or those of one status."""

    model_config = ConfigDict(extra="forbid")

    status: OrderStatus | None = None


class JobRead(BaseModel):
    """A job's state: poll ``self`` until ``status`` is final, then follow ``result``."""

    id: int = Field(examples=[7])
    kind: str = Field(examples=["orders.export"])
    status: Literal["queued", "running", "done", "dead", "cancelled"]
    progress: int = Field(ge=0, le=100, description="percent done, as the worker reports it")
    attempts: int
    error: str | None = None
    created_at: UtcDatetime
    finished_at: UtcDatetime | None = None
    expires_at: UtcDatetime | None = Field(None, description="when the result is deleted")
    links: Links

    @classmethod
    def of(cls, job: Job) -> JobRead:
        """The resource for a ``Job`` row, with links to itself and, once done, its result."""
        links = {"self": Link(href=f"/v1/jobs/{job.id}")}
        if job.status == "done":
            links["result"] = Link(href=f"/v1/jobs/{job.id}/result")
        fields = {name: getattr(job, name) for name in cls.model_fields if name != "links"}
        return cls(**fields, links=links)
