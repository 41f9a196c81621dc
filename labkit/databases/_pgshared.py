"""What the embedded PostgreSQL's clients and its keeper share: the client registry, the lock, the binaries.

Both `_embedded` (the clients' side) and `_keeper` (the server's side) import this module and
neither imports the other, so the pair has no import cycle.
"""

from __future__ import annotations

import contextlib
import fcntl
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil


def bin_dir() -> Path:
    """Return the folder of pgserver's PostgreSQL binaries."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pgserver warns about XDG_RUNTIME_DIR on import
        from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def client_key(pid: int) -> str:
    """Name a client by pid and start time, so a reused pid does not keep the server alive."""
    return f"{pid}-{psutil.Process(pid).create_time():.3f}"


def _is_alive(key: str) -> bool:
    pid_text, _, started = key.partition("-")
    try:
        proc = psutil.Process(int(pid_text))
        return f"{proc.create_time():.3f}" == started and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return False


def live_clients(clients: Path) -> list[str]:
    """Return the registered clients still running, forgetting the rest."""
    alive = []
    for entry in clients.iterdir():
        if _is_alive(entry.name):
            alive.append(entry.name)
        else:
            entry.unlink(missing_ok=True)
    return alive


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the server's lock: clients register and the keeper decides to stop under it."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
