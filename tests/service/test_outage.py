"""Health during a database outage: ready turns 503, live stays 200, requests fail fast."""

from __future__ import annotations

import time

import pytest

from labkit.outage import database_outage
from tests.service.conftest import AppClient, Seeded, assert_problem


def test_during_an_outage_ready_is_503_live_is_200_and_reads_are_503_problems(
    seeded: Seeded, api: AppClient
) -> None:
    if seeded.db.kind != "postgres":
        pytest.skip("SQLite lives inside the service's process; an outage needs a server")
    client = api(cache_ttl_seconds=0)
    assert client.get("/health/ready").status_code == 200
    with database_outage(seeded.db):
        assert_problem(client.get("/health/ready"), 503)
        assert client.get("/health/live").status_code == 200
        assert_problem(client.get("/v1/products/1"), 503)
        listing = assert_problem(client.get("/v1/products"), 503)
        assert "database" in listing["detail"]
    deadline = time.monotonic() + 10
    while client.get("/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "the service did not recover within 10 s"
        time.sleep(0.05)
    assert client.get("/v1/products/1").status_code == 200
    assert client.get("/v1/products").status_code == 200
