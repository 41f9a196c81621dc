"""Tiny ASGI apps that tests run under `LiveService` (importable as tests.labkit.asgi_apps)."""

from __future__ import annotations

from typing import Any


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer every HTTP request with 200 and a short body."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})


async def never_ready(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer 503 to everything, like a service whose database never comes up."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 503, "headers": []})
    await send({"type": "http.response.body", "body": b""})
