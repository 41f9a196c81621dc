"""RabbitMQ and Redis Streams as event transports: acks, redelivery, dead letters, dedup.

Each runs when its server's URL is set (RABBITMQ_URL, REDIS_URL), on a queue or stream of
the test's own that is deleted afterwards.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sample_service.messaging import consumers
from sample_service.messaging.brokers import (
    EventTransport,
    RabbitTransport,
    RedisStreamTransport,
)
from sample_service.models import ProductSales
from sample_service.worker import Worker
from tests.service.known_shop.conftest import Shop, bearer

URL_OF = {"rabbitmq": "RABBITMQ_URL", "redis": "REDIS_URL"}
MakeTransport = Callable[..., EventTransport]


@pytest.fixture(params=sorted(URL_OF))
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, str]]:
    """(kind, url, a queue or stream name of the test's own); skipped without the server."""
    kind = request.param
    url = os.environ.get(URL_OF[kind])
    if not url:
        pytest.skip(f"{URL_OF[kind]} is not set; set it to test the {kind} transport")
    name = f"labkit-test-{uuid.uuid4().hex[:10]}"
    yield kind, url, name
    _make(kind, url, name, "cleanup").drop()  # type: ignore[attr-defined]


def _make(kind: str, url: str, name: str, consumer: str, **options: Any) -> EventTransport:
    options.setdefault("poll_seconds", 0.05)
    if kind == "rabbitmq":
        options.pop("visibility_seconds", None)  # redelivery comes with the lost connection
        return RabbitTransport(url, queue=name, **options)
    options.pop("prefetch", None)  # a stream consumer reads one entry at a time
    return RedisStreamTransport(url, consumer=consumer, stream=name, **options)


@pytest.fixture
def make(broker: tuple[str, str, str]) -> Iterator[MakeTransport]:
    """``make(consumer, **options)`` → a transport on the test's queue, closed afterwards."""
    made: list[EventTransport] = []

    def build(consumer: str = "c1", **options: Any) -> EventTransport:
        made.append(_make(*broker, consumer, **options))
        return made[-1]

    yield build
    for transport in made:
        transport.close()


def _event(product: int = 1, quantity: int = 1) -> dict[str, Any]:
    return {
        "placed_at": "2026-01-02T03:04:05+00:00",
        "items": [{"product_id": product, "quantity": quantity}],
    }


def _drain(transport: EventTransport, handle: Callable[..., object]) -> None:
    while transport.consume_one(handle):
        pass


def test_a_failing_message_is_dead_lettered_after_max_attempts(make: MakeTransport) -> None:
    transport = make(max_attempts=3, visibility_seconds=0.001)
    transport.publish(queue="events", kind="order.placed", payload=_event(), message_id="m1")
    tries: list[str] = []

    def always_fails(message_id: str, _kind: str, _payload: dict[str, Any]) -> None:
        tries.append(message_id)
        time.sleep(0.002)  # idle past the visibility timeout, so a stream entry is claimable
        raise RuntimeError("poison")

    _drain(transport, always_fails)
    assert tries == ["m1"] * 3
    _wait_for(lambda: transport.dead_letters() == 1)


def test_a_message_a_consumer_died_holding_is_delivered_again(make: MakeTransport) -> None:
    first = make("c1", visibility_seconds=0.001)
    first.publish(queue="events", kind="order.placed", payload=_event(), message_id="m1")

    def dies(_message_id: str, _kind: str, _payload: dict[str, Any]) -> None:
        raise SystemExit("killed mid-message")

    with pytest.raises(SystemExit):
        first.consume_one(dies)
    first.close()  # its connection goes, as the process's would
    time.sleep(0.01)
    seen: list[str] = []
    second = make("c2", visibility_seconds=0.001)
    _wait_for(lambda: second.consume_one(lambda m, _k, _p: seen.append(m)))
    assert seen == ["m1"]


def test_while_one_consumer_handles_a_keys_event_another_gets_none_of_that_key(
    make: MakeTransport,
) -> None:
    first, second = make("c1", prefetch=1), make("c2", prefetch=1)  # one in hand each
    for n, kind in enumerate(("order.placed", "order.cancelled", "order.placed")):
        first.publish(queue="events", kind=kind, payload=_event(), message_id=f"m{n}", key="42")
    meanwhile: list[str] = []  # what the second consumer got while the first was busy
    handled: list[str] = []

    def slow(message_id: str, _kind: str, _payload: dict[str, Any]) -> None:
        # One queue shared by both would hand the second the key's next event right now.
        second.consume_one(lambda m, _k, _p: meanwhile.append(m))
        handled.append(message_id)

    _drain(first, slow)
    assert (handled, meanwhile) == (["m0", "m1", "m2"], [])


def test_a_failed_event_keeps_its_keys_later_events_waiting_on_redis(
    broker: tuple[str, str, str], make: MakeTransport
) -> None:
    if broker[0] != "redis":
        pytest.skip("a RabbitMQ retry is published again at its partition's tail (brokers.py)")
    transport = make(visibility_seconds=0.5)
    for n in range(2):
        transport.publish(queue="events", kind="order.placed", payload=_event(),
                          message_id=f"m{n}", key="42")  # fmt: skip
    tries: list[str] = []

    def fails_once(message_id: str, _kind: str, _payload: dict[str, Any]) -> None:
        tries.append(message_id)
        if tries == ["m0"]:
            raise RuntimeError("first try fails")  # pending again after the visibility timeout

    _wait_for(lambda: not transport.consume_one(fails_once) and len(tries) == 3)
    assert tries == ["m0", "m0", "m1"]  # m1 waited for m0's retry


def test_keys_spread_over_the_partitions_and_drop_removes_them_all(
    broker: tuple[str, str, str],
) -> None:
    kind, url, _ = broker
    name = f"labkit_order_{uuid.uuid4().hex[:10]}"
    transport = _make(kind, url, name, "c1", partitions=3)
    for order in range(30):
        transport.publish(queue="events", kind="order.placed", payload=_event(),
                          message_id=str(order), key=str(order))  # fmt: skip
    held = _partition_sizes(kind, url, name, 3)
    transport.drop()  # type: ignore[attr-defined]
    assert sum(held) == 30 and min(held) > 0  # crc32 of the keys spreads them over all three
    assert _partition_sizes(kind, url, name, 3) == [-1, -1, -1]  # all gone


def _partition_sizes(kind: str, url: str, name: str, partitions: int) -> list[int]:
    """Messages in each partition queue or stream, -1 where it does not exist."""
    if kind == "redis":
        from redis import Redis

        with Redis.from_url(url) as redis:
            names = [f"{name}:p{k}" for k in range(partitions)]
            return [int(redis.xlen(n)) if redis.exists(n) else -1 for n in names]
    import pika
    from pika.exceptions import ChannelClosedByBroker

    sizes = []
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        for k in range(partitions):
            channel = connection.channel()
            try:
                declared = channel.queue_declare(f"{name}.p{k}", passive=True)
            except ChannelClosedByBroker:  # 404 NOT_FOUND closes the channel
                sizes.append(-1)
                continue
            sizes.append(int(declared.method.message_count))
            channel.close()
    return sizes


def test_orders_reach_the_read_model_through_the_broker_exactly_once(
    client: TestClient, shop: Shop, broker: tuple[str, str, str]
) -> None:
    kind, url, name = broker
    product = shop.add_product(stock=20)
    for quantity in (1, 2, 3):
        response = client.post(
            "/v1/orders",
            json={"items": [{"product_id": product, "quantity": quantity}]},
            headers={**bearer(client, "alice@shop.test"), "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201
    settings = shop.settings(event_transport=kind, event_stream=name, job_poll_seconds=0.05,
                             **{f"{kind}_url": url})  # fmt: skip
    worker = Worker(settings, name="w1", queues=("exports",), relay=True)
    try:
        assert worker.events is not None
        # A duplicate of the first event, as a relay crash before marking would send.
        duplicate = _first_unpublished(shop, product)
        worker.events.publish(queue="events", **duplicate)
        _wait_for(lambda: not worker.step() and _sales(shop, product) == (3, 6))
    finally:
        worker.close()


def test_the_consumer_applies_each_message_id_once(shop: Shop, make: MakeTransport) -> None:
    product = shop.add_product(stock=5)
    transport = make()
    for message_id in ("a", "b", "a"):
        transport.publish(queue="events", kind="order.placed", payload=_event(product, 2),
                          message_id=f"{product}-{message_id}")  # fmt: skip
    engine = shop.db.engine
    _drain(transport, lambda m, k, p: consumers.apply_order_event(engine, message_id=m, kind=k,
                                                                  payload=p))  # fmt: skip
    assert _sales(shop, product) == (2, 4)


def _first_unpublished(shop: Shop, product: int) -> dict[str, Any]:
    from sample_service.models import OutboxEvent

    with shop.db.engine.connect() as conn:
        for event_id, topic, payload in conn.execute(
            select(OutboxEvent.id, OutboxEvent.topic, OutboxEvent.payload).where(
                OutboxEvent.published_at.is_(None)
            )
        ):
            if payload["items"][0]["product_id"] == product:
                return {"kind": topic, "payload": payload, "message_id": event_id}
    raise AssertionError("no unpublished event for the product")


def _sales(shop: Shop, product: int) -> tuple[int, int]:
    with shop.db.engine.connect() as conn:
        row = conn.execute(
            select(ProductSales.orders, ProductSales.units).where(
                ProductSales.product_id == product
            )
        ).first()
    return (0, 0) if row is None else (row[0], row[1])


def _wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.02)
