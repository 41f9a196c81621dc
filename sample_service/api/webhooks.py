"""Webhook endpoints: register, read, rotate the secret, enable again, read the delivery log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response

from sample_service.api.deps import CurrentUser, SessionDep, SettingsDep, StaffUser, path_id
from sample_service.api.problems import problem_responses
from sample_service.schemas.webhooks import (
    AttemptRead,
    SecretRotation,
    WebhookCreate,
    WebhookRead,
    WebhookSecret,
)
from sample_service.services import webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

EndpointId = Annotated[int, path_id("Webhook endpoint", 1)]


@router.post(
    "",
    status_code=201,
    response_model=WebhookSecret,
    summary="Register a webhook endpoint (staff); refuses private addresses",
    responses=problem_responses(400, 401, 403, 422, 429),
)
def register_webhook(
    body: WebhookCreate,
    session: SessionDep,
    settings: SettingsDep,
    user: StaffUser,
    response: Response,
) -> WebhookSecret:
    """The secret is shown here once. Loopback URLs are accepted in lab mode only."""
    endpoint = webhooks.register(
        session=session,
        user=user,
        url=body.url,
        event_types=body.events,
        allow_loopback=settings.lab_mode,
    )
    response.headers["Location"] = f"{router.prefix}/{endpoint.id}"
    return WebhookSecret.model_validate(endpoint)


@router.get(
    "/{endpoint_id}",
    response_model=WebhookRead,
    summary="One of your webhook endpoints",
    responses=problem_responses(401, 404, 422, 429),
)
def read_webhook(endpoint_id: EndpointId, session: SessionDep, user: CurrentUser) -> WebhookRead:
    """Its status says whether repeated failures disabled it."""
    endpoint = webhooks.get_endpoint(session=session, endpoint_id=endpoint_id, user=user)
    return WebhookRead.model_validate(endpoint)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=WebhookSecret,
    summary="Start signing with a new secret; the old one keeps signing during the overlap",
    responses=problem_responses(401, 404, 422, 429),
)
def rotate_webhook_secret(
    endpoint_id: EndpointId,
    session: SessionDep,
    user: CurrentUser,
    body: SecretRotation | None = None,
) -> WebhookSecret:
    """Switch your receiver to the new secret before `previous_expires_at`."""
    overlap = dt.timedelta(seconds=(body or SecretRotation()).overlap_seconds)
    endpoint = webhooks.rotate_secret(
        session=session, endpoint_id=endpoint_id, user=user, overlap=overlap
    )
    return WebhookSecret.model_validate(endpoint)


@router.post(
    "/{endpoint_id}/enable",
    response_model=WebhookRead,
    summary="Enable an endpoint that repeated failures disabled",
    responses=problem_responses(401, 404, 422, 429),
)
def enable_webhook(endpoint_id: EndpointId, session: SessionDep, user: CurrentUser) -> WebhookRead:
    """New events are delivered again; those skipped while disabled are not resent."""
    endpoint = webhooks.enable(session=session, endpoint_id=endpoint_id, user=user)
    return WebhookRead.model_validate(endpoint)


@router.get(
    "/{endpoint_id}/attempts",
    response_model=list[AttemptRead],
    summary="The delivery log: every attempt, its answer and its time",
    responses=problem_responses(401, 404, 422, 429),
)
def webhook_attempts(
    endpoint_id: EndpointId,
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AttemptRead]:
    """Oldest first; retries of one delivery share its `message_id`."""
    log = webhooks.attempts(session=session, endpoint_id=endpoint_id, user=user, limit=limit)
    return [
        AttemptRead(
            message_id=d.message_id,
            event_type=d.event_type,
            attempt=a.attempt,
            at=a.at,
            status_code=a.status_code,
            error=a.error,
            duration_ms=a.duration_ms,
            delivery_status=d.status,
        )
        for a, d in log
    ]
