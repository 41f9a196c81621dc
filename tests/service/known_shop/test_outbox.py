"""The transactional outbox: events commit with the order, a relay crash loses none, and
an idempotent consumer absorbs the duplicates the crash causes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from labkit import _process
from labkit.worker import LiveWorker
from sample_service.db import make_engine
from sample_service.messaging import consumers
from sample_service.messaging.outbox import relay_once
from sample_service.messaging.queue import EVENTS, DatabaseQueue
from sample_service.models import Job, OutboxEvent, ProcessedMessage, ProductSales
from sample_service.worker import Worker
from tests.service.known_shop.conftest import Shop, bearer


@pytest.fixture
def engine(shop: Shop) -> Iterator[Engine]:
    engine = make_engine(shop.db.url)
    yield engine
    engine.dispose()


def _order(client: TestClient, product: int, quantity: int) -> Any:
    return client.post(
        "/v1/orders",
        json={"items": [{"product_id": product, "quantity": quantity}]},
        headers={**bearer(client, "alice@shop.test"), "Idempotency-Key": str(uuid.uuid4())},
    )


def _events_of(engine: Engine, product: int) -> list[OutboxEvent]:
    with Session(engine) as session:
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at))
        return [e for e in rows if e.payload["items"][0]["product_id"] == product]


def _sales(engine: Engine, product: int) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(
            select(ProductSales.orders, ProductSales.units).where(
                ProductSales.product_id == product
            )
        ).first()
    return (0, 0) if row is None else (row[0], row[1])


def _drain_events(shop: Shop) -> int:
    worker = Worker(shop.settings(), name="consumer", queues=(EVENTS,), relay=False)
    try:
        steps = 0
        while worker.step():
            steps += 1
        return steps
    finally:
        worker.close()


def test_an_order_and_its_event_commit_together(
    client: TestClient, shop: Shop, engine: Engine
) -> None:
    product = shop.add_product(stock=2)
    placed = _order(client, product, 2)
    refused = _order(client, product, 1)  # out of stock: rolled back, event included
    assert (placed.status_code, refused.status_code) == (201, 409)
    events = _events_of(engine, product)
    assert [(e.topic, e.key, e.published_at) for e in events] == [
        ("order.placed", str(placed.json()["id"]), None)
    ]


def test_a_relay_crash_after_publishing_loses_nothing_and_duplicates_change_nothing(
    client: TestClient, shop: Shop, engine: Engine
) -> None:
    relay_once(engine, DatabaseQueue(engine).publish)  # earlier tests' events out of the way
    _drain_events(shop)
    product = shop.add_product(stock=50)
    for quantity in (1, 2, 3):
        assert _order(client, product, quantity).status_code == 201
    queue, published = DatabaseQueue(engine), []

    def publish_then_crash(**message: Any) -> None:
        queue.publish(**message)
        published.append(message["message_id"])
        if len(published) == 2:  # the process dies after publishing, before marking
            raise SystemExit("relay killed")

    with pytest.raises(SystemExit):
        relay_once(engine, publish_then_crash)
    assert all(e.published_at is None for e in _events_of(engine, product))  # nothing marked
    assert relay_once(engine, queue.publish) == 3  # the restarted relay sends all three
    with engine.connect() as conn:
        jobs = conn.scalar(select(func.count()).where(Job.message_id.in_(published)))
    assert jobs == 4  # the two sent before the crash went twice
    _drain_events(shop)
    assert _sales(engine, product) == (3, 6)  # three orders, six units: no loss, no double count
    with engine.connect() as conn:
        applied = conn.scalar(
            select(func.count())
            .select_from(ProcessedMessage)
            .where(ProcessedMessage.message_id.in_([e.id for e in _events_of(engine, product)]))
        )
    assert applied == 3


def test_a_redelivered_event_is_applied_once(shop: Shop, engine: Engine) -> None:
    product = shop.add_product(stock=5)
    event = {
        "placed_at": "2026-01-02T03:04:05+00:00",
        "items": [{"product_id": product, "quantity": 4}],
    }
    message_id = str(uuid.uuid4())
    applied = [consumers.apply_order_event(engine, message_id=message_id, kind="order.placed",
                                           payload=event) for _ in range(3)]  # fmt: skip
    assert applied == [True, False, False]
    assert _sales(engine, product) == (1, 4)


def test_a_cancelled_order_takes_its_units_back(
    client: TestClient, shop: Shop, engine: Engine
) -> None:
    product = shop.add_product(stock=5)
    order = _order(client, product, 3).json()
    cancel = client.post(
        f"/v1/orders/{order['id']}/cancel", headers=bearer(client, "alice@shop.test")
    )
    assert cancel.status_code == 200, cancel.text
    relay_once(engine, DatabaseQueue(engine).publish)
    _drain_events(shop)
    assert _sales(engine, product) == (0, 0)


def test_workers_started_after_the_relay_died_deliver_every_committed_event(
    client: TestClient, shop: Shop, engine: Engine
) -> None:
    product = shop.add_product(stock=20)
    for quantity in (1, 2, 3, 4):  # committed while no relay runs
        assert _order(client, product, quantity).status_code == 201
    with LiveWorker(shop.db.url, processes=2, settings={"job_poll_seconds": 0.05}) as workers:
        pids = workers.pids
        assert len(pids) == 2
        _wait_for(lambda: _sales(engine, product) == (4, 10))
    assert not any(_process.is_running(pid) for pid in pids)


def _wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.05)


def test_a_relay_holds_back_an_event_whose_older_sibling_another_relay_holds(
    client: TestClient, shop: Shop, engine: Engine
) -> None:
    if shop.db.kind == "sqlite":
        pytest.skip("SQLite has one writer: no second relay can hold a row while this one runs")
    relay_once(engine, lambda **_: None)  # earlier tests' events out of the way
    product = shop.add_product(stock=5)
    order = _order(client, product, 1).json()
    cancel = client.post(
        f"/v1/orders/{order['id']}/cancel", headers=bearer(client, "alice@shop.test")
    )
    assert cancel.status_code == 200, cancel.text
    sent: list[str] = []

    def publish(**event: Any) -> None:
        if event["key"] == str(order["id"]):
            sent.append(event["kind"])

    with engine.connect() as other_relay, other_relay.begin():
        other_relay.execute(  # holds order.placed, as a relay publishing it would
            select(OutboxEvent.id)
            .where(OutboxEvent.key == str(order["id"]), OutboxEvent.topic == "order.placed")
            .with_for_update()
        ).one()
        relay_once(engine, publish)
        assert sent == []  # order.cancelled waited for its order.placed
    relay_once(engine, publish)
    assert sent == ["order.placed", "order.cancelled"]
