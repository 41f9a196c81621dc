"""Checkout as a saga against a real provider: paid, declined, unreachable, crashed, repeated.

On every database kind; one provider per database so order ids (its idempotency keys) never
meet another database's.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labkit.service import LiveService
from sample_service.db import Database, session_scope
from sample_service.models import SagaStep
from sample_service.resilience.payments import PaymentsClient
from sample_service.services import checkout
from tests.service.conftest import AppClient, Seeded, assert_problem, new_product

PROVIDER_APP = "sample_service.payments.provider:app"


@pytest.fixture(scope="module")
def provider(seeded: Seeded) -> Iterator[LiveService]:
    with LiveService(PROVIDER_APP, ready_path="/health") as service:
        yield service


@pytest.fixture
def faults(provider: LiveService) -> Iterator[Any]:
    """``faults(**settings)`` sets the provider's faults; all are cleared after the test."""
    http = provider.client()

    def set_faults(**values: Any) -> None:
        assert http.put("/faults", json=values).status_code == 200

    yield set_faults
    set_faults()
    http.close()


@pytest.fixture
def shop(api: AppClient, provider: LiveService) -> Any:
    """``shop(**settings)``: the shop paying through the provider, no background sweep."""

    def make(**settings: Any) -> TestClient:
        return api(**{"payments_url": provider.url, "saga_sweep_seconds": 0, **settings})

    return make


def place(client: TestClient, seeded: Seeded, product: dict[str, Any], key: str = "") -> Any:
    body = {"items": [{"product_id": product["id"], "quantity": 2}]}
    headers = {**seeded.customer, "Idempotency-Key": key or str(uuid.uuid4())}
    return client.post("/v1/orders", json=body, headers=headers)


def stock(client: TestClient, product: dict[str, Any]) -> int:
    value: int = client.get(f"/v1/products/{product['id']}").json()["stock"]
    return value


def saga(seeded: Seeded, order_id: int) -> list[str]:
    with session_scope(Database(seeded.settings())) as session:
        return checkout.steps(session, order_id)


def charges(provider: LiveService, order_id: int) -> int:
    with provider.client() as http:
        return len(http.get("/v1/payments", params={"reference": f"order-{order_id}"}).json())


def test_an_order_is_reserved_paid_and_confirmed_each_step_recorded(
    shop: Any, seeded: Seeded, provider: LiveService
) -> None:
    client = shop()
    product = new_product(client, seeded.staff)
    placed = place(client, seeded, product)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "paid"
    assert saga(seeded, order["id"]) == ["stock_reserved", "payment_authorized", "order_confirmed"]
    assert charges(provider, order["id"]) == 1
    assert stock(client, product) == 3


def test_a_declined_payment_releases_the_stock_and_frees_the_key(
    shop: Any, seeded: Seeded, faults: Any
) -> None:
    client = shop()
    product = new_product(client, seeded.staff)
    faults(decline_rate=1.0)
    key = str(uuid.uuid4())
    assert_problem(place(client, seeded, product, key), 402)
    assert stock(client, product) == 5
    faults()
    again = place(client, seeded, product, key)  # the same key runs afresh, not 409
    assert again.status_code == 201
    assert again.json()["status"] == "paid"


def test_an_unreachable_provider_is_a_503_with_retry_after_and_no_stock_taken(
    shop: Any, seeded: Seeded, faults: Any
) -> None:
    client = shop(payments_max_attempts=2, payments_backoff_base=0.001)
    product = new_product(client, seeded.staff)
    faults(outage=True)
    refused = place(client, seeded, product)
    assert_problem(refused, 503)
    assert int(refused.headers["Retry-After"]) >= 1
    assert stock(client, product) == 5


def _accepted_while_the_provider_is_down(
    shop: Any, seeded: Seeded, faults: Any, key: str
) -> tuple[TestClient, dict[str, Any], dict[str, Any]]:
    """An order placed with the pending fallback during an outage: client, product, order."""
    client = shop(payments_max_attempts=1, payments_fallback="pending")
    product = new_product(client, seeded.staff)
    faults(outage=True)
    accepted = place(client, seeded, product, key)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "payment_pending"
    assert stock(client, product) == 3  # reserved while the payment waits
    faults()
    return client, product, accepted.json()


def _recover(seeded: Seeded, provider: LiveService, order_id: int) -> tuple[dict[int, str], str]:
    """One recovery pass with the provider back: what it settled, and the order's last step."""
    settings = seeded.settings(payments_url=provider.url)
    with session_scope(Database(settings)) as session:
        payments = PaymentsClient(settings)
        reached = checkout.recover(session=session, payments=payments, idle_seconds=0)
        payments.close()
        return reached, checkout.steps(session, order_id)[-1]


def test_the_pending_fallback_accepts_the_order_and_recovery_settles_it(
    shop: Any, seeded: Seeded, faults: Any, provider: LiveService
) -> None:
    key = str(uuid.uuid4())
    client, product, order = _accepted_while_the_provider_is_down(shop, seeded, faults, key)
    reached, _ = _recover(seeded, provider, order["id"])
    assert reached[order["id"]] == "order_confirmed"
    replay = place(client, seeded, product, key)
    assert replay.status_code == 201
    assert replay.json()["status"] == "paid"


