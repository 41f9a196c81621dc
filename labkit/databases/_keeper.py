"""Keep an embedded PostgreSQL server running exactly as long as some labkit process uses it.

Run as `python -m labkit.databases._keeper STATE_DIR PGDATA PORT [--user U] [--follow PID]
[--ephemeral]` in a session of its own, so one notebook's exit does not take the server from
another notebook or test worker that still uses it. Clients register by writing a file named
`<pid>-<start time>` into STATE_DIR/clients; the keeper removes entries whose process is gone
(even one killed with SIGKILL) and, once none is left, shuts the server down and exits. The
postmaster is the keeper's child and dies with it.

A streaming replica's keeper also follows its primary (`--follow` the primary's postmaster:
a standby of a stopped server is stopped too) and, being `--ephemeral`, deletes its state
folder, data included, once its server has stopped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path

import psutil

from labkit import _process
from labkit.databases._pgshared import bin_dir, live_clients, locked

_POLL_SECONDS = 0.25
_GRACE_SECONDS = 1.0


def main(
    state_dir: Path,
    pgdata: Path,
    port: int,
    user: str | None,
    *,
    follow: int | None = None,
    ephemeral: bool = False,
) -> int:
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
        # A copy about to be deleted needs no clean shutdown: SIGQUIT, "immediate", is enough.
        _process.stop(server, sig=signal.SIGQUIT if ephemeral else signal.SIGINT, grace=10.0)
        (state_dir / "server.json").unlink(missing_ok=True)
        if ephemeral:
            shutil.rmtree(state_dir, ignore_errors=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    idle_since: float | None = None
    while server.poll() is None:
        time.sleep(_POLL_SECONDS)
        if follow is not None and not _process.is_running(follow):
            shutdown()
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
    if ephemeral:
        shutil.rmtree(state_dir, ignore_errors=True)
    return 1


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m labkit.databases._keeper")
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("pgdata", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("--user", help="run the server as this account (labkit runs as root)")
    parser.add_argument("--follow", type=int, help="stop when this process (the primary) is gone")
    parser.add_argument("--ephemeral", action="store_true", help="delete STATE_DIR at the end")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _arguments(sys.argv[1:])
    sys.exit(
        main(
            args.state_dir,
            args.pgdata,
            args.port,
            args.user,
            follow=args.follow,
            ephemeral=args.ephemeral,
        )
    )
