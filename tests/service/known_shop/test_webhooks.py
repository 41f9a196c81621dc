"""Signed webhooks on each database: the SSRF rule, retries with backoff, the signature the
receiver verifies, rotation with no failed delivery, disabling after repeated failure."""

from __future__ import annotations

import datetime as dt
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from labkit.webhooks import WebhookReceiver
from sample_service.messaging.queue import EVENTS
from sample_service.webhooks import WEBHOOKS, WebhookDelivery, deliver, fan_out
from sample_service.webhooks.delivery import DISABLE_AFTER, DeliveryFailed
from sample_service.worker import Worker
from tests.service.conftest import AppClient, assert_problem
from tests.service.known_shop.conftest import Shop, bearer

PRIVATE = [
    "http://169.254.169.254/latest/meta-data/",  # a cloud's instance metadata: link-local
    "http://10.0.0.5:6379/",
    "http://192.168.1.1/admin",
    "http://[fe80::1]/",
    "http://[::ffff:10.0.0.1]/",  # IPv4-mapped IPv6 is the IPv4 address
    "http://0.0.0.0:8000/",
]
LOOPBACK = ["http://127.0.0.1:9000/hooks", "http://localhost:9000/hooks", "http://[::1]/"]
PUBLIC = "https://93.184.216.34/hooks"  # an address literal: nothing is resolved or called


def _register(client: TestClient, url: str, events: list[str] | None = None) -> Any:
    body = {"url": url, "events": events or ["order.placed", "order.paid", "order.shipped"]}
    return client.post("/v1/webhooks", json=body, headers=bearer(client, "staff@shop.test"))


def test_registration_outside_lab_mode_refuses_private_link_local_and_loopback(
    api: AppClient,
) -> None:
    client = api(lab_mode=False)
    for url in PRIVATE + LOOPBACK:
        assert (
            "webhooks call public addresses only"
            in assert_problem(_register(client, url), 400)["detail"]
        ), url
    created = _register(client, PUBLIC)
    assert created.status_code == 201, created.text
    assert created.json()["secret"].startswith("whsec_")
    assert created.headers["Location"] == f"/v1/webhooks/{created.json()['id']}"


def test_lab_mode_admits_loopback_and_nothing_else(client: TestClient) -> None:
    for url in LOOPBACK:
        assert _register(client, url).status_code == 201, url
    for url in PRIVATE:
        assert_problem(_register(client, url), 400)


def test_only_staff_register_and_only_owners_read(client: TestClient) -> None:
    customer = bearer(client, "alice@shop.test")
    body = {"url": PUBLIC, "events": ["order.paid"]}
    assert_problem(client.post("/v1/webhooks", json=body, headers=customer), 403)
    endpoint = _register(client, PUBLIC).json()["id"]
    assert_problem(client.get(f"/v1/webhooks/{endpoint}", headers=customer), 404)
    assert_problem(_register(client, "ftp://example.com/"), 400)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def worker(shop: Shop) -> Iterator[Worker]:
    """An in-process worker taking events and deliveries; retries 0.2 s, then 0.4 s later."""
    settings = shop.settings(job_retry_base_seconds=0.2, job_max_attempts=5)
    running = Worker(
        settings, name=f"w-{uuid.uuid4().hex[:6]}", queues=(EVENTS, WEBHOOKS), relay=True
    )
    yield running
    running.close()


