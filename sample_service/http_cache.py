"""``Cache-Control`` for every response, so a shared HTTP cache in front of the shop is correct.

Public catalog reads (products, categories, reviews) may be kept by any cache for
``max-age`` seconds and served stale for ``stale-while-revalidate`` more while it
refetches; everything else under ``/v1`` and ``/v2`` (orders, accounts, keys) is
personal: ``private, no-store``. A handler that sets its own header keeps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_PREFIXES = ("/v1/products", "/v1/categories", "/v1/reviews")
API_PREFIXES = ("/v1/", "/v2/")
PERSONAL = b"private, no-store"


def public_policy(*, max_age: int, stale_while_revalidate: int) -> bytes:
    """The header value of a public catalog read."""
    return f"public, max-age={max_age}, stale-while-revalidate={stale_while_revalidate}".encode()


class CacheControlMiddleware:
    """Adds the policy of the route to responses that carry no ``Cache-Control`` yet."""

    def __init__(self, app: ASGIApp, *, max_age: int, stale_while_revalidate: int) -> None:
        self.app = app
        self.public = public_policy(max_age=max_age, stale_while_revalidate=stale_while_revalidate)

    def policy(self, method: str, path: str, status: int) -> bytes | None:
        """What a response to this request should say, or None to leave it alone."""
        if not path.startswith(API_PREFIXES):
            return None  # health, metrics, docs: not the catalog's business
        if path.startswith(PUBLIC_PREFIXES):
            return self.public if method in ("GET", "HEAD") and status in (200, 304) else None
        return PERSONAL

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                value = self.policy(scope["method"], scope["path"], message["status"])
                if value is not None and not any(k == b"cache-control" for k, _ in headers):
                    message["headers"] = [*headers, (b"cache-control", value)]
            await send(message)

        await self.app(scope, receive, send_with_policy)
