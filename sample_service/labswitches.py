"""Lesson switches: bad practices the course turns on, measures, and turns off again.

They live on ``app.state.switches`` (a ``LabSwitches``), start from settings and
change through the admin-only ``/lab/switches`` endpoint. Because a switch can
open a security hole, they are refused unless lab mode is on, and ignored
whenever the service answers on an address other than loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from typing import TYPE_CHECKING

from sample_service.api.problems import send_problem
from sample_service.schemas.lab import LabSwitches, LabSwitchesUpdate

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from sample_service.config import Settings

_SWITCH_NAMES = tuple(LabSwitches.model_fields)


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


def from_settings(settings: Settings) -> LabSwitches:
    """The switches at start; refuses any switch when lab mode is off."""
    switches = LabSwitches(**{name: getattr(settings, name) for name in _SWITCH_NAMES})
    if switches.any_on() and not settings.lab_mode:
        on = [name for name, value in switches if value != LabSwitches.model_fields[name].default]
        msg = (
            f"lesson switches {on} were set but lab mode is off; "
            "set SHOP_LAB_MODE=true (loopback only) or unset the switches"
        )
        raise LabModeRequired(msg)
    return switches


def refusal(*, lab_mode: bool, server_host: str | None) -> str | None:
    """Why the switches cannot change here, or ``None`` when they can."""
    if not lab_mode:
        return "lab switches are refused: lab mode is off (start with SHOP_LAB_MODE=true)"
    if not is_loopback(server_host):
        return f"lab switches are refused: the service listens on {server_host}, not loopback"
    return None


def apply(switches: LabSwitches, update: LabSwitchesUpdate) -> LabSwitches:
    """Change the named switches in place (every request sees the same object)."""
    for name, value in update.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(switches, name, value)
    return switches


class FaultMiddleware:
    """Injected latency and error rate on ``/v1``; installed only in lab mode.

    Also the loopback guard: a lab service reached on a non-loopback address
    turns every switch off before serving anything.
    """

    def __init__(self, app: ASGIApp, *, switches: LabSwitches, seed: int | None = None) -> None:
        self.app = app
        self.switches = switches
        self._random = random.Random(seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server")
            if not is_loopback(server[0] if server else None) and self.switches.any_on():
                for name, field in LabSwitches.model_fields.items():
                    setattr(self.switches, name, field.default)
            if scope["path"].startswith("/v1/"):
                if self.switches.latency_ms:
                    await asyncio.sleep(self.switches.latency_ms / 1000)
                if self._random.random() < self.switches.error_rate:
                    detail = "injected fault (lab switch error_rate)"
                    await send_problem(scope, send, status=500, detail=detail)
                    return
        await self.app(scope, receive, send)
