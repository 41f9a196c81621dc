"""Standard Webhooks signatures: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

The signature is HMAC-SHA256 over ``{id}.{timestamp}.{body}`` (the specification's own
library computes it), so a receiver can prove who sent the body, that it is unchanged, and
when it was sent (a replay outside its tolerance is refused). During a secret rotation the
header carries one ``v1,<signature>`` per valid secret, separated by spaces.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import secrets
from collections.abc import Sequence

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh 24-byte secret in the specification's ``whsec_<base64>`` form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signed_headers(
    *, message_id: str, body: str, keys: Sequence[str], at: dt.datetime | None = None
) -> dict[str, str]:
    """The three headers of one attempt, signed with every secret in ``keys``."""
    at = at or dt.datetime.now(dt.UTC)
    signature = " ".join(Webhook(s).sign(message_id, at, body) for s in keys)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
