"""Schemas of the lesson switches: each switch is one field of ``LabSwitches``, written once.

``Settings`` inherits the fields (so ``SHOP_<NAME>`` sets them at start) and the partial
update is derived from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo


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
    mass_assignment: bool = Field(
        default=False, description="Registration and profile updates accept `role`."
    )
    sign_in_timing_leak: bool = Field(
        default=False, description="Sign-in skips the dummy hash for unknown emails."
    )
    cache_off: bool = Field(default=False, description="Product reads bypass the cache.")
    no_stampede_guard: bool = Field(
        default=False, description="Concurrent misses on one product each query the database."
    )
    slow_read_ms: int = Field(
        default=0, ge=0, le=10_000, description="Delay added to each uncached product read."
    )
    naive_replica_routing: bool = Field(
        default=False,
        description="Catalog reads go to the read replica even right after the client wrote "
        "(read-your-writes lost).",
    )
    no_row_lock: bool = Field(
        default=False,
        description="Order placement reads stock unlocked, before its write transaction "
        "(concurrent orders oversell).",
    )
    no_dataloader: bool = Field(
        default=False, description="GraphQL resolves each hop one query per parent (N+1)."
    )
    latency_ms: int = Field(
        default=0, ge=0, le=10_000, description="Delay added to every /v1 request."
    )
    error_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of /v1 requests failing 500."
    )
    no_timeouts: bool = Field(
        default=False, description="Calls to the payments provider wait as long as it takes."
    )
    no_retry_jitter: bool = Field(
        default=False, description="Retries to the provider back off in lockstep, no jitter."
    )
    no_retry_budget: bool = Field(
        default=False, description="Retries to the provider are not capped by a budget."
    )
    no_breaker: bool = Field(default=False, description="The payments circuit breaker never opens.")
    no_bulkhead: bool = Field(
        default=False, description="Calls to the provider are not capped in number."
    )
    saga_crash_after: Literal["", "stock_reserved", "payment_authorized"] = Field(
        default="", description="The process dies right after this checkout step is recorded."
    )

    relay_crash_after: int = Field(
        default=0, ge=0, le=100_000,
        description="The outbox relay dies (SIGKILL) after publishing this many events of a batch.",
    )  # fmt: skip
    relay_without_outbox: bool = Field(
        default=False,
        description="The relay marks events sent and commits before publishing them (a dual "
        "write: a crash between the two loses them).",
    )
    event_handle_ms: int = Field(
        default=0, ge=0, le=60_000,
        description="Each event's handler works this long before it writes (so a consumer "
        "can be killed mid-message).",
    )  # fmt: skip

    def any_on(self) -> bool:
        """True when any switch differs from its default."""
        return self != LabSwitches()


_UPDATE_DOC = "A partial update: only the switches named change."


def _partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The same fields, each optional and unset by default, unknown names refused."""
    fields: dict[str, Any] = {}
    for field, info in model.model_fields.items():
        annotation: Any = info.annotation
        fields[field] = (annotation | None, FieldInfo.merge_field_infos(info, default=None))
    config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"n_plus_one": True}]})
    return create_model(name, __config__=config, __doc__=_UPDATE_DOC, **fields)


# Derived from LabSwitches, so a new switch is written once (a field above). The type checker
# reads it as LabSwitches itself; at run time every field is optional and unset by default.
if TYPE_CHECKING:
    LabSwitchesUpdate = LabSwitches
else:
    LabSwitchesUpdate = _partial(LabSwitches, "LabSwitchesUpdate")
SWITCH_NAMES: tuple[str, ...] = tuple(LabSwitches.model_fields)
