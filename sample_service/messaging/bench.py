"""Throughput and end-to-end latency of one event transport, on a queue of its own.

``python -m sample_service.messaging.bench --database URL [--rabbitmq URL] [--redis URL]``
prints one JSON object per transport: messages per second (first publish to last ack) and the P50/P99 of the
time from publish to handling. A producer thread publishes as fast as the transport takes
messages while the main thread consumes them, each side on its own connection, as a relay
and a worker would be. The queue (jobs of a queue named for the run, a RabbitMQ queue, a
Redis stream) is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete

from sample_service.db import make_engine
from sample_service.messaging.brokers import RabbitTransport, RedisStreamTransport
from sample_service.messaging.queue import DatabaseQueue
from sample_service.models import Job

_PREFIX = "labkit_events_bench_"
KINDS = ("database", "rabbitmq", "redis")


class _DatabaseTransport:
    """The jobs table seen as a transport: publish = insert, consume = claim + complete."""

    def __init__(self, url: str, queue: str) -> None:
        self._engine = make_engine(url, pool_size=2, max_overflow=2)
        self._queue = DatabaseQueue(self._engine)
        self.name = queue

    def publish(
        self, *, queue: str, kind: str, payload: dict[str, Any], message_id: str, key: str = ""
    ) -> None:
        """Insert a job into this run's own queue (``queue`` names the logical stream)."""
        self._queue.publish(queue=self.name, kind=kind, payload=payload, message_id=message_id)

    def consume_one(self, handle: Callable[[str, str, dict[str, Any]], object]) -> bool:
        job = self._queue.claim([self.name], worker="bench")
        if job is None:
            return False
        handle(job.message_id or "", job.kind, job.payload)
        self._queue.complete(job.id, worker="bench")
        return True

    def close(self) -> None:
        self._engine.dispose()

    def drop(self) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(Job).where(Job.queue == self.name))
        self.close()


def _open(kind: str, url: str, name: str, role: str) -> Any:
    """One connection to the queue ``name`` on ``kind``: each side of the run has its own."""
    if kind == "database":
        return _DatabaseTransport(url, name)
    if kind == "rabbitmq":
        return RabbitTransport(url, queue=name, poll_seconds=0.01)
    return RedisStreamTransport(url, consumer=role, stream=name, poll_seconds=0.01)


def _transports(kind: str, url: str) -> tuple[Any, Any, Callable[[], None]]:
    """A producer and a consumer on one fresh queue, and how to delete it."""
    name = f"{_PREFIX}{uuid.uuid4().hex[:8]}"
    producer, consumer = (_open(kind, url, name, role) for role in ("producer", "consumer"))

    def drop() -> None:
        for side in (consumer, producer):
            side.close()
        _open(kind, url, name, "cleanup").drop()  # the queue, and what is left in it

    return producer, consumer, drop


def run(kind: str, url: str, *, messages: int) -> dict[str, float]:
    """Publish and consume ``messages`` events; the rate and latency percentiles."""
    producer, consumer, drop = _transports(kind, url)
    latencies: list[float] = []
    try:

        def produce() -> None:
            for n in range(messages):
                producer.publish(queue="bench", kind="bench", message_id=str(n),
                                 payload={"n": n, "sent": time.time()})  # fmt: skip

        def handle(_id: str, _kind: str, payload: dict[str, Any]) -> None:
            latencies.append(time.time() - payload["sent"])

        started = time.perf_counter()
        thread = threading.Thread(target=produce, daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while len(latencies) < messages and time.monotonic() < deadline:
            consumer.consume_one(handle)
        elapsed = time.perf_counter() - started
        thread.join(timeout=5)
    finally:
        drop()
    if len(latencies) < messages:
        raise RuntimeError(f"{kind}: {len(latencies)} of {messages} messages arrived in 120 s")
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "messages": messages,
        "messages per s": round(messages / elapsed, 1),
        "P50 ms": round(cuts[49] * 1000, 2),
        "P99 ms": round(cuts[98] * 1000, 2),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Measure each transport given a URL, in turn; print ``{kind: result or error}`` as JSON."""
    parser = argparse.ArgumentParser(prog="python -m sample_service.messaging.bench")
    for kind in KINDS:
        parser.add_argument(f"--{kind}", metavar="URL", help=f"measure {kind} at this URL")
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args(argv)
    results: dict[str, object] = {}
    for kind in KINDS:
        url = getattr(args, kind)
        if url:
            try:
                results[kind] = run(kind, url, messages=args.messages)
            except Exception as exc:  # one broker failing does not hide the others' figures
                results[kind] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
