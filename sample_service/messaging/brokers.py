"""Event transports beside the database queue: RabbitMQ (AMQP 0-9-1) and Redis Streams.

Both give at-least-once delivery of the outbox's events to the consumers, each with its
own machinery for the same guarantees:

| guarantee                  | RabbitMQ (pika)                          | Redis Streams (redis-py)          |
|----------------------------|------------------------------------------|-----------------------------------|
| survives a broker restart  | durable queue, persistent messages       | the stream (AOF/RDB persistence)  |
| redelivery after a crash   | unacked messages return when the channel | pending entries, claimed by       |
|                            | closes                                   | another consumer after a timeout  |
| poison messages set aside  | nack → dead-letter exchange → queue      | moved to a ``:dead`` stream       |
| order per key (an order)   | the key's partition queue has a single   | the key's partition stream is     |
|                            | active consumer; the next takes over     | read under a lease, and nothing   |
|                            | when its channel closes                  | new while an entry is pending     |

Ordering: one queue read by N consumers hands one order's ``placed`` and ``cancelled`` to
two of them at once, and either may finish first. So each transport splits its queue into
``partitions`` (``{queue}.p{k}`` / ``{stream}:p{k}``, k = crc32(key) mod P): a key always
lands in the same partition, and each partition is read by one consumer at a time. P bounds
how many consumers work at once, so it is set above the usual number of consumers (4 by
default, ``event_partitions``); more costs a queue or stream each and nothing else. Changing
P moves keys between partitions: change it only with the queues drained.

The price is head-of-line blocking inside a partition. On Redis a failed entry holds its
partition until it is retried (after the visibility timeout) or dead-lettered. On RabbitMQ
a failed message is published again at its partition's tail, so a retry loses its place:
order holds for messages handled the first time. A classic queue never moves its active
consumer to another, so on RabbitMQ the first consumer to subscribe reads every partition
and the others stand by (P bounds the work shared on Redis, where a lease is taken per
message). And the order a transport keeps is the order it was given: one relay publishes
a key's events in order, several relays taking batches side by side may not.

A consumer's ``handle(message_id, kind, payload)`` must be idempotent (see consumers.py).
"""

from __future__ import annotations

import collections
import json
import zlib
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sample_service.config import Settings

#: ``handle(message_id, kind, payload)``; raising means "not done", so it comes again.
Handler = Callable[[str, str, dict[str, Any]], object]


