"""`LiveWorker`: the shop's worker processes, started beside a `LiveService` and always stopped.

>>> with lk.LiveService() as svc, lk.LiveWorker(svc, processes=2) as workers:
...     svc.login("staff").post("/v1/exports/orders")        # 202; a worker runs the export
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from labkit import _process
from labkit._lifecycle import Lifecycle
from labkit.databases import Database
from labkit.errors import BadArgument, ServerStartError
from labkit.service import LiveService, _env_value

__all__ = ["LiveWorker"]

_READY = " ready on "  # the line a worker logs once it starts claiming
_HANDLING = " handling order."  # the line a worker logs as it starts on an order event
_HANDLED = " handled "  # and the one once that event's transaction committed


class LiveWorker(Lifecycle):
    """Run `processes` consumers (`python -m sample_service.worker`) on the shop's database.

    Args:
        target: a running `LiveService` (its database and settings are used), a `Database`
            or a database URL.
        processes: how many workers claim from the queue side by side.
        queues: the queues they take jobs from.
        relay: whether they also relay the transactional outbox to the queue.
        settings: the service's settings (`SHOP_<NAME>`), over the service's own.

    Every process dies with this one (parent-death signal), on `with` exit and at exit.
    Taught in 12_async_work_and_events.
    """

    def __init__(
        self,
        target: LiveService | Database | str,
        *,
        processes: int = 1,
        queues: tuple[str, ...] = ("exports", "events"),
        relay: bool = True,
        settings: dict[str, Any] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        if processes < 1:
            raise BadArgument(f"processes={processes}: a LiveWorker runs at least one process")
        self._target = target
        self._size = processes
        self._queues = queues
        self._relay = relay
        self._settings = dict(settings or {})
        self._startup_timeout = startup_timeout
        self._workdir: Path | None = None
        self._procs: dict[int, Any] = {}  # index -> Popen
        self._next = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LiveWorker:
        """Start the worker processes; returns once each has said it is ready."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="labkit-worker-"))
            atexit.register(self.close)
        self.scale(self._size)
        return self

    def scale(self, processes: int) -> None:
        """Grow or shrink to `processes` workers (shrinking stops the newest gracefully)."""
        if processes < 0:
            raise BadArgument(f"processes={processes}: cannot run fewer than none")
        while len(self._procs) > processes:
            _process.stop(self._procs.pop(max(self._procs)))
        started = [self._spawn() for _ in range(processes - len(self._procs))]
        for index in started:
            self._wait_until_ready(index)
        self._size = processes

    def kill(self, index: int | None = None) -> int:
        """SIGKILL one worker (the oldest by default), as a crash would; returns its index.

        Whatever job it held stays claimed until its visibility timeout, then runs again.
        """
        if not self._procs:
            raise BadArgument("no worker is running; start() first")
        index = min(self._procs) if index is None else index
        proc = self._procs.pop(index)
        _process.stop(proc, sig=signal.SIGKILL, grace=0)
        return index

    def wait_for_exit(self, timeout: float = 30.0) -> int:
        """Wait until a worker exits on its own (a crash switch); returns its exit code.

        A process killed by a signal returns minus the signal's number (-9 for SIGKILL).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, proc in list(self._procs.items()):
                if proc.poll() is not None:
                    del self._procs[index]
                    return int(proc.returncode)
            time.sleep(0.02)
        raise BadArgument(f"no worker exited within {timeout:.0f} s; is a crash switch on?")

    def kill_mid_message(self, timeout: float = 30.0) -> tuple[int, str]:
        """SIGKILL the first worker seen in the middle of an event (started, not finished).

        Run the workers with the `event_handle_ms` switch so a handler works long enough
        to be caught before it writes. Returns (worker index, message id).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in sorted(self._procs):
                lines = [line for line in self.logs(index) if _HANDLING in line or _HANDLED in line]
                if lines and _HANDLING in lines[-1]:
                    self.kill(index)
                    return index, lines[-1].rsplit(" ", 1)[-1]
            time.sleep(0.01)
        raise BadArgument(
            f"no worker was in the middle of an event within {timeout:.0f} s: "
            "are there events to consume, and is event_handle_ms set?"
        )

    def stop(self) -> None:
        """Stop every worker (each finishes its job in hand first, then exits)."""
        while self._procs:
            _process.stop(self._procs.pop(max(self._procs)))

    def close(self) -> None:
        """Stop and remove the log files; runs on `with` exit and at interpreter exit."""
        self.stop()
        atexit.unregister(self.close)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -- use ---------------------------------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        """The process ids of the running workers, oldest first."""
        return [int(self._procs[i].pid) for i in sorted(self._procs)]

    def logs(self, index: int | None = None) -> list[str]:
        """The log lines of one worker, or of all of them in turn."""
        if self._workdir is None:
            return []
        paths = sorted(self._workdir.glob("worker-*.log"))
        if index is not None:
            paths = [self._workdir / f"worker-{index}.log"]
        return [line for p in paths if p.exists() for line in p.read_text().splitlines()]

    def __repr__(self) -> str:
        return f"LiveWorker(processes={len(self._procs)}, queues={self._queues!r})"

    # -- internals ---------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        settings: dict[str, Any] = {}
        if isinstance(self._target, LiveService):
            if self._target.db is None:
                raise BadArgument("the LiveService is not running; start it before its workers")
            settings, url = self._target.settings, self._target.db.url
        else:
            url = self._target.url if isinstance(self._target, Database) else self._target
        settings |= self._settings
        env = {f"SHOP_{key.upper()}": _env_value(value) for key, value in settings.items()}
        return {**os.environ, **env, "SHOP_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}

    def _spawn(self) -> int:
        assert self._workdir is not None
        index, self._next = self._next, self._next + 1
        argv = [sys.executable, "-m", "sample_service.worker", "--name", f"worker-{index}"]
        argv += ["--queues", ",".join(self._queues)] + ([] if self._relay else ["--no-relay"])
        log_path = self._workdir / f"worker-{index}.log"
        self._procs[index] = _process.spawn(argv, log_path=log_path, env=self._environment())
        return index

    def _wait_until_ready(self, index: int) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if any(_READY in line for line in self.logs(index)):
                return
            proc = self._procs[index]
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = " | ".join(self.logs(index)[-5:]) or "no log output"
        self.close()
        raise ServerStartError(
            f"worker-{index} did not start within {self._startup_timeout:.0f} s "
            f"(last log lines: {tail}). Run `labkit doctor`."
        )
