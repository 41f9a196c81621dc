"""What the delivery and ETL tests share: relaying and consuming every waiting event here."""

from __future__ import annotations

from sample_service.worker import Worker
from tests.service.known_shop.conftest import Shop


def drain(shop: Shop) -> None:
    """Relay and consume everything waiting, in this process (a worker's restart, in short)."""
    worker = Worker(shop.settings(), name="drain", queues=("events",), relay=True)
    try:
        while worker.step():
            pass
    finally:
        worker.close()