def test_an_order_cancelled_while_pending_is_never_charged_later(
    shop: Any, seeded: Seeded, faults: Any, provider: LiveService
) -> None:
    key = str(uuid.uuid4())
    client, product, order = _accepted_while_the_provider_is_down(shop, seeded, faults, key)
    cancelled = client.post(f"/v1/orders/{order['id']}/cancel", headers=seeded.customer)
    assert cancelled.status_code == 200, cancelled.text
    assert stock(client, product) == 5
    reached, last_step = _recover(seeded, provider, order["id"])
    assert order["id"] not in reached and last_step == "stock_released"  # closed by the cancel
    status = client.get(f"/v1/orders/{order['id']}", headers=seeded.customer).json()["status"]
    assert status == "cancelled"


class Crash(Exception):
    """Stands in for the process dying (os._exit) inside a test."""


def crashes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make ``os._exit`` raise ``Crash``; the list collects the exit codes it was called with."""
    died: list[int] = []

    def die(code: int) -> None:
        died.append(code)
        raise Crash(code)

    monkeypatch.setattr(os, "_exit", die)
    return died


def place_until_it_dies(
    client: TestClient, seeded: Seeded, product: dict[str, Any], key: str = ""
) -> None:
    """The request stops where the process would: the app's last-resort handler answers 500
    for the stand-in, or the stand-in reaches the test client."""
    try:
        response = place(client, seeded, product, key)
    except Crash:
        return
    assert response.status_code == 500, response.text


@pytest.mark.parametrize("crash_after", ["stock_reserved", "payment_authorized"])
def test_a_crash_between_steps_is_recovered_without_a_double_charge(
    shop: Any,
    seeded: Seeded,
    provider: LiveService,
    monkeypatch: pytest.MonkeyPatch,
    crash_after: str,
) -> None:
    died = crashes(monkeypatch)
    client = shop(lab_mode=True, saga_crash_after=crash_after)
    product = new_product(client, seeded.staff)
    key = str(uuid.uuid4())
    place_until_it_dies(client, seeded, product, key)
    assert died == [70]
    settings = seeded.settings(payments_url=provider.url)
    with session_scope(Database(settings)) as session:
        payments = PaymentsClient(settings)
        reached = checkout.recover(session=session, payments=payments, idle_seconds=0)
        payments.close()
    (order_id,) = [order for order, step in reached.items() if step == "order_confirmed"]
    assert saga(seeded, order_id)[-1] == "order_confirmed"
    assert charges(provider, order_id) == 1
    assert stock(client, product) == 3
    replay = place(shop(), seeded, product, key)
    assert replay.json()["status"] == "paid"


def test_a_repeated_step_does_nothing_twice(
    shop: Any, seeded: Seeded, provider: LiveService
) -> None:
    client = shop()
    product = new_product(client, seeded.staff)
    order_id = place(client, seeded, product).json()["id"]
    settings = seeded.settings(payments_url=provider.url)
    with session_scope(Database(settings)) as session:
        payments = PaymentsClient(settings)
        assert checkout.settle(session=session, order_id=order_id, payments=payments) == (
            "order_confirmed"
        )
        payments.close()
        checkout.compensate(session=session, order_id=order_id, reason="test")
        checkout.compensate(session=session, order_id=order_id, reason="test again")
        released = session.query(SagaStep).filter_by(order_id=order_id, step="stock_released")
        assert released.count() == 1
    assert stock(client, product) == 5  # put back once, not twice
    assert charges(provider, order_id) == 1


def test_without_a_provider_orders_are_placed_as_before_with_no_saga(
    api: AppClient, seeded: Seeded
) -> None:
    client = api()
    product = new_product(client, seeded.staff)
    placed = place(client, seeded, product)
    assert placed.status_code == 201
    assert placed.json()["status"] == "placed"
    assert saga(seeded, placed.json()["id"]) == []


def test_breaker_state_and_transitions_show_in_metrics_and_logs(
    shop: Any, seeded: Seeded, faults: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = shop(payments_max_attempts=1, payments_breaker_failures=2)
    product = new_product(client, seeded.staff)
    faults(outage=True)
    logger = logging.getLogger("sample_service.resilience")  # it does not propagate to root
    logger.addHandler(caplog.handler)
    try:
        for _ in range(3):
            assert_problem(place(client, seeded, product), 503)
    finally:
        logger.removeHandler(caplog.handler)
    scrape = client.get("/metrics").text
    assert 'shop_breaker_state{dependency="payments"} 1.0' in scrape  # open
    assert 'shop_dependency_attempts_total{dependency="payments",outcome="refused"}' in scrape
    assert "circuit breaker payments: closed -> open" in caplog.text


def test_a_restarted_shop_resumes_a_crashed_saga_on_its_own(
    shop: Any, seeded: Seeded, provider: LiveService, monkeypatch: pytest.MonkeyPatch
) -> None:
    died = crashes(monkeypatch)
    client = shop(lab_mode=True, saga_crash_after="stock_reserved")
    product = new_product(client, seeded.staff)
    place_until_it_dies(client, seeded, product)
    assert died == [70]
    orders = client.get("/v1/orders", params={"limit": 1}, headers=seeded.staff).json()
    order_id = orders["items"][0]["id"]
    assert saga(seeded, order_id) == ["stock_reserved"]
    # The restart: a new app whose start-up sweep finds the saga idle and settles it.
    restarted = shop(saga_idle_seconds=0, saga_sweep_seconds=0.05)
    for _ in range(200):
        if saga(seeded, order_id)[-1] == "order_confirmed":
            break
        time.sleep(0.05)
    assert saga(seeded, order_id)[-1] == "order_confirmed"
    assert restarted.get(f"/v1/orders/{order_id}", headers=seeded.staff).json()["status"] == "paid"
    assert charges(provider, order_id) == 1
