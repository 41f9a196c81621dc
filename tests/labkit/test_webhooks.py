"""The webhook receiver: the specification's library decides, replays and forgeries fail."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from labkit.errors import BadArgument
from labkit.webhooks import TOLERANCE, WebhookReceiver, signed
from sample_service.webhooks import new_secret, signed_headers

BODY = json.dumps({"type": "order.paid", "timestamp": "2026-01-01T00:00:00+00:00", "data": {}})


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(new_secret()) as running:
        yield running


def test_a_signed_delivery_is_processed_once_and_its_replay_is_not(
    receiver: WebhookReceiver,
) -> None:
    assert receiver.secret is not None
    headers = signed(receiver.secret, BODY, webhook_id="msg_1")
    assert receiver.post(BODY, headers) == 200
    assert receiver.post(BODY, headers) == 200  # the same bytes again, inside the tolerance
    assert len(receiver.events) == 1
    assert list(receiver.log()["verdict"]) == ["processed", "duplicate: not processed again"]


def test_a_forged_signature_is_rejected(receiver: WebhookReceiver) -> None:
    forged = signed(new_secret(), BODY, webhook_id="msg_2")
    assert receiver.post(BODY, forged) == 400
    assert receiver.events == [] and "No matching signature" in receiver.received[-1].verdict


def test_a_tampered_body_is_rejected(receiver: WebhookReceiver) -> None:
    assert receiver.secret is not None
    headers = signed(receiver.secret, BODY, webhook_id="msg_3")
    assert receiver.post(BODY.replace("order.paid", "order.shipped"), headers) == 400


def test_a_capture_replayed_outside_the_tolerance_is_rejected(receiver: WebhookReceiver) -> None:
    assert receiver.secret is not None
    captured_at = dt.datetime.now(dt.UTC) - TOLERANCE - dt.timedelta(seconds=30)
    stale = signed(receiver.secret, BODY, webhook_id="msg_4", at=captured_at)
    assert receiver.post(BODY, stale) == 400
    assert "too old" in receiver.received[-1].verdict
    fresh = signed(receiver.secret, BODY, webhook_id="msg_4")
    assert receiver.post(BODY, fresh) == 200  # the same message, signed now, is fine


def test_during_a_rotation_either_secret_verifies(receiver: WebhookReceiver) -> None:
    old, new = receiver.secret, new_secret()
    assert old is not None
    headers = signed_headers(message_id="msg_5", body=BODY, keys=[new, old])
    assert receiver.post(BODY, headers) == 200  # the receiver still holds the old secret
    receiver.secret = new
    headers = signed_headers(message_id="msg_6", body=BODY, keys=[new, old])
    assert receiver.post(BODY, headers) == 200
    receiver.secret = old
    only_new = signed_headers(message_id="msg_7", body=BODY, keys=[new])
    assert receiver.post(BODY, only_new) == 400  # after the overlap the old secret is worthless


def test_failing_on_purpose_answers_503_before_verifying(receiver: WebhookReceiver) -> None:
    receiver.fail_first = 1
    assert receiver.secret is not None
    headers = signed(receiver.secret, BODY, webhook_id="msg_8")
    assert [receiver.post(BODY, headers) for _ in range(2)] == [503, 200]
    with pytest.raises(BadArgument):
        WebhookReceiver(fail_first=-1)
