"""The worker: ``python -m sample_service.worker`` claims jobs and relays the outbox.

Run as many as you like: each claim is atomic (``messaging/queue.py``), so N workers share
one queue without taking a job twice. SIGTERM finishes the job in hand, then exits.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from sample_service import labswitches
from sample_service.config import Settings
from sample_service.db import make_engine
from sample_service.messaging import consumers, exports, outbox
from sample_service.messaging.brokers import transport_from_settings
from sample_service.messaging.queue import EVENTS, EXPORTS, Claimed, DatabaseQueue
from sample_service.webhooks import DELIVER, WEBHOOKS, deliver, fan_out

log = logging.getLogger("sample_service.worker")
SALES_EVENTS = ("order.placed", "order.cancelled")  # what the sales read model folds in


class Worker:
    """One consumer loop over the database queue, optionally relaying the outbox too."""

    def __init__(
        self,
        settings: Settings,
        *,
        name: str,
        queues: Sequence[str],
        relay: bool,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.queues = list(queues)
        self.relay = relay
        self.engine = engine or make_engine(settings.database_url, pool_size=2, max_overflow=2)
        self.queue = DatabaseQueue(
            self.engine,
            visibility_seconds=settings.job_visibility_seconds,
            max_attempts=settings.job_max_attempts,
        )
        self.events = transport_from_settings(settings, consumer=name)  # None: the jobs table
        self.stopping = threading.Event()

    def step(self) -> bool:
        """Relay once and run one job; False when there was nothing to do."""
        relayed = self._relay() if self.relay else 0
        consumed = self.events is not None and self.events.consume_one(self._apply_event)
        job = self.queue.claim(self.queues, worker=self.name)
        if job is None:
            return relayed > 0 or consumed
        try:
            result = self._run(job)
        except exports.Cancelled:
            return True  # the row already says cancelled; nothing to record
        except Exception as exc:  # any failure is the job's, recorded on it; the loop goes on
            delay = self.settings.job_retry_base_seconds * 2 ** (job.attempts - 1)
            status = self.queue.fail(job.id, worker=self.name, error=repr(exc), retry_in=delay)
            log.warning("job %s (%s) failed: %r; now %s", job.id, job.kind, exc, status)
            return True
        ttl = dt.timedelta(seconds=self.settings.job_result_ttl_seconds)
        expires = dt.datetime.now(dt.UTC) + ttl if result is not None else None
        self.queue.complete(job.id, worker=self.name, result=result, expires_at=expires)
        return True

    def _run(self, job: Claimed) -> str | None:
        if job.kind == "orders.export":
            return exports.export_orders(
                self.engine,
                job.payload,
                report=lambda p: self.queue.progress(job.id, worker=self.name, percent=p),
            )
        if job.kind == DELIVER:  # one POST to a webhook receiver; raising retries with backoff
            final = job.attempts >= self.settings.job_max_attempts
            deliver(
                self.engine,
                int(job.payload["delivery_id"]),
                final=final,
                allow_loopback=self.settings.lab_mode,
            )
            return None
        if job.message_id is None:
            raise ValueError(f"event job {job.id} carries no message id")
        self._apply_event(job.message_id, job.kind, job.payload)
        return None

    def _relay(self) -> int:
        publish = self.queue.publish if self.events is None else self.events.publish
        if self.settings.relay_crash_after:
            publish = _crashing(publish, after=self.settings.relay_crash_after)
        mark_first = self.settings.relay_without_outbox
        return outbox.relay_once(self.engine, publish, mark_first=mark_first)

    def _apply_event(self, message_id: str, kind: str, payload: dict[str, Any]) -> None:
        log.info("%s handling %s %s", self.name, kind, message_id)
        if kind in SALES_EVENTS:
            consumers.apply_order_event(
                self.engine, message_id=message_id, kind=kind, payload=payload,
                hold_seconds=self.settings.event_handle_ms / 1000,
            )  # fmt: skip
        fan_out(
            self.engine,
            message_id=message_id,
            kind=kind,
            payload=payload,
            max_attempts=self.settings.job_max_attempts,
        )
        log.info("%s handled %s", self.name, message_id)

    def run(self) -> None:
        """Loop until SIGTERM (or ``stopping`` is set), sleeping briefly when idle."""
        while not self.stopping.is_set():
            if not self.step():
                self.stopping.wait(self.settings.job_poll_seconds)
        self.close()

    def close(self) -> None:
        """Close the broker connection (unacked messages return) and the database pool."""
        if self.events is not None:
            self.events.close()
        self.engine.dispose()


def _crashing(publish: outbox.Publish, *, after: int) -> outbox.Publish:
    """``publish`` that kills this process after ``after`` events (``relay_crash_after``)."""
    sent = 0

    def publish_then_maybe_die(**event: Any) -> Any:
        nonlocal sent
        result = publish(**event)
        sent += 1
        if sent >= after:
            log.error("lab switch relay_crash_after=%d: SIGKILL now", after)
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    return publish_then_maybe_die


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, start one worker and run it until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m sample_service.worker")
    parser.add_argument("--name", default=f"worker-{os.getpid()}")
    parser.add_argument(
        "--queues", default=f"{EXPORTS},{EVENTS},{WEBHOOKS}", help="comma-separated"
    )
    parser.add_argument("--no-relay", action="store_true", help="do not relay the outbox")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    labswitches.check_startup(settings)  # a worker refuses lesson switches as the service does
    worker = Worker(
        settings, name=args.name, queues=args.queues.split(","), relay=not args.no_relay
    )
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: worker.stopping.set())
    log.info("%s ready on %s", worker.name, ",".join(worker.queues))
    worker.run()


if __name__ == "__main__":
    main()
