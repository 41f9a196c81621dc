"""Graceful shutdown: a request in flight when the service is told to stop still gets its answer."""

from __future__ import annotations

import threading
import time

import httpx

from labkit.service import LiveService


def test_a_request_in_flight_at_sigterm_completes_and_the_service_exits() -> None:
    settings = {"lab_mode": True, "latency_ms": 1_000, "rate_limit_enabled": False}
    answers: list[int] = []
    with LiveService(scale=20, settings=settings) as service:
        slow = threading.Thread(
            target=lambda: answers.append(
                httpx.get(f"{service.url}/v1/products", timeout=10).status_code
            )
        )
        slow.start()
        time.sleep(0.3)  # the request is now inside the injected latency
        service.stop()  # SIGTERM: uvicorn stops accepting, drains, then runs the lifespan's close
        slow.join(10)
        assert answers == [200]
        assert not service.running
