"""Delivery with real worker processes: a relay SIGKILLed between publish and mark, a relay
that commits before publishing, a consumer SIGKILLed mid-message, order per order under
three consumers (on the database queue, RabbitMQ and Redis Streams), and the read models'
lag in /metrics. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import labkit.events as events
from labkit import _process
from labkit.worker import LiveWorker
from sample_service.messaging import outbox
from sample_service.messaging.brokers import RabbitTransport, RedisStreamTransport
from sample_service.models import Job, OutboxEvent, ProcessedMessage
from tests.service.known_shop.conftest import Shop, bearer
from tests.service.known_shop.event_helpers import drain

FAST = {"job_poll_seconds": 0.05, "job_visibility_seconds": 1.0, "lab_mode": True}


def _orders(client: TestClient, shop: Shop, n: int) -> list[int]:
    product = shop.add_product(stock=100)
    headers = bearer(client, "alice@shop.test")
    ids = []
    for _ in range(n):
        placed = client.post(
            "/v1/orders",
            json={"items": [{"product_id": product, "quantity": 1}]},
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert placed.status_code == 201, placed.text
        ids.append(placed.json()["id"])
    return ids


def _crash_relay(shop: Shop, **switches: Any) -> int:
    """A relay-only worker with a crash switch, run until it dies; its exit code."""
    with LiveWorker(shop.db.url, queues=("exports",), settings={**FAST, **switches}) as relay:
        pids = relay.pids
        code = relay.wait_for_exit()
    assert not any(_process.is_running(pid) for pid in pids)
    return code


def _drain(shop: Shop) -> events.EventCounts:
    """Relay and consume everything waiting, then count (the crash tests' restart)."""
    drain(shop)
    return events.settle(shop.db.url, quiet=0)


def test_a_relay_killed_between_publish_and_mark_loses_nothing(
    client: TestClient, shop: Shop
) -> None:
    _drain(shop)  # earlier tests' events out of the way
    before = events.counts(shop.db.url)
    _orders(client, shop, 5)
    assert _crash_relay(shop, relay_crash_after=2) == -9
    after = _drain(shop) - before
    assert (after.produced, after.applied, after.lost) == (5, 5, 0)
    assert after.duplicates_absorbed == 2  # sent before the kill, sent again after it


def test_a_relay_that_commits_before_publishing_loses_what_it_had_not_sent(
    client: TestClient, shop: Shop
) -> None:
    _drain(shop)
    before = events.counts(shop.db.url)
    _orders(client, shop, 5)
    assert _crash_relay(shop, relay_crash_after=2, relay_without_outbox=True) == -9
    after = _drain(shop) - before
    assert (after.produced, after.applied, after.lost) == (5, 2, 3)
    assert events.replay_unapplied(shop.db.url) == 3  # the outbox still holds them
    repaired = _drain(shop) - before
    assert (repaired.applied, repaired.lost) == (5, 0)


def test_a_consumer_killed_mid_message_gets_it_again_and_applies_it_once(
    client: TestClient, shop: Shop
) -> None:
    _drain(shop)
    before = events.counts(shop.db.url)
    slow = LiveWorker(shop.db.url, processes=2, settings={**FAST, "event_handle_ms": 400})
    with slow:
        _orders(client, shop, 4)
        _, message_id = slow.kill_mid_message()
        assert len(slow.pids) == 1
        after = events.settle(shop.db.url) - before
    with shop.db.engine.connect() as conn:
        # two relays on SQLite (no SKIP LOCKED) may both publish it: every copy is one job
        jobs = conn.execute(select(Job.attempts, Job.status).where(Job.message_id == message_id))
        attempts, statuses = zip(*jobs.all(), strict=True)
        applied = conn.scalar(select(func.count()).where(ProcessedMessage.message_id == message_id))
    assert max(attempts) >= 2 and set(statuses) == {"done"}  # the killed claim came back
    assert applied == 1 and (after.applied, after.lost) == (4, 0)


def test_one_orders_events_apply_in_order_under_three_consumers(
    client: TestClient, shop: Shop
) -> None:
    _drain(shop)
    headers = bearer(client, "alice@shop.test")
    with LiveWorker(shop.db.url, processes=3, settings={**FAST, "event_handle_ms": 50}) as three:
        for order_id in _orders(client, shop, 5):
            cancel = client.post(f"/v1/orders/{order_id}/cancel", headers=headers)
            assert cancel.status_code == 200, cancel.text
        events.settle(shop.db.url)
        busy = [i for i in range(3) if any(" handling " in line for line in three.logs(i))]
    check = events.ordering(shop.db.url)
    assert check.keys >= 5 and check.out_of_order == 0
    assert len(busy) >= 2


def test_metrics_show_the_read_models_lag_until_the_events_are_applied(
    client: TestClient, shop: Shop
) -> None:
    _drain(shop)
    _orders(client, shop, 3)

    def gauges() -> dict[str, float]:
        lines = client.get("/metrics").text.splitlines()
        return {
            name: float(line.split()[-1])
            for line in lines
            for name in ("shop_read_model_pending_events", "shop_read_model_lag_seconds")
            if line.startswith(name + " ")
        }

    behind = gauges()
    assert behind["shop_read_model_pending_events"] >= 3
    assert behind["shop_read_model_lag_seconds"] > 0
    _drain(shop)
    assert gauges() == {"shop_read_model_pending_events": 0, "shop_read_model_lag_seconds": 0}


@pytest.mark.parametrize("switch", ["relay_crash_after", "event_handle_ms"])
def test_a_worker_refuses_delivery_switches_outside_lab_mode(shop: Shop, switch: str) -> None:
    worker = LiveWorker(shop.db.url, settings={switch: 1, "lab_mode": False}, startup_timeout=20)
    with pytest.raises(Exception, match="lab mode"):
        worker.start()
    worker.close()


def _broker(kind: str) -> tuple[str, str]:
    """(url, a queue or stream name of the test's own); skipped without the server."""
    url = os.environ.get(f"{kind.upper()}_URL")
    if not url:
        pytest.skip(f"{kind.upper()}_URL is not set; set it to test the {kind} transport")
    return url, f"labkit_order_{uuid.uuid4().hex[:10]}"


def _transport(kind: str, url: str, name: str) -> RabbitTransport | RedisStreamTransport:
    """A connection to the test's queue or stream (``drop()`` deletes every partition)."""
    if kind == "rabbitmq":
        return RabbitTransport(url, queue=name)
    return RedisStreamTransport(url, consumer="test", stream=name)


@pytest.mark.parametrize("kind", ["rabbitmq", "redis"])
def test_a_broker_hands_a_killed_consumers_message_to_another_once(
    client: TestClient, shop: Shop, kind: str
) -> None:
    url, name = _broker(kind)
    _drain(shop)  # the database queue's leftovers first: this test's events go to the broker
    settings = {**FAST, "event_transport": kind, "event_stream": name, "event_handle_ms": 400,
                f"{kind}_url": url}  # fmt: skip
    try:
        with LiveWorker(shop.db.url, processes=2, settings=settings) as workers:
            keys = [str(i) for i in _orders(client, shop, 4)]
            killed, message_id = workers.kill_mid_message()
            _wait(lambda: _applied(shop, keys) == 4)
            # "handled" is logged once the whole message is done, a moment after its commit.
            _wait(lambda: any(_handled(workers.logs(i), message_id) for i in (0, 1)))
            logs = {i: workers.logs(i) for i in (0, 1)}
    finally:
        _transport(kind, url, name).drop()
    handled = {i: _handled(logs[i], message_id) for i in logs}
    assert handled == {killed: False, 1 - killed: True}  # the survivor took it over
    with shop.db.engine.connect() as conn:
        assert (
            conn.scalar(select(func.count()).where(ProcessedMessage.message_id == message_id)) == 1
        )


@pytest.mark.parametrize("kind", ["rabbitmq", "redis"])
def test_a_brokers_partitions_keep_each_orders_events_in_order_under_three_consumers(
    client: TestClient, shop: Shop, kind: str
) -> None:
    url, name = _broker(kind)
    _drain(shop)
    headers = bearer(client, "alice@shop.test")
    settings = {**FAST, "event_transport": kind, "event_stream": name, "event_handle_ms": 50,
                f"{kind}_url": url}  # fmt: skip
    # One relay, here, publishing after each write: several relays (SKIP LOCKED) may each
    # take a batch and publish a key's later event first, which no transport can put right.
    publisher = _transport(kind, url, name)
    try:
        with LiveWorker(shop.db.url, processes=3, relay=False, settings=settings) as three:
            keys = []
            for order_id in _orders(client, shop, 6):
                outbox.relay_once(shop.db.engine, publisher.publish)
                cancel = client.post(f"/v1/orders/{order_id}/cancel", headers=headers)
                assert cancel.status_code == 200, cancel.text
                outbox.relay_once(shop.db.engine, publisher.publish)
                keys.append(str(order_id))
            _wait(lambda: _applied(shop, keys) == 2 * len(keys))
            busy = [i for i in range(3) if any(" handling " in line for line in three.logs(i))]
    finally:
        publisher.drop()
    check = events.ordering(shop.db.url)
    assert check.keys >= 6 and check.out_of_order == 0
    # Redis leases are taken per message, so the partitions are shared; RabbitMQ keeps the
    # first subscriber active on every partition, the others standing by (the module's note).
    assert len(busy) >= (2 if kind == "redis" else 1)


def _handled(log: list[str], message_id: str) -> bool:
    return any(line.endswith(f"handled {message_id}") for line in log)


def _applied(shop: Shop, keys: list[str]) -> int:
    with shop.db.engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .join(ProcessedMessage, ProcessedMessage.message_id == OutboxEvent.id)
                .where(OutboxEvent.key.in_(keys))
            )
            or 0
        )


def _wait(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.05)
