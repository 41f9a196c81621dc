"""Readiness keeps its own bound when the database's wire goes dark (a blackhole, not a refusal).

Nothing answers a blackholed connection, not even the request to cancel a query, so a probe
that waits for the cancelled ping to unwind would hang exactly when the load balancer asks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import labkit as lk
from tests.service.conftest import assert_problem

BOUND_SECONDS = 2.0  # READY_TIMEOUT_SECONDS
MARGIN_SECONDS = 1.0  # a loaded machine's scheduling; the old probe took twice the bound


@pytest.fixture(scope="module")
def dark_wire() -> Iterator[tuple[lk.FaultProxy, lk.LiveService]]:
    db = lk.database("postgres", name="ready_blackhole", fresh=True)
    try:
        with (
            lk.FaultProxy(db.url) as proxy,
            lk.LiveService(db=proxy.url, scale=20, settings={"access_log": False}) as shop,
        ):
            yield proxy, shop
    finally:
        db.drop()


def test_readiness_says_503_within_its_bound_while_the_wire_is_dark(
    dark_wire: tuple[lk.FaultProxy, lk.LiveService],
) -> None:
    proxy, shop = dark_wire
    with shop.client(timeout=30) as client:
        assert client.get("/health/ready").status_code == 200
        proxy.set(blackhole=True)
        try:
            for _ in range(2):  # the pooled connection first, then a new one that never opens
                started = time.monotonic()
                answer = client.get("/health/ready")
                took = time.monotonic() - started
                assert_problem(answer, 503)
                assert took < BOUND_SECONDS + MARGIN_SECONDS, took
            assert client.get("/health/live").status_code == 200
        finally:
            proxy.heal()
            proxy.reset_connections()
        deadline = time.monotonic() + 20
        while client.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "readiness did not come back after the wire healed"
            time.sleep(0.2)
