"""The payments provider on its own: idempotent authorizations, refunds, faults set at run time."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sample_service.payments.provider import create_app


@pytest.fixture
def provider() -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def authorize(provider: TestClient, key: str, amount: int = 500) -> Any:
    body = {"amount_cents": amount, "reference": f"ref-{key}"}
    return provider.post("/v1/payments", json=body, headers={"Idempotency-Key": key})


def test_the_same_key_authorizes_once_and_replays_the_first_answer(provider: TestClient) -> None:
    first = authorize(provider, "k1")
    again = authorize(provider, "k1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(provider.get("/v1/payments").json()) == 1
    assert provider.get("/stats").json()["replays"] == 1


def test_an_authorization_without_a_key_is_refused(provider: TestClient) -> None:
    response = provider.post("/v1/payments", json={"amount_cents": 1, "reference": "r"})
    assert response.status_code == 422


def test_a_decline_is_402_and_replays_as_a_decline(provider: TestClient) -> None:
    provider.put("/faults", json={"decline_rate": 1.0})
    assert authorize(provider, "k2").status_code == 402
    provider.put("/faults", json={})
    assert authorize(provider, "k2").status_code == 402  # the first answer stands
    assert provider.get("/v1/payments").json() == []


def test_refund_is_idempotent(provider: TestClient) -> None:
    payment = authorize(provider, "k3").json()
    for _ in range(2):
        refunded = provider.post(f"/v1/payments/{payment['id']}/refund")
        assert refunded.status_code == 200
        assert refunded.json()["status"] == "refunded"
    assert provider.get("/stats").json()["refunded"] == 1
    assert provider.post("/v1/payments/nope/refund").status_code == 404


def test_an_outage_fails_payments_but_not_health_or_faults(provider: TestClient) -> None:
    provider.put("/faults", json={"outage": True})
    assert authorize(provider, "k4").status_code == 503
    assert provider.get("/health").status_code == 200
    assert provider.get("/faults").json()["outage"] is True


def test_error_rate_fails_about_that_share_and_repeats_with_its_seed(provider: TestClient) -> None:
    def run(prefix: str) -> list[bool]:
        provider.put("/faults", json={"error_rate": 0.3, "seed": 5})
        return [authorize(provider, f"{prefix}{i}").status_code == 503 for i in range(200)]

    first = run("a")
    assert 0.22 <= sum(first) / len(first) <= 0.38
    assert run("b") == first


def test_unknown_or_out_of_range_faults_are_refused(provider: TestClient) -> None:
    assert provider.put("/faults", json={"error_rate": 2}).status_code == 422
    assert provider.put("/faults", json={"explode": True}).status_code == 422


@pytest.mark.parametrize("distribution", ["fixed", "uniform", "exponential", "lognormal"])
def test_latency_distributions_center_on_the_configured_latency(distribution: str) -> None:
    from sample_service.payments.provider import Faults, _State

    state = _State()
    state.faults = Faults(latency_ms=100, latency_distribution=distribution)  # type: ignore[arg-type]
    delays = [state.delay() for _ in range(4000)]
    center = statistics.median(delays) if distribution == "lognormal" else statistics.mean(delays)
    assert center == pytest.approx(0.1, rel=0.1)
    assert (max(delays) > 0.25) is (distribution in {"exponential", "lognormal"})
