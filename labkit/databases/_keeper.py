"""Keep the embedded PostgreSQL running exactly as long as some labkit process uses it.

Run as `python -m labkit.databases._keeper STATE_DIR PGDATA PORT [USER]` in a session of its own, so
one notebook's exit does not take the server from another notebook or test worker that still
uses it. Clients register by writing a file named `<pid>-<start time>` into STATE_DIR/clients;
the keeper removes entries whose process is gone (even one killed with SIGKILL) and, once none
is left, shuts the server down and exits. The postmaster is the keeper's child and dies with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from labkit import _process

_POLL_SECONDS = 0.25
_GRACE_SECONDS = 1.0


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


def main(state_dir: Path, pgdata: Path, port: int, user: str | None) -> int:
    """Start the postmaster, publish where it listens, and stop it when the last client is gone."""
    from labkit.databases._embedded import bin_dir

    clients = state_dir / "clients"
    argv = [str(bin_dir() / "postgres"), "-D", str(pgdata), "-p", str(port)]
    argv += ["-h", "127.0.0.1", "-k", "", "-c", "logging_collector=off"]
    # SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, nothing needs recovery.
    server = _process.spawn(
        argv, log_path=state_dir / "postgres.log", user=user, death_signal=signal.SIGINT
    )
    state = {"keeper_pid": psutil.Process().pid, "postmaster_pid": server.pid, "port": port}
    (state_dir / "server.json").write_text(json.dumps(state))

    def shutdown(*_: object) -> None:
        _process.stop(server, sig=signal.SIGINT, grace=10.0)
        (state_dir / "server.json").unlink(missing_ok=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    idle_since: float | None = None
    while server.poll() is None:
        time.sleep(_POLL_SECONDS)
        if live_clients(clients):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > _GRACE_SECONDS:
            with locked(state_dir / "lock"):  # a client registering now would find a dying server
                if not live_clients(clients):
                    shutdown()
            idle_since = None
    (state_dir / "server.json").unlink(missing_ok=True)
    return 1


if __name__ == "__main__":
    state_dir, pgdata, port, *user = sys.argv[1:]
    sys.exit(main(Path(state_dir), Path(pgdata), int(port), user[0] if user else None))