def _run_until(worker: Worker, done: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        if not worker.step():
            time.sleep(0.02)


def _place(client: TestClient, product: int) -> int:
    response = client.post(
        "/v1/orders",
        json={"items": [{"product_id": product, "quantity": 1}]},
        headers={**bearer(client, "alice@shop.test"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    order_id: int = response.json()["id"]
    return order_id


def _advance(client: TestClient, order_id: int, status: str) -> Any:
    return client.post(
        f"/v1/orders/{order_id}/status",
        json={"status": status},
        headers=bearer(client, "staff@shop.test"),
    )


def test_a_failing_receiver_gets_retries_with_growing_delays_until_it_answers(
    client: TestClient, shop: Shop, worker: Worker, receiver: WebhookReceiver
) -> None:
    created = _register(client, receiver.url, ["order.placed"]).json()
    receiver.secret, receiver.fail_first = created["secret"], 2
    order_id = _place(client, shop.add_product(stock=5))
    _run_until(worker, lambda: len(receiver.events) == 1)
    log = client.get(
        f"/v1/webhooks/{created['id']}/attempts", headers=bearer(client, "staff@shop.test")
    ).json()
    assert [a["status_code"] for a in log] == [503, 503, 200]
    assert len({a["message_id"] for a in log}) == 1  # one webhook-id across its retries
    assert log[-1]["delivery_status"] == "delivered"
    at = [dt.datetime.fromisoformat(a["at"]) for a in log]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(at)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps  # base x 2^(n-1): the retry never comes early
    assert receiver.events[0]["type"] == "order.placed"
    assert receiver.events[0]["data"]["order_id"] == order_id
    assert list(receiver.log()["status"]) == [503, 503, 200]


def test_each_status_step_is_delivered_signed_in_order(
    client: TestClient, shop: Shop, worker: Worker, receiver: WebhookReceiver
) -> None:
    receiver.secret = _register(client, receiver.url).json()["secret"]
    order_id = _place(client, shop.add_product(stock=5))
    assert _advance(client, order_id, "shipped").status_code == 409  # paid comes first
    for status in ("paid", "shipped"):
        assert _advance(client, order_id, status).json()["status"] == status
    _run_until(worker, lambda: len(receiver.events) == 3)
    mine = [e for e in receiver.events if e["data"]["order_id"] == order_id]
    assert [e["type"] for e in mine] == ["order.placed", "order.paid", "order.shipped"]
    assert set(receiver.log()["verdict"]) == {"processed"}


def test_rotation_keeps_both_secrets_valid_during_the_overlap(
    client: TestClient, shop: Shop, worker: Worker, receiver: WebhookReceiver
) -> None:
    created = _register(client, receiver.url, ["order.placed"]).json()
    staff = bearer(client, "staff@shop.test")
    receiver.secret = created["secret"]
    rotated = client.post(
        f"/v1/webhooks/{created['id']}/rotate-secret", headers=staff, json={"overlap_seconds": 3600}
    ).json()
    assert rotated["secret"] != created["secret"] and rotated["previous_expires_at"]
    product = shop.add_product(stock=10)
    _place(client, product)  # the receiver still verifies with the old secret
    _run_until(worker, lambda: len(receiver.events) == 1)
    receiver.secret = rotated["secret"]  # it switches in the middle of the overlap
    _place(client, product)
    _run_until(worker, lambda: len(receiver.events) == 2)
    assert list(receiver.log()["status"]) == [200, 200]  # not one failed delivery
    ended = client.post(
        f"/v1/webhooks/{created['id']}/rotate-secret", headers=staff, json={"overlap_seconds": 0}
    ).json()
    _place(client, product)  # signed with the newest secret only: the receiver's is now old
    _run_until(worker, lambda: len(receiver.received) == 3)
    assert receiver.received[-1].status == 400 and ended["secret"] != rotated["secret"]


def _deliveries(engine: Engine, endpoint_id: int) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.scalars(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.endpoint_id == endpoint_id)
                .order_by(WebhookDelivery.id)
            )
        )


def test_an_endpoint_failing_again_and_again_is_disabled_until_enabled(
    client: TestClient, shop: Shop, receiver: WebhookReceiver
) -> None:
    created = _register(client, receiver.url, ["order.paid"]).json()
    receiver.secret, receiver.fail_first = created["secret"], 10_000
    engine = shop.db.engine
    for n in range(DISABLE_AFTER):
        fan_out(
            engine,
            message_id=str(uuid.uuid4()),
            kind="order.paid",
            payload={"order_id": n},
            max_attempts=5,
        )
    pending = _deliveries(engine, created["id"])
    for delivery_id in pending[:-1]:
        with pytest.raises(DeliveryFailed):
            deliver(engine, delivery_id, allow_loopback=True, final=False)
    assert deliver(engine, pending[-1], allow_loopback=True, final=False) == "failed"
    staff = bearer(client, "staff@shop.test")
    endpoint = client.get(f"/v1/webhooks/{created['id']}", headers=staff).json()
    assert endpoint["status"] == "disabled"
    assert endpoint["consecutive_failures"] == DISABLE_AFTER
    fan_out(engine, message_id=str(uuid.uuid4()), kind="order.paid", payload={}, max_attempts=5)
    assert len(_deliveries(engine, created["id"])) == DISABLE_AFTER  # none for a disabled one
    assert len(receiver.received) == DISABLE_AFTER
    enabled = client.post(f"/v1/webhooks/{created['id']}/enable", headers=staff).json()
    assert (enabled["status"], enabled["consecutive_failures"]) == ("active", 0)


def test_fanning_out_the_same_event_twice_delivers_it_once(client: TestClient, shop: Shop) -> None:
    _register(client, PUBLIC, ["order.cancelled"])
    message = str(uuid.uuid4())
    first = fan_out(
        shop.db.engine, message_id=message, kind="order.cancelled", payload={}, max_attempts=5
    )
    again = fan_out(
        shop.db.engine, message_id=message, kind="order.cancelled", payload={}, max_attempts=5
    )
    assert first >= 1 and again == 0


def test_delivery_checks_the_address_again_and_never_calls_a_refused_one(
    client: TestClient, shop: Shop, receiver: WebhookReceiver
) -> None:
    """Registered in lab mode, delivered by a worker outside it: the loopback URL is refused."""
    created = _register(client, receiver.url, ["order.shipped"]).json()
    receiver.secret = created["secret"]
    engine = shop.db.engine
    fan_out(engine, message_id=str(uuid.uuid4()), kind="order.shipped", payload={}, max_attempts=5)
    delivery = _deliveries(engine, created["id"])[-1]
    assert deliver(engine, delivery, allow_loopback=False, final=True) == "failed"
    log = client.get(
        f"/v1/webhooks/{created['id']}/attempts", headers=bearer(client, "staff@shop.test")
    ).json()
    assert log[-1]["status_code"] is None and "UnsafeTarget" in log[-1]["error"]
    assert receiver.received == []  # not one byte reached it
    assert deliver(engine, delivery, allow_loopback=True, final=True) == "failed"  # settled
