"""Overload sheds, it does not freeze: bounded waits, 503 + Retry-After, readiness says so.

Before: ~70 concurrent requests deadlocked the pool against the threadpool for 30 s, then
answered 500. The live test sends several hundred at once on each database; the unit tests
pin the admission rules without timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from labkit import LiveService
from labkit.overload import measure_overload
from sample_service.db import Admission
from sample_service.errors import Saturated
from tests.service.conftest import assert_problem

# Generous for a shared 2-core machine, far below the 30 s freeze it replaces.
ANSWER_WITHIN_SECONDS = 12.0
CLIENTS = 300


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def live(request: pytest.FixtureRequest) -> Iterator[LiveService]:
    settings = {"rate_limit_enabled": False, "access_log": False}
    with LiveService(db=request.param, scale=20, settings=settings) as service:
        yield service


def test_several_hundred_concurrent_requests_get_2xx_or_503_quickly(live: LiveService) -> None:
    with live.login("customer") as signed_in:
        token = signed_in.headers["authorization"]
    # Sync endpoints with a session: the profile (two threadpool hops), orders, a product page.
    paths = ["/v1/users/me", "/v1/orders?limit=20", "/v1/products?limit=50"]
    result = measure_overload(
        live.url, paths, clients=CLIENTS, headers={"Authorization": token}, timeout=30
    )
    assert result.unexpected() == {}, result
    assert sum(result.statuses.values()) == CLIENTS, result
    assert result.slowest < ANSWER_WITHIN_SECONDS, result
    # Afterwards the service is ready again and serves as before.
    with live.client() as client:
        assert client.get("/health/ready").status_code == 200
        assert client.get("/v1/products?limit=5").status_code == 200


def _run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def test_a_full_queue_sheds_at_once_and_a_long_wait_sheds_after_the_bound() -> None:
    async def scenario() -> tuple[bool, str, str]:
        admission = Admission(capacity=1, wait_seconds=0.05)

        async def enter() -> str:
            try:
                async with admission.slot():
                    return "admitted"
            except Saturated as exc:
                return exc.headers["Retry-After"]

        async with admission.slot():
            queued = asyncio.create_task(enter())
            await asyncio.sleep(0)  # it is now waiting for the one slot
            saturated = admission.saturated()
            refused_at_once = await enter()  # the queue (capacity 1) is full
            timed_out = await queued
        return saturated, refused_at_once, timed_out

    saturated, refused_at_once, timed_out = _run(scenario())  # type: ignore[misc]
    assert saturated
    assert refused_at_once == "1" and timed_out == "1"


def test_a_freed_slot_admits_the_next_waiter() -> None:
    async def scenario() -> list[str]:
        admission = Admission(capacity=1, wait_seconds=5)
        order: list[str] = []

        async def use(name: str) -> None:
            async with admission.slot():
                order.append(name)
                await asyncio.sleep(0.01)

        await asyncio.gather(use("first"), use("second"))
        assert admission.in_use == 0 and not admission.saturated()
        return order

    assert _run(scenario()) == ["first", "second"]


def test_readiness_reports_saturation_as_503_with_retry_after(client: TestClient) -> None:
    admission: Admission = client.app.state.db.admission  # type: ignore[attr-defined]
    admission.in_use, admission.waiting = admission.capacity, 1  # as during a burst
    try:
        response = client.get("/health/ready")
    finally:
        admission.in_use, admission.waiting = 0, 0
    body = assert_problem(response, 503)
    assert response.headers["retry-after"] == "1" and "saturated" in body["detail"]
    assert client.get("/health/ready").status_code == 200