def partition_of(key: str, partitions: int) -> int:
    """The partition a key's events go to: stable across processes (``hash()`` is salted)."""
    return zlib.crc32(key.encode()) % partitions


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
    """Durable partition queues, each with a single active consumer, manual acks and a DLX."""

    def __init__(
        self, url: str, *, queue: str = "shop.events", partitions: int = 4, prefetch: int = 10,
        max_attempts: int = 5, poll_seconds: float = 0.2,
    ) -> None:  # fmt: skip
        import pika  # only workers with RABBITMQ_URL need it

        self._pika = pika
        self.queue, self.dead_queue = queue, f"{queue}.dead"
        self.partitions = [f"{queue}.p{k}" for k in range(partitions)]
        self.max_attempts = max_attempts
        self._poll = poll_seconds
        self._connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = self._channel = self._connection.channel()
        channel.exchange_declare(self.dead_queue, exchange_type="fanout", durable=True)
        channel.queue_declare(self.dead_queue, durable=True)
        channel.queue_bind(self.dead_queue, self.dead_queue)
        for name in self.partitions:  # the broker delivers each to one consumer at a time
            channel.queue_declare(name, durable=True, arguments={
                "x-dead-letter-exchange": self.dead_queue, "x-single-active-consumer": True,
            })  # fmt: skip
        channel.basic_qos(prefetch_count=prefetch)  # at most this many unacked per consumer
        channel.confirm_delivery()  # publish returns once the broker has taken the message
        self._received: collections.deque[tuple[Any, Any, bytes]] = collections.deque()
        self._subscribed = False

    def publish(
        self, *, queue: str, kind: str, payload: dict[str, Any], message_id: str, key: str = "",
        attempt: int = 1,
    ) -> None:  # fmt: skip
        """Publish persistently to the key's partition (``queue`` names the logical stream)."""
        properties = self._pika.BasicProperties(
            message_id=message_id, type=kind, delivery_mode=2, content_type="application/json",
            headers={"x-attempt": attempt, "x-queue": queue, "x-key": key},
        )  # fmt: skip
        partition = self.partitions[partition_of(key, len(self.partitions))]
        self._channel.basic_publish("", partition, json.dumps(payload), properties)

    def _take(self) -> tuple[Any, Any, bytes] | None:
        """The next delivery from any partition this consumer is active on, or None."""
        if not self._subscribed:  # on every partition: active where first, standby elsewhere
            for name in self.partitions:
                self._channel.basic_consume(name, lambda _ch, *got: self._received.append(got))
            self._subscribed = True
        if not self._received:
            self._connection.process_data_events(time_limit=self._poll)
        return self._received.popleft() if self._received else None

    def consume_one(self, handle: Handler) -> bool:
        """Ack after ``handle`` returns; on failure send it again, or dead-letter the last try."""
        delivery = self._take()
        if delivery is None:
            return False
        method, properties, body = delivery
        headers = properties.headers or {}
        attempt = int(headers.get("x-attempt", 1))
        payload = json.loads(body)
        try:
            handle(properties.message_id, properties.type, payload)
        except Exception:  # the message's failure, counted on it; the consumer goes on
            if attempt >= self.max_attempts:
                self._channel.basic_nack(method.delivery_tag, requeue=False)  # → the DLX
                return True
            self.publish(queue=str(headers.get("x-queue", self.queue)), kind=properties.type,
                         payload=payload, message_id=properties.message_id,
                         attempt=attempt + 1, key=str(headers.get("x-key", "")))  # fmt: skip
        self._channel.basic_ack(method.delivery_tag)
        return True

    def dead_letters(self) -> int:
        """Messages in the dead-letter queue."""
        return int(self._channel.queue_declare(self.dead_queue, passive=True).method.message_count)

    def drop(self) -> None:
        """Delete every partition, the dead-letter queue and exchange (a lab reset), then close."""
        for name in (*self.partitions, self.dead_queue):
            self._channel.queue_delete(name)  # its consumers, this one's too, go with it
        self._channel.exchange_delete(self.dead_queue)
        self.close()

    def close(self) -> None:
        """Close the connection: the broker requeues whatever this consumer had not acked."""
        if self._connection.is_open:
            self._connection.close()


