"""Lesson switches: refused outside lab mode and loopback, admin only, each effect real."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sample_service import labswitches
from sample_service.config import Settings
from sample_service.labswitches import LabModeRequired, is_loopback
from sample_service.main import create_app
from tests.service.conftest import AppClient
from tests.service.known_shop.conftest import Shop, bearer


def test_starting_with_a_switch_outside_lab_mode_is_refused() -> None:
    with pytest.raises(LabModeRequired, match="bola"):
        create_app(Settings(database_url="sqlite://", lab_mode=False, bola=True))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.20", False), ("testserver", False), (None, False)],
)  # fmt: skip
def test_loopback_means_this_machine_only(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_switches_are_admin_only(client: TestClient) -> None:
    assert client.get("/lab/switches").status_code == 401
    staff = bearer(client, "staff@shop.test")
    assert client.patch("/lab/switches", json={"bola": True}, headers=staff).status_code == 403
    admin = bearer(client, "admin@shop.test")
    assert client.get("/lab/switches", headers=admin).json()["bola"] is False


def test_switches_are_refused_outside_lab_mode(api: AppClient) -> None:
    client = api(lab_mode=False)
    admin = bearer(client, "admin@shop.test")
    response = client.patch("/lab/switches", json={"bola": True}, headers=admin)
    assert response.status_code == 403
    assert "lab mode is off" in response.json()["detail"]


def test_switches_are_refused_off_loopback(shop: Shop) -> None:
    app = create_app(shop.settings())
    with TestClient(app, base_url="http://shop.example") as remote:
        admin = bearer(remote, "admin@shop.test")
        response = remote.patch("/lab/switches", json={"bola": True}, headers=admin)
    assert response.status_code == 403
    assert app.state.settings.bola is False


def test_switches_set_at_start_are_dropped_off_loopback(shop: Shop) -> None:
    app = create_app(shop.settings(bola=True, cache_off=True))
    with TestClient(app, base_url="http://shop.example") as remote:
        remote.get("/health/live")
    assert labswitches.current(app.state.settings).any_on() is False


def test_switch_update_changes_only_what_it_names(client: TestClient) -> None:
    admin = bearer(client, "admin@shop.test")
    client.patch("/lab/switches", json={"n_plus_one": True}, headers=admin)
    body = client.patch("/lab/switches", json={"latency_ms": 5}, headers=admin).json()
    assert (body["n_plus_one"], body["latency_ms"], body["bola"]) == (True, 5, False)


@pytest.mark.parametrize("body", [{"error_rate": 2}, {"latency_ms": -1}, {"unknown": True}])
def test_out_of_range_switch_values_are_422(client: TestClient, body: dict[str, Any]) -> None:
    admin = bearer(client, "admin@shop.test")
    assert client.patch("/lab/switches", json=body, headers=admin).status_code == 422


def test_error_rate_one_fails_every_api_request_but_not_health(
    api: AppClient,
) -> None:
    client = api(error_rate=1.0)
    response = client.get("/v1/categories")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "injected" in response.json()["detail"]
    assert client.get("/health/live").status_code == 200


def test_latency_switch_delays_api_requests(
    api: AppClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def record(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(labswitches, "sleep", record)
    client = api(latency_ms=250)
    client.get("/v1/categories")
    client.get("/health/live")
    assert slept == [0.25]


def test_query_count_header_counts_statements(client: TestClient) -> None:
    headers = bearer(client, "alice@shop.test")
    assert int(client.get("/v1/users/me", headers=headers).headers["x-db-queries"]) >= 1
    assert client.get("/health/live").headers["x-db-queries"] == "0"
