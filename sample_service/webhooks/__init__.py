"""Signed webhooks (Standard Webhooks): endpoints, SSRF-safe targets, signing, delivery.

``models`` holds the tables, ``targets`` the address rule, ``signing`` the headers,
``delivery`` what the worker runs; ``services/webhooks.py`` is what the API calls.
"""

from sample_service.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from sample_service.webhooks.delivery import DELIVER, WEBHOOKS, deliver, fan_out
from sample_service.webhooks.signing import new_secret, signed_headers
from sample_service.webhooks.targets import UnsafeTarget, check_target

__all__ = [
    "DELIVER",
    "WEBHOOKS",
    "UnsafeTarget",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "check_target",
    "deliver",
    "fan_out",
    "new_secret",
    "signed_headers",
]
