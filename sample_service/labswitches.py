"""Lesson switches: bad practices the course turns on, measures, and turns off again.

They are fields of the app's ``Settings`` (so every layer reads them where it
already reads its settings), start from the environment and change through the
admin-only ``/lab/switches`` endpoint. Because a switch can
open a security hole, they are refused unless lab mode is on, and ignored
whenever the service answers on an address other than loopback.
"""

from __future__ import annotations

import contextvars
import ipaddress
import random
from asyncio import sleep
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, event

from sample_service.api.problems import send_problem
from sample_service.schemas.lab import SWITCH_NAMES, LabSwitches, LabSwitchesUpdate

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from sample_service.config import Settings


class LabModeRequired(RuntimeError):
    """A lesson switch was asked for while lab mode is off."""


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: only this machine can reach them."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def current(settings: Settings) -> LabSwitches:
    """The switches as they stand."""
    return LabSwitches(**{name: getattr(settings, name) for name in SWITCH_NAMES})


def check_startup(settings: Settings) -> None:
    """Refuse to start with any switch on while lab mode is off."""
    switches = current(settings)
    if switches.any_on() and not settings.lab_mode:
        on = [name for name, value in switches if value != LabSwitches.model_fields[name].default]
        msg = (
            f"lesson switches {on} were set but lab mode is off; "
            "set SHOP_LAB_MODE=true (loopback only) or unset the switches"
        )
        raise LabModeRequired(msg)


def refusal(*, lab_mode: bool, server_host: str | None) -> str | None:
    """Why the switches cannot change here, or ``None`` when they can."""
    if not lab_mode:
        return "lab switches are refused: lab mode is off (start with SHOP_LAB_MODE=true)"
    if not is_loopback(server_host):
        return f"lab switches are refused: the service listens on {server_host}, not loopback"
    return None


def apply(settings: Settings, update: LabSwitchesUpdate) -> LabSwitches:
    """Change the named switches in the live settings; the next request sees them."""
    for name, value in update.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(settings, name, value)
    return current(settings)


# Per request, in lab mode: how many SQL statements the request ran (N+1 made visible).
_queries: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "lab_queries", default=None
)


def count_statement(*_args: Any) -> None:
    """Add one statement to the current request's tally (also a hook for bare-driver reads)."""
    counter = _queries.get()
    if counter is not None:
        counter[0] += 1


def count_queries(engine: Engine) -> None:
    """Count every statement this engine runs into the current request's tally."""
    event.listen(engine, "before_cursor_execute", count_statement)


class LabMiddleware:
    """Lab mode only: injected latency and errors on ``/v1``, and ``X-DB-Queries``.

    Also the loopback guard: a lab service reached on a non-loopback address
    turns every switch off before serving anything.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._random = random.Random(0)  # seeded: the same run of requests fails the same way

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        if not is_loopback(server[0] if server else None) and current(self.settings).any_on():
            apply(self.settings, LabSwitchesUpdate(**LabSwitches().model_dump()))
        if scope["path"].startswith("/v1/"):
            if self.settings.latency_ms:
                await sleep(self.settings.latency_ms / 1000)
            if self._random.random() < self.settings.error_rate:
                detail = "injected fault (lab switch error_rate)"
                await send_problem(scope, send, status=500, detail=detail)
                return
        counter = [0]
        token = _queries.set(counter)

        async def send_with_count(message: Message) -> None:
            if message["type"] == "http.response.start":
                count = (b"x-db-queries", str(counter[0]).encode())
                message["headers"] = [*message.get("headers", []), count]
            await send(message)

        try:
            await self.app(scope, receive, send_with_count)
        finally:
            _queries.reset(token)
