"""A webhook receiver that verifies Standard Webhooks signatures with the specification's library.

>>> with lk.webhooks.WebhookReceiver(secret, fail_first=2) as receiver:
...     admin.post("/v1/webhooks", json={"url": receiver.url, "events": ["order.paid"]})
...     receiver.log()                       # every request: its id, answer and verdict

It answers the way a careful receiver does: 400 for a missing, forged or stale signature
(outside the library's 5-minute tolerance: a replayed capture), 200 without processing for
a `webhook-id` it has already processed (a retry or a replay inside the tolerance), 200 and
processed otherwise. `fail_first` answers 503 to the first deliveries, to watch retries.
Taught in 12_async_work_and_events.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from labkit import _process
from labkit._lifecycle import Lifecycle
from labkit.errors import BadArgument, LabkitError, ServerStartError

__all__ = ["TOLERANCE", "Received", "WebhookReceiver", "delivery_log", "signed"]

TOLERANCE = dt.timedelta(minutes=5)  # the library's own, fixed by the specification


@dataclass(frozen=True)
class Received:
    """One request the receiver answered."""

    at: dt.datetime
    webhook_id: str | None
    timestamp: str | None
    status: int
    verdict: str  # processed, duplicate, failing on purpose, or why verification failed
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)


def signed(
    secret: str, body: str, *, webhook_id: str, at: dt.datetime | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed with `secret` at time `at` (now).

    What a sender does; a notebook uses it to forge (wrong secret) or age (old `at`) a request.
    Taught in 12_async_work_and_events.
    """
    at = at or dt.datetime.now(dt.UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
        "content-type": "application/json",
    }


def delivery_log(
    client: httpx.Client, endpoint_id: int, *, delivered: int = 0, timeout: float = 30.0
) -> pd.DataFrame:
    """The shop's delivery log of one endpoint, once `delivered` attempts have succeeded.

    The receiver sees a delivery before the worker has logged it, so this waits for the log.
    `gap s` is the time since the attempt before. Taught in 12_async_work_and_events.
    """
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/v1/webhooks/{endpoint_id}/attempts")
        if response.status_code != 200:
            raise LabkitError(f"the delivery log answered {response.status_code}: {response.text}")
        log = pd.DataFrame(response.json())
        ok = 0 if log.empty else int(log["status_code"].between(200, 299).sum())
        if ok >= delivered:
            break
        if time.monotonic() > deadline:
            raise LabkitError(f"{ok} of {delivered} deliveries logged within {timeout:g} s")
        time.sleep(0.05)
    if not log.empty:
        log["gap s"] = pd.to_datetime(log["at"]).diff().dt.total_seconds().round(2)
    return log


class WebhookReceiver(Lifecycle):
    """An HTTP receiver on a free 127.0.0.1 port, served by uvicorn on a thread of this process.

    Args:
        secret: the endpoint's `whsec_…` secret (assign `secret` later to switch, as after a
            rotation).
        fail_first: answer 503 to this many requests before verifying any.

    Taught in 12_async_work_and_events.
    """

    def __init__(self, secret: str | None = None, *, fail_first: int = 0) -> None:
        if fail_first < 0:
            raise BadArgument(f"fail_first={fail_first}: cannot fail fewer than no requests")
        self.secret = secret
        self.fail_first = fail_first
        self.port = _process.free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.received: list[Received] = []
        self.events: list[dict[str, Any]] = []  # the bodies it processed, in order
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> WebhookReceiver:
        """Serve until `close()`; returns once the port accepts connections."""
        import uvicorn

        if self._server is not None:
            return self
        app = Starlette(routes=[Route("/hooks", self._receive, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="webhooks")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.close()
                raise ServerStartError(f"the webhook receiver did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def close(self) -> None:
        """Stop serving; safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None

    # -- use ---------------------------------------------------------------------------------

    def post(self, body: bytes | str, headers: dict[str, str]) -> int:
        """Send one request as anyone could (a forger, a replayer); the status it got."""
        with httpx.Client(timeout=5.0) as client:
            return client.post(self.url, content=body, headers=headers).status_code

    def wait_for(self, processed: int, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until `processed` deliveries were processed; the bodies (LabkitError on time-out)."""
        deadline = time.monotonic() + timeout
        while len(self.events) < processed:
            if time.monotonic() > deadline:
                raise LabkitError(
                    f"{len(self.events)} of {processed} webhooks arrived within {timeout:g} s; "
                    "is a worker taking the `webhooks` queue?"
                )
            time.sleep(0.02)
        return list(self.events)

    def log(self) -> pd.DataFrame:
        """Every request received, oldest first: time, id, answer and verdict."""
        rows = [
            {
                "at": r.at,
                "webhook-id": r.webhook_id,
                "webhook-timestamp": r.timestamp,
                "status": r.status,
                "verdict": r.verdict,
            }
            for r in self.received
        ]
        return pd.DataFrame(
            rows, columns=["at", "webhook-id", "webhook-timestamp", "status", "verdict"]
        )

    def __repr__(self) -> str:
        return f"WebhookReceiver(url={self.url!r}, received={len(self.received)})"

    # -- internals ---------------------------------------------------------------------------

    def _verdict(self, body: bytes, headers: dict[str, str]) -> tuple[int, str, Any]:
        if self.fail_first > 0:
            self.fail_first -= 1
            return 503, "failing on purpose", None
        if self.secret is None:
            return 500, "no secret configured", None
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            return 400, f"rejected: {exc}", None
        webhook_id = headers["webhook-id"]
        if webhook_id in self._seen:
            return 200, "duplicate: not processed again", None
        self._seen.add(webhook_id)
        return 200, "processed", payload

    async def _receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            status, verdict, payload = self._verdict(body, headers)
            self.received.append(
                Received(
                    at=dt.datetime.now(dt.UTC),
                    webhook_id=headers.get("webhook-id"),
                    timestamp=headers.get("webhook-timestamp"),
                    status=status,
                    verdict=verdict,
                    body=body,
                    headers=headers,
                )
            )
            if payload is not None:
                self.events.append(payload)
        return JSONResponse({"verdict": verdict}, status_code=status)
