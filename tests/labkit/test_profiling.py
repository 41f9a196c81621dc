"""Profiles name where the time goes: a call in this process, and the service's own request."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import anyio.to_thread
import pytest

import labkit as lk
from labkit.errors import LabkitError


def _busy() -> str:
    digest = b""
    for _ in range(20_000):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


def test_a_profiled_call_names_its_hot_function_and_keeps_the_result() -> None:
    prof = lk.profile(_busy, repeat=3)
    assert prof.result == _busy()
    assert prof.session.sample_count > 0
    assert "_busy" in prof.text()


@pytest.fixture(scope="module")
def shop() -> Iterator[lk.LiveService]:
    with lk.LiveService(scale=500, settings={"rate_limit_enabled": False}) as svc:
        yield svc


def test_a_request_profile_holds_the_sync_handler_and_its_queries(shop: lk.LiveService) -> None:
    real_hop = anyio.to_thread.run_sync
    prof = lk.profile_request(shop, "/v1/orders", params={"limit": 20}, who="staff", repeat=5)
    assert prof.result.status_code == 200 and len(prof.result.json()["items"]) == 20
    tree = prof.text()
    # The handler runs in a worker thread normally; only because that hop was made inline on
    # the profiled thread do the service function and the ORM appear on the sampled stack.
    assert "list_orders" in tree and "sqlalchemy" in set(prof.by_package()["package"])
    assert anyio.to_thread.run_sync is real_hop  # the hop is restored afterwards
    with shop.client() as client:  # the running service is untouched
        assert client.get("/health/ready").status_code == 200


def test_profiling_a_stopped_service_says_to_start_it() -> None:
    svc = lk.LiveService()
    with pytest.raises(LabkitError, match="start it"):
        lk.profile_request(svc, "/v1/products")
