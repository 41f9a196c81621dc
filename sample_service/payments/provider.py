"""The provider's API: authorize and refund payments, honour ``Idempotency-Key``, misbehave on demand.

Faults are set at run time with ``PUT /faults`` (added latency drawn from a distribution, a
transient error rate, declines, requests that hang, slow-drip bodies, a full outage); they
touch the payment calls only, so ``/faults``, ``/stats``, ``/health`` and the list of
payments keep answering. ``/stats``
counts what arrived, so a lesson can compare what the shop sent with what it meant to send.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

HANG_SECONDS = 3600.0  # "never answers": far beyond any client timeout worth having
_HANG_POLL_SECONDS = 0.05


class Faults(BaseModel):
    """What the provider does wrong; everything off by default."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0, le=60_000, description="Typical added delay.")
    latency_distribution: Literal["fixed", "uniform", "exponential", "lognormal"] = "fixed"
    error_rate: float = Field(default=0.0, ge=0, le=1, description="Share answered 503.")
    decline_rate: float = Field(default=0.0, ge=0, le=1, description="Share declined (402).")
    hang_rate: float = Field(default=0.0, ge=0, le=1, description="Share never answered.")
    drip_rate: float = Field(default=0.0, ge=0, le=1, description="Share sent byte by byte.")
    drip_interval_ms: float = Field(default=200.0, ge=0, le=10_000)
    outage: bool = Field(default=False, description="Every /v1 request answers 503.")
    seed: int = Field(default=0, description="Seeds every random choice: runs repeat.")


class PaymentCreate(BaseModel):
    """Authorize this amount for this reference (the shop's order)."""

    model_config = ConfigDict(extra="forbid")

    amount_cents: int = Field(ge=0)
    reference: str = Field(min_length=1, max_length=100)


class Payment(BaseModel):
    """An authorized, declined or refunded payment."""

    id: str
    reference: str
    amount_cents: int
    status: Literal["authorized", "declined", "refunded"]


class Stats(BaseModel):
    """What reached the provider since the last reset."""

    attempts: int = 0
    replays: int = 0
    authorized: int = 0
    declined: int = 0
    refunded: int = 0
    failed: int = 0
    hung: int = 0
    arrivals: list[tuple[float, str]] = Field(
        default_factory=list, description="Seconds since the reset and key, per attempt."
    )
    by_key: dict[str, list[int]] = Field(
        default_factory=dict, description="Status of each authorization attempt, per key."
    )


