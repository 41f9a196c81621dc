"""The database queue: atomic claims under concurrency, visibility timeout, dead letters."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from sample_service.db import make_engine
from sample_service.messaging.queue import DatabaseQueue
from tests.service.known_shop.conftest import Shop


@pytest.fixture
def engine(shop: Shop) -> Iterator[Engine]:
    """The service's own engine kind on the shop (SQLite's BEGIN IMMEDIATE included)."""
    engine = make_engine(shop.db.url)
    yield engine
    engine.dispose()


def _queue_name() -> str:
    """A queue of the test's own, so jobs other tests left behind are never claimed."""
    return f"q-{uuid.uuid4().hex[:8]}"


def test_concurrent_workers_never_claim_the_same_job(engine: Engine) -> None:
    queue, name = DatabaseQueue(engine), _queue_name()
    published = {queue.publish(queue=name, kind="noop", payload={"n": n}) for n in range(24)}
    claimed: list[int] = []
    lock = threading.Lock()

    def consume(worker: str) -> None:
        while (job := queue.claim([name], worker=worker)) is not None:
            with lock:
                claimed.append(job.id)
            queue.complete(job.id, worker=worker)

    threads = [threading.Thread(target=consume, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(published)  # every job once, none twice
    assert queue.counts(name) == {"done": 24}


def test_a_claimed_job_is_hidden_until_its_visibility_timeout(engine: Engine) -> None:
    name = _queue_name()
    queue = DatabaseQueue(engine)
    job_id = queue.publish(queue=name, kind="noop", payload={})
    claimed = queue.claim([name], worker="a")
    assert claimed is not None and claimed.id == job_id
    assert queue.claim([name], worker="b") is None  # held by a for 30 s


def test_a_job_whose_worker_died_is_claimed_again(engine: Engine) -> None:
    name = _queue_name()
    queue = DatabaseQueue(engine, visibility_seconds=1e-6)  # every lease has run out already
    job_id = queue.publish(queue=name, kind="noop", payload={})
    first = queue.claim([name], worker="crashed")
    second = queue.claim([name], worker="b")
    assert first is not None and second is not None
    assert (second.id, second.attempts) == (job_id, 2)
    assert not queue.complete(job_id, worker="crashed")  # the lease moved on
    assert queue.complete(job_id, worker="b")


def test_a_failing_job_is_dead_lettered_after_max_attempts(engine: Engine) -> None:
    name = _queue_name()
    queue = DatabaseQueue(engine, max_attempts=3)
    queue.publish(queue=name, kind="poison", payload={})
    statuses = []
    while (job := queue.claim([name], worker="w")) is not None:
        statuses.append(queue.fail(job.id, worker="w", error="boom", retry_in=0))
    assert statuses == ["queued", "queued", "dead"]
    assert queue.counts(name) == {"dead": 1}


def test_a_lease_running_out_on_the_last_attempt_dead_letters(engine: Engine) -> None:
    name = _queue_name()
    queue = DatabaseQueue(engine, visibility_seconds=1e-6, max_attempts=1)
    queue.publish(queue=name, kind="noop", payload={})
    assert queue.claim([name], worker="crashed") is not None
    assert queue.claim([name], worker="b") is None
    assert queue.counts(name) == {"dead": 1}


def test_jobs_of_one_key_run_one_at_a_time_in_order(engine: Engine) -> None:
    queue, name = DatabaseQueue(engine), _queue_name()
    placed = queue.publish(queue=name, kind="order.placed", payload={}, key="order-1")
    cancelled = queue.publish(queue=name, kind="order.cancelled", payload={}, key="order-1")
    other = queue.publish(queue=name, kind="order.placed", payload={}, key="order-2")
    first, second = queue.claim([name], worker="a"), queue.claim([name], worker="b")
    assert first is not None and second is not None
    assert (first.id, second.id) == (placed, other)  # order-1's second event waits
    assert queue.claim([name], worker="c") is None
    queue.complete(placed, worker="a")
    third = queue.claim([name], worker="c")
    assert third is not None and third.id == cancelled
