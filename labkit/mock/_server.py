"""`MockServer`: the mock app under uvicorn in a child process that dies with its owner."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx

from labkit._lifecycle import Lifecycle
from labkit._process import free_port
from labkit.contract import Spec
from labkit.errors import BadArgument
from labkit.service import LiveService

__all__ = ["MockServer"]

_APP = "labkit.mock._main:app"


class MockServer(Lifecycle):
    """A contract served from its examples and schemas on a free 127.0.0.1 port.

    `with` starts it (ready when the block begins) and stops it; so does `start()`/`close()`.
    It runs as a `LiveService`, so it dies with this process even on SIGKILL.
    """

    def __init__(
        self,
        spec: Spec,
        *,
        latency_ms: float | tuple[float, float] = 0.0,
        security: bool = True,
        seed: int = 0,
        port: int | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        low, high = latency_ms if isinstance(latency_ms, tuple) else (latency_ms, latency_ms)
        if not 0 <= low <= high:
            raise BadArgument(
                f"latency_ms={latency_ms!r}: give milliseconds ≥ 0, or a (low, high) range "
                "with low ≤ high."
            )
        self.spec = spec
        self.latency_ms = (float(low), float(high))
        self.security = security
        self.seed = seed
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._startup_timeout = startup_timeout
        self._workdir: Path | None = None
        self._service: LiveService | None = None

    def start(self) -> MockServer:
        """Write the contract where the child reads it, start uvicorn, return once it answers."""
        if self._service is not None:
            return self
        self._workdir = Path(tempfile.mkdtemp(prefix="labkit-mock-"))
        contract = self._workdir / "openapi.json"
        contract.write_text(json.dumps(self.spec.doc, default=str), encoding="utf-8")
        config = {
            "contract": str(contract),
            "latency_ms": self.latency_ms,
            "security": self.security,
            "seed": self.seed,
        }
        self._service = LiveService(
            _APP,
            settings={"labkit_mock": json.dumps(config)},
            port=self.port,
            ready_path=None,
            startup_timeout=self._startup_timeout,
        )
        try:
            self._service.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop the child and remove the files it read; safe to call twice."""
        if self._service is not None:
            self._service.close()
            self._service = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    @property
    def pid(self) -> int | None:
        """The uvicorn process id while running."""
        return None if self._service is None else self._service.pid

    @property
    def running(self) -> bool:
        return self._service is not None and self._service.running

    def client(self, **kwargs: Any) -> httpx.Client:
        """An `httpx.Client` whose base URL is the mock (close it, or use `with`)."""
        kwargs.setdefault("timeout", 10.0)
        return httpx.Client(base_url=self.url, **kwargs)

    def log_lines(self, last: int | None = None) -> list[str]:
        """uvicorn's log lines so far: one per request answered."""
        return [] if self._service is None else self._service.log_lines(last)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        low, high = self.latency_ms
        latency = f"{low:g} ms" if low == high else f"{low:g} to {high:g} ms"
        return (
            f"MockServer({self.spec.title!r} {self.spec.api_version}, url={self.url!r}, "
            f"latency {latency}, {state})"
        )