class _State:
    """The provider's memory: payments, answers by idempotency key, faults, counters."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.random = random.Random(0)
        self.payments: dict[str, Payment] = {}
        self.answers: dict[str, tuple[int, str]] = {}  # key -> (status, body)
        self.reset_stats()

    def reset_stats(self) -> None:
        self.stats = Stats()
        self.started = time.monotonic()

    def delay(self) -> float:
        """Seconds to wait, drawn from the configured distribution around ``latency_ms``."""
        mean = self.faults.latency_ms / 1000
        match self.faults.latency_distribution:
            case "fixed":
                return mean
            case "uniform":
                return self.random.uniform(0, 2 * mean)
            case "exponential":
                return self.random.expovariate(1 / mean) if mean else 0.0
            case "lognormal":  # median = latency_ms, a long right tail like real services
                return mean * self.random.lognormvariate(0, 0.8)

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.random.random() < rate


def _problem(status: int, detail: str) -> Response:
    body = {"type": "about:blank", "title": "payment provider error", "status": status}
    body["detail"] = detail
    return Response(json.dumps(body), status, media_type="application/problem+json")


def _drip(body: str, interval: float) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        for byte in body.encode():
            yield bytes([byte])
            await asyncio.sleep(interval)

    return chunks()


def create_app() -> FastAPI:
    """A fresh provider with no payments and no faults."""
    state = _State()
    app = FastAPI(title="Payments provider", version="1.0.0")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/faults")
    async def get_faults() -> Faults:
        return state.faults

    @app.put("/faults")
    async def put_faults(faults: Faults) -> Faults:
        """Replace every fault setting (unset ones go back to off) and reseed."""
        state.faults = faults
        state.random = random.Random(faults.seed)
        return faults

    @app.get("/stats")
    async def get_stats() -> Stats:
        return state.stats

    @app.delete("/stats", status_code=204)
    async def reset_stats() -> None:
        state.reset_stats()

    async def hang(request: Request) -> None:
        """Answer nothing until the client gives up or the fault is turned off."""
        state.stats.hung += 1
        deadline = time.monotonic() + HANG_SECONDS
        while (
            state.faults.hang_rate  # turning the fault off releases the requests it holds
            and time.monotonic() < deadline
            and not await request.is_disconnected()
        ):
            await asyncio.sleep(_HANG_POLL_SECONDS)

    async def misbehave(request: Request) -> Response | None:
        """Apply the faults common to every payment call; a response ends the request early."""
        state.stats.attempts += 1
        key = request.headers.get("idempotency-key", "")
        state.stats.arrivals.append((round(time.monotonic() - state.started, 4), key))
        faults = state.faults
        if faults.outage:
            state.stats.failed += 1
            return _problem(503, "the provider is down (outage)")
        if delay := state.delay():
            await asyncio.sleep(delay)
        if state.roll(faults.hang_rate):
            await hang(request)
        if state.roll(faults.error_rate):
            state.stats.failed += 1
            return _problem(503, "injected transient failure (error_rate)")
        return None

    def answer(status: int, body: str, *, replayed: bool = False) -> Response:
        headers = {"Idempotent-Replayed": str(replayed).lower()}
        if state.roll(state.faults.drip_rate):
            interval = state.faults.drip_interval_ms / 1000
            return StreamingResponse(
                _drip(body, interval), status, headers, media_type="application/json"
            )
        return Response(body, status, headers, media_type="application/json")

    @app.post("/v1/payments", status_code=201, response_model=Payment)
    async def authorize(
        request: Request,
        payment: PaymentCreate,
        idempotency_key: Annotated[str, Header(min_length=1, max_length=200)],
    ) -> Response:
        """Authorize once per key: a repeat gets the first answer again."""
        response = await _authorize(request, payment, idempotency_key)
        state.stats.by_key.setdefault(idempotency_key, []).append(response.status_code)
        return response

    async def _authorize(
        request: Request, payment: PaymentCreate, idempotency_key: str
    ) -> Response:
        if (early := await misbehave(request)) is not None:
            return early
        if idempotency_key in state.answers:
            state.stats.replays += 1
            return answer(*state.answers[idempotency_key], replayed=True)
        # No await from here to the stored answer: one event loop, so no two requests with
        # one key can both get past the check above.
        declined = state.roll(state.faults.decline_rate)
        status: Literal["declined", "authorized"] = "declined" if declined else "authorized"
        made = Payment(id=uuid.uuid4().hex, status=status, **payment.model_dump())
        if declined:
            state.stats.declined += 1
        else:
            state.stats.authorized += 1
            state.payments[made.id] = made
        state.answers[idempotency_key] = (402 if declined else 201, made.model_dump_json())
        return answer(*state.answers[idempotency_key])

    @app.post("/v1/payments/{payment_id}/refund", response_model=Payment)
    async def refund(request: Request, payment_id: str) -> Response:
        """Refund an authorized payment; refunding it again changes nothing (idempotent)."""
        if (early := await misbehave(request)) is not None:
            return early
        made = state.payments.get(payment_id)
        if made is None:
            raise HTTPException(404, f"payment {payment_id} does not exist")
        if made.status != "refunded":
            made.status = "refunded"
            state.stats.refunded += 1
        return answer(200, made.model_dump_json())

    @app.get("/v1/payments", response_model=list[Payment])
    async def list_payments(reference: str | None = None) -> list[Payment]:
        """Payments made, optionally for one reference: how a lesson counts charges."""
        return [p for p in state.payments.values() if reference in (None, p.reference)]

    return app


app = create_app()  # what uvicorn serves: `uvicorn sample_service.payments.provider:app`
