"""Keep the embedded PostgreSQL running exactly as long as some labkit process uses it.

Run as `python -m labkit.databases._keeper STATE_DIR PGDATA PORT [USER]` in a session of its own, so
one notebook's exit does not take the server from another notebook or test worker that still
uses it. Clients register by writing a file named `<pid>-<start time>` into STATE_DIR/clients;
the keeper removes entries whose process is gone (even one killed with SIGKILL) and, once none
is left, shuts the server down and exits. The postmaster is the keeper's child and dies with it.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import psutil

from labkit import _process
from labkit.databases._pgshared import bin_dir, live_clients, locked

_POLL_SECONDS = 0.25
_GRACE_SECONDS = 1.0


def main(state_dir: Path, pgdata: Path, port: int, user: str | None) -> int:
    """Start the postmaster, publish where it listens, and stop it when the last client is gone."""
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
