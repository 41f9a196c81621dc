"""Event transports beside the database queue: RabbitMQ (AMQP 0-9-1) and Redis Streams.

Both give at-least-once delivery of the outbox's events to the consumers, each with its
own machinery for the same three guarantees:

| guarantee                  | RabbitMQ (pika)                          | Redis Streams (redis-py)          |
|----------------------------|------------------------------------------|-----------------------------------|
| survives a broker restart  | durable queue, persistent messages       | the stream (AOF/RDB persistence)  |
| redelivery after a crash   | unacked messages return when the channel | pending entries, claimed by       |
|                            | closes                                   | another consumer after a timeout  |
| poison messages set aside  | nack → dead-letter exchange → queue      | moved to a ``:dead`` stream       |

A consumer's ``handle(message_id, kind, payload)`` must be idempotent (see consumers.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sample_service.config import Settings

#: ``handle(message_id, kind, payload)``; raising means "not done", so it comes again.
Handler = Callable[[str, str, dict[str, Any]], object]


class EventTransport(Protocol):
    """What the worker needs of a broker: publish, take one message, count dead letters."""

    def publish(
        self, *, queue: str, kind: str, payload: dict[str, Any], message_id: str, key: str = ""
    ) -> None:
        """Send one event (the outbox relay's publish); ``key`` names what it is about."""

    def consume_one(self, handle: Handler) -> bool:
        """Deliver at most one message to ``handle``; False when none was waiting."""

    def dead_letters(self) -> int:
        """How many messages were set aside after ``max_attempts`` deliveries."""

    def close(self) -> None:
        """Close the connection; unacknowledged messages go back to the broker."""


class RabbitTransport:
    """A durable queue with manual acks, a prefetch window and a dead-letter exchange."""

    def __init__(
        self, url: str, *, queue: str = "shop.events", prefetch: int = 10, max_attempts: int = 5,
        poll_seconds: float = 0.2,
    ) -> None:  # fmt: skip
        import pika  # only workers with RABBITMQ_URL need it

        self._pika = pika
        self.queue, self.dead_queue = queue, f"{queue}.dead"
        self.max_attempts = max_attempts
        self._poll = poll_seconds
        self._connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = self._channel = self._connection.channel()
        channel.exchange_declare(self.dead_queue, exchange_type="fanout", durable=True)
        channel.queue_declare(self.dead_queue, durable=True)
        channel.queue_bind(self.dead_queue, self.dead_queue)
        channel.queue_declare(queue, durable=True,
                              arguments={"x-dead-letter-exchange": self.dead_queue})  # fmt: skip
        channel.basic_qos(prefetch_count=prefetch)  # at most this many unacked per consumer
        channel.confirm_delivery()  # publish returns once the broker has taken the message
        self._messages: Any = None

    def publish(
        self, *, queue: str, kind: str, payload: dict[str, Any], message_id: str, key: str = "",
        attempt: int = 1,
    ) -> None:  # fmt: skip
        """Publish persistently to the durable queue (``queue`` names the logical stream)."""
        properties = self._pika.BasicProperties(
            message_id=message_id, type=kind, delivery_mode=2, content_type="application/json",
            headers={"x-attempt": attempt, "x-queue": queue, "x-key": key},
        )  # fmt: skip
        self._channel.basic_publish("", self.queue, json.dumps(payload), properties)

    def consume_one(self, handle: Handler) -> bool:
        """Ack after ``handle`` returns; on failure send it again, or dead-letter the last try."""
        if self._messages is None:
            self._messages = self._channel.consume(self.queue, inactivity_timeout=self._poll)
        method, properties, body = next(self._messages)
        if method is None:
            return False
        attempt = int((properties.headers or {}).get("x-attempt", 1))
        payload = json.loads(body)
        try:
            handle(properties.message_id, properties.type, payload)
        except Exception:  # the message's failure, counted on it; the consumer goes on
            if attempt >= self.max_attempts:
                self._channel.basic_nack(method.delivery_tag, requeue=False)  # → the DLX
                return True
            self.publish(queue=self.queue, kind=properties.type, payload=payload,
                         message_id=properties.message_id, attempt=attempt + 1,
                         key=str((properties.headers or {}).get("x-key", "")))  # fmt: skip
        self._channel.basic_ack(method.delivery_tag)
        return True

    def dead_letters(self) -> int:
        """Messages in the dead-letter queue."""
        return int(self._channel.queue_declare(self.dead_queue, passive=True).method.message_count)

    def drop(self) -> None:
        """Delete the queues and the exchange (a lab reset), then close."""
        if self._messages is not None:
            self._channel.cancel()
            self._messages = None
        for name in (self.queue, self.dead_queue):
            self._channel.queue_delete(name)
        self._channel.exchange_delete(self.dead_queue)
        self.close()

    def close(self) -> None:
        """Close the connection: the broker requeues whatever this consumer had not acked."""
        if self._connection.is_open:
            self._connection.close()


class RedisStreamTransport:
    """A stream read by a consumer group: pending entries, claimed again after a timeout."""

    def __init__(
        self, url: str, *, consumer: str, stream: str = "shop:events", group: str = "workers",
        max_attempts: int = 5, visibility_seconds: float = 30.0, poll_seconds: float = 0.2,
    ) -> None:  # fmt: skip
        from redis import Redis
        from redis.exceptions import ResponseError

        self._redis: Any = Redis.from_url(url)  # redis-py's stubs type replies loosely
        self.stream, self.dead_stream, self.group = stream, f"{stream}:dead", group
        self.consumer = consumer
        self.max_attempts = max_attempts
        self._idle_ms = max(1, int(visibility_seconds * 1000))
        self._block_ms = max(1, int(poll_seconds * 1000))
        try:
            self._redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:  # BUSYGROUP: another worker made it first
            if "BUSYGROUP" not in str(exc):
                raise

    def publish(
        self, *, queue: str, kind: str, payload: dict[str, Any], message_id: str, key: str = ""
    ) -> None:
        """Append the event to the stream (``queue`` names the logical stream)."""
        fields = {
            "message_id": message_id,
            "kind": kind,
            "key": key,
            "payload": json.dumps(payload),
        }
        self._redis.xadd(self.stream, fields)

    def _next(self) -> tuple[bytes, dict[bytes, bytes]] | None:
        """A pending entry whose consumer went quiet for the timeout, else a new one."""
        _, stale, _ = self._redis.xautoclaim(
            self.stream, self.group, self.consumer, self._idle_ms, "0-0", count=1
        )
        if stale:
            return tuple(stale[0])
        fresh = self._redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=1, block=self._block_ms
        )
        return tuple(fresh[0][1][0]) if fresh else None

    def consume_one(self, handle: Handler) -> bool:
        """XACK after ``handle`` returns; a failure stays pending and is claimed again later."""
        entry = self._next()
        if entry is None:
            return False
        entry_id, fields = entry
        pending: Any = self._redis.xpending_range(
            self.stream, self.group, min=entry_id, max=entry_id, count=1
        )
        deliveries = int(pending[0]["times_delivered"]) if pending else 1
        if deliveries > self.max_attempts:
            self._redis.xadd(self.dead_stream, fields)
            self._redis.xack(self.stream, self.group, entry_id)
            return True
        try:
            handle(fields[b"message_id"].decode(), fields[b"kind"].decode(),
                   json.loads(fields[b"payload"]))  # fmt: skip
        except Exception:  # left pending: claimed again once it has been idle long enough
            return True
        self._redis.xack(self.stream, self.group, entry_id)
        return True

    def dead_letters(self) -> int:
        """Entries in the dead-letter stream."""
        return int(self._redis.xlen(self.dead_stream))

    def drop(self) -> None:
        """Delete the stream, its group and its dead letters (a lab reset), then close."""
        self._redis.delete(self.stream, self.dead_stream)
        self.close()

    def close(self) -> None:
        """Close the connection; unacked entries stay pending in the group."""
        self._redis.close()


def transport_from_settings(settings: Settings, *, consumer: str) -> EventTransport | None:
    """The broker ``settings.event_transport`` names, or None for the database queue."""
    if settings.event_transport == "database":
        return None
    if settings.event_transport == "rabbitmq":
        if not settings.rabbitmq_url:
            raise ValueError("event_transport=rabbitmq needs RABBITMQ_URL (amqp://…)")
        return RabbitTransport(
            settings.rabbitmq_url, queue=settings.event_stream,
            max_attempts=settings.job_max_attempts, poll_seconds=settings.job_poll_seconds,
        )  # fmt: skip
    if not settings.redis_url:
        raise ValueError("event_transport=redis needs REDIS_URL (redis://…)")
    return RedisStreamTransport(
        settings.redis_url, consumer=consumer, stream=settings.event_stream,
        max_attempts=settings.job_max_attempts, poll_seconds=settings.job_poll_seconds,
        visibility_seconds=settings.job_visibility_seconds,
    )  # fmt: skip
