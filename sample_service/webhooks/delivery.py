"""Webhook delivery, run by the worker: fan an event out to endpoints, then POST each one.

Each event becomes one ``webhook_deliveries`` row per subscribed endpoint and one job on
the ``webhooks`` queue (its own queue, so a slow receiver never holds up the read models).
A failed POST raises: the job queue retries it after ``job_retry_base_seconds * 2 ** (n - 1)``
(exponential backoff) and gives up after ``job_max_attempts``. Every attempt is logged in
``webhook_attempts``. An endpoint that fails ``DISABLE_AFTER`` attempts in a row is
disabled: its pending deliveries are skipped until its owner enables it again.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sample_service.messaging.queue import enqueue, write_transaction
from sample_service.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from sample_service.schemas.catalog import as_utc
from sample_service.webhooks.signing import signed_headers
from sample_service.webhooks.targets import UnsafeTarget, check_target

WEBHOOKS = "webhooks"  # the queue deliveries wait on
DELIVER = "webhook.deliver"  # the job kind
DISABLE_AFTER = 10  # failed attempts in a row, across deliveries, before an endpoint is disabled
TIMEOUT_SECONDS = 5.0  # a receiver should answer 2xx at once and do its work later


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx (or could not be reached): try again later."""


def _insert_once(conn: Connection, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING in the dialect at hand (SQLite and PostgreSQL)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def fan_out(
    engine: Engine, *, message_id: str, kind: str, payload: dict[str, Any], max_attempts: int
) -> int:
    """One delivery and one job per active endpoint subscribed to ``kind``; how many are new.

    Idempotent: the same event fanned out twice (a redelivered message) adds nothing.
    """
    with write_transaction(engine) as conn:
        endpoints = conn.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
                WebhookEndpoint.status == "active"
            )
        ).all()
        new = 0
        for endpoint_id, event_types in endpoints:
            if kind not in event_types:
                continue
            delivery_id = conn.execute(
                _insert_once(conn, WebhookDelivery)
                .values(
                    endpoint_id=endpoint_id,
                    message_id=message_id,
                    event_type=kind,
                    payload=payload,
                    status="pending",
                    attempts=0,
                )
                .returning(WebhookDelivery.id)
            ).scalar()
            if delivery_id is None:
                continue
            enqueue(
                conn,
                queue=WEBHOOKS,
                kind=DELIVER,
                payload={"delivery_id": delivery_id},
                max_attempts=max_attempts,
            )
            new += 1
    return new


def body_of(delivery: WebhookDelivery) -> str:
    """The JSON body the specification describes: ``type``, ``timestamp``, ``data``."""
    sent = {
        "type": delivery.event_type,
        "timestamp": as_utc(delivery.created_at).isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(sent, separators=(",", ":"), sort_keys=True)


def _secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    keys = [endpoint.secret]
    expires = endpoint.previous_expires_at
    if endpoint.previous_secret and expires is not None and as_utc(expires) > now:
        keys.append(endpoint.previous_secret)
    return keys


def _post(url: str, body: str, headers: dict[str, str], allow_loopback: bool) -> int:
    """POST once; the status code, or DeliveryFailed when nothing answered (or not allowed)."""
    try:
        check_target(url, allow_loopback=allow_loopback)  # again: DNS may have changed
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            return client.post(url, content=body, headers=headers).status_code
    except (UnsafeTarget, httpx.HTTPError) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None


def deliver(engine: Engine, delivery_id: int, *, allow_loopback: bool, final: bool) -> str:
    """Make one attempt at a delivery; its status afterwards. Raises DeliveryFailed to retry.

    ``final`` says this is the job's last attempt: a failure then marks the delivery failed.
    """
    with Session(engine) as session:  # read, then let go: the POST holds no connection
        delivery = session.get_one(WebhookDelivery, delivery_id)
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
    if delivery.status != "pending":
        return str(delivery.status)  # a job run again after a crash: already settled
    if endpoint.status != "active":
        _settle(engine, delivery_id, "skipped")
        return "skipped"
    now = dt.datetime.now(dt.UTC)
    body = body_of(delivery)
    headers = signed_headers(
        message_id=delivery.message_id, body=body, keys=_secrets(endpoint, now), at=now
    )
    started = time.perf_counter()
    code: int | None = None
    error: str | None = None
    try:
        code = _post(endpoint.url, body, headers, allow_loopback)
    except DeliveryFailed as exc:
        error = str(exc)
    ok = code is not None and 200 <= code < 300
    disabled = _record(
        engine,
        delivery_id,
        endpoint.id,
        at=now,
        code=code,
        error=error,
        ok=ok,
        duration_ms=round((time.perf_counter() - started) * 1000),
    )
    if ok:
        return "delivered"
    if final or disabled:
        _settle(engine, delivery_id, "failed")
        return "failed"
    raise DeliveryFailed(error or f"the receiver answered {code}")


def _settle(engine: Engine, delivery_id: int, status: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(status=status)
        )


def _record(
    engine: Engine,
    delivery_id: int,
    endpoint_id: int,
    *,
    at: dt.datetime,
    code: int | None,
    error: str | None,
    ok: bool,
    duration_ms: int,
) -> bool:
    """Log the attempt, update the delivery and the endpoint; True when it got disabled."""
    with write_transaction(engine) as conn:
        attempt = conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(
                attempts=WebhookDelivery.attempts + 1,
                **({"status": "delivered", "delivered_at": at} if ok else {}),
            )
            .returning(WebhookDelivery.attempts)
        ).scalar_one()
        conn.execute(
            insert(WebhookAttempt).values(
                delivery_id=delivery_id,
                attempt=attempt,
                at=at,
                status_code=code,
                error=error,
                duration_ms=duration_ms,
            )
        )
        endpoint = update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        if ok:
            conn.execute(endpoint.values(consecutive_failures=0))
            return False
        failures = conn.execute(
            endpoint.values(
                consecutive_failures=WebhookEndpoint.consecutive_failures + 1
            ).returning(WebhookEndpoint.consecutive_failures)
        ).scalar_one()
        if failures < DISABLE_AFTER:
            return False
        conn.execute(endpoint.values(status="disabled", disabled_at=at))
        return True
