"""Child processes that never outlive the process that started them.

Every server labkit starts (uvicorn, Locust, PostgreSQL) goes through `spawn`: the child gets
its own process group, so `stop` reaches its whole tree, and on Linux it asks the kernel to
signal it when its parent dies (PR_SET_PDEATHSIG), so even a kernel killed with SIGKILL
leaves nothing behind. The death signal follows the *thread* that spawned the child: start
long-lived children from the main thread (as notebooks and tests do).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["as_user", "free_port", "is_running", "port_is_free", "spawn", "stop"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: int) -> Callable[[], None]:
    """Build a pre-exec hook that asks the kernel to send `sig` when the parent thread exits."""
    libc = (
        ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if sys.platform == "linux"
        else None
    )
    parent = os.getpid()

    def hook() -> None:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
            if os.getppid() != parent:  # the parent died between fork and prctl
                os.kill(os.getpid(), sig)

    return hook


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    death_signal: int | None = signal.SIGTERM,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `argv` with stdout and stderr appended to `log_path`, tied to this process's life.

    `new_session=True, death_signal=None` is only for a keeper that outlives one client on
    purpose and watches its clients itself; everything else dies with its parent.
    """
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            **as_user(user),
            start_new_session=new_session,
            process_group=None if new_session else 0,
            preexec_fn=None if death_signal is None else _die_with_parent(death_signal),
        )
    finally:
        log.close()


def as_user(user: str | None) -> dict[str, Any]:
    """Popen arguments that run a child as `user` with that user's group and no others."""
    if user is None:
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def stop(proc: subprocess.Popen[bytes], *, grace: float = 5.0, sig: int = signal.SIGTERM) -> None:
    """Stop `proc` and its whole process group: `sig` first, SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        _signal_group(proc.pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    # Grandchildren that outlived their parent still carry the group id.
    _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def is_running(pid: int) -> bool:
    """True for a live process; a zombie awaiting its parent's wait does not count."""
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether `port` on `host` can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True