class RedisStreamTransport:
    """Partition streams read by a consumer group, each under a lease; pending entries first."""

    def __init__(
        self, url: str, *, consumer: str, stream: str = "shop:events", partitions: int = 4,
        group: str = "workers", max_attempts: int = 5, visibility_seconds: float = 30.0,
        poll_seconds: float = 0.2,
    ) -> None:  # fmt: skip
        from redis import Redis
        from redis.exceptions import LockError, ResponseError

        self._redis: Any = Redis.from_url(url)  # redis-py's stubs type replies loosely
        self._lock_error = LockError
        self.stream, self.dead_stream, self.group = stream, f"{stream}:dead", group
        self.partitions = [f"{stream}:p{k}" for k in range(partitions)]
        self.consumer = consumer
        self.max_attempts = max_attempts
        self._idle_ms = max(1, int(visibility_seconds * 1000))
        self._block_ms = max(1, int(poll_seconds * 1000))
        self._turn = 0  # where the next look round the partitions starts
        for name in self.partitions:
            try:
                self._redis.xgroup_create(name, group, id="0", mkstream=True)
            except ResponseError as exc:  # BUSYGROUP: another worker made it first
                if "BUSYGROUP" not in str(exc):
                    raise

    def publish(
        self, *, queue: str, kind: str, payload: dict[str, Any], message_id: str, key: str = ""
    ) -> None:
        """Append the event to its key's partition (``queue`` names the logical stream)."""
        fields = {
            "message_id": message_id,
            "kind": kind,
            "key": key,
            "payload": json.dumps(payload),
        }
        self._redis.xadd(self.partitions[partition_of(key, len(self.partitions))], fields)

    def _lease(self, partition: str) -> Any:
        """The partition's lease: redis-py's lock (``SET NX PX`` with a token), lapsing after
        the visibility timeout, so a consumer that dies holding it loses it."""
        return self._redis.lock(f"{partition}:lease", timeout=self._idle_ms / 1000,
                                blocking=False, thread_local=False)  # fmt: skip

    def _next(self, partition: str) -> tuple[bytes, dict[bytes, bytes]] | None:
        """The partition's oldest entry a quiet consumer left pending, else (when none is
        pending at all: an earlier entry of a key is still in hand) a new one."""
        _, stale, _ = self._redis.xautoclaim(
            partition, self.group, self.consumer, self._idle_ms, "0-0", count=1
        )
        if stale:
            return tuple(stale[0])
        if self._redis.xpending(partition, self.group)["pending"]:
            return None
        fresh = self._redis.xreadgroup(self.group, self.consumer, {partition: ">"}, count=1)
        return tuple(fresh[0][1][0]) if fresh else None

    def consume_one(self, handle: Handler) -> bool:
        """Under one partition's lease, deliver its next entry; XACK after ``handle`` returns.

        A failure stays pending and blocks its partition until it is claimed again (after
        the visibility timeout) or dead-lettered. With nothing to do anywhere, wait up to
        the poll interval for a new entry.
        """
        turn, self._turn = self._turn, (self._turn + 1) % len(self.partitions)
        for k in range(len(self.partitions)):
            partition = self.partitions[(turn + k) % len(self.partitions)]
            lease = self._lease(partition)
            if not lease.acquire():
                continue  # another consumer is reading this partition
            try:
                entry = self._next(partition)
                if entry is not None:
                    self._deliver(partition, entry, handle)
                    return True
            finally:
                with suppress(self._lock_error):  # lapsed: another consumer may hold it now
                    lease.release()
        self._redis.xread(dict.fromkeys(self.partitions, "$"), count=1, block=self._block_ms)
        return False

    def _deliver(self, partition: str, entry: tuple[bytes, dict[bytes, bytes]],
                 handle: Handler) -> None:  # fmt: skip
        entry_id, fields = entry
        pending: Any = self._redis.xpending_range(
            partition, self.group, min=entry_id, max=entry_id, count=1
        )
        deliveries = int(pending[0]["times_delivered"]) if pending else 1
        if deliveries > self.max_attempts:
            self._redis.xadd(self.dead_stream, fields)
            self._redis.xack(partition, self.group, entry_id)
            return
        try:
            handle(fields[b"message_id"].decode(), fields[b"kind"].decode(),
                   json.loads(fields[b"payload"]))  # fmt: skip
        except Exception:  # left pending: claimed again once it has been idle long enough
            return
        self._redis.xack(partition, self.group, entry_id)

    def dead_letters(self) -> int:
        """Entries in the dead-letter stream."""
        return int(self._redis.xlen(self.dead_stream))

    def drop(self) -> None:
        """Delete every partition with its group and lease, and the dead letters, then close."""
        leases = [f"{name}:lease" for name in self.partitions]
        self._redis.delete(*self.partitions, *leases, self.dead_stream)
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
            partitions=settings.event_partitions, max_attempts=settings.job_max_attempts,
            poll_seconds=settings.job_poll_seconds,
        )  # fmt: skip
    if not settings.redis_url:
        raise ValueError("event_transport=redis needs REDIS_URL (redis://…)")
    return RedisStreamTransport(
        settings.redis_url, consumer=consumer, stream=settings.event_stream,
        partitions=settings.event_partitions, max_attempts=settings.job_max_attempts,
        poll_seconds=settings.job_poll_seconds, visibility_seconds=settings.job_visibility_seconds,
    )  # fmt: skip
