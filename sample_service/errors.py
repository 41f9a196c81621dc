"""Domain errors raised by the services; ``api/problems.py`` maps each to problem+json.

Services know nothing of HTTP, yet each error carries the status it deserves so one
handler can render every error the same way (RFC 9457).
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://shop.test/problems/"
# Seconds a client told "503, busy" should wait before trying again.
RETRY_AFTER_SECONDS = 1


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    @property
    def type(self) -> str:
        """The problem type URI."""
        return PROBLEM_BASE + self.slug


class BadRequest(ServiceError):
    """The request is malformed in a way validation could not express (e.g. a bad cursor)."""


class Unauthorized(ServiceError):
    """No credentials, or credentials that are expired, tampered or revoked."""

    status, slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str, **extra: Any):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extra)


class MfaRequired(Unauthorized):
    """The password was right, but this account also needs its one-time code."""

    slug, title = "mfa-required", "Second factor required"


class Forbidden(ServiceError):
    """Authenticated, but the role does not allow this."""

    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(ServiceError):
    """No such resource, or not one the caller may see (ownership checks answer 404)."""

    status, slug, title = 404, "not-found", "Not found"


class NotAcceptable(ServiceError):
    """The client accepts no representation this resource can produce."""

    status, slug, title = 406, "not-acceptable", "Not acceptable"


class Conflict(ServiceError):
    """The request clashes with the current state (a duplicate, a wrong state)."""

    status, slug, title = 409, "conflict", "Conflict"


class OutOfStock(Conflict):
    """Not enough stock left for the quantity asked."""

    slug, title = "out-of-stock", "Out of stock"


class PaymentRequired(ServiceError):
    """The payments provider declined the order's payment."""

    status, slug, title = 402, "payment-declined", "Payment declined"


class Gone(ServiceError):
    """The resource existed but is no more (an expired job result); asking again will not help."""

    status, slug, title = 410, "gone", "Gone"


class PreconditionFailed(ServiceError):
    """``If-Match`` named a version that is no longer current."""

    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PreconditionRequired(ServiceError):
    """A conditional header (``If-Match``, ``Idempotency-Key``) is required and missing."""

    status, slug, title = 428, "precondition-required", "Precondition required"


class PayloadTooLarge(ServiceError):
    """The request body is larger than the service accepts."""

    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(ServiceError):
    """The request body is not JSON."""

    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class Unprocessable(ServiceError):
    """Well-formed but semantically wrong (e.g. an Idempotency-Key reused with another body)."""

    status, slug, title = 422, "unprocessable", "Unprocessable content"


class TooManyRequests(ServiceError):
    """The caller's token bucket is empty."""

    status, slug, title = 429, "too-many-requests", "Too many requests"


class Unavailable(ServiceError):
    """A dependency (the database) cannot be reached, or the service is saturated."""

    status, slug, title = 503, "unavailable", "Service unavailable"


class Saturated(Unavailable):
    """Every database slot is taken: shed the request now, with a hint when to come back."""

    def __init__(self, detail: str, **extra: Any):
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        super().__init__(f"{detail}; retry after {RETRY_AFTER_SECONDS} s", headers=headers, **extra)
