"""The embedded PostgreSQL: pgserver's binaries, one server per user, shared by labkit processes.

The first process that asks initialises the data directory (once), starts a keeper
(`labkit.databases._keeper`) that runs the postmaster on a free loopback port, and registers itself as
a client; later processes find the running server and register too. The keeper stops the
server when the last client has exited, however it exited. A postmaster found running without
its keeper (left by a killed process) is stopped before a new one starts.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import psutil

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pgserver warns about XDG_RUNTIME_DIR on import
    from pgserver import utils as pgserver_utils

from labkit import _process
from labkit._paths import postgres_home
from labkit.databases._pgshared import bin_dir, client_key, locked
from labkit.errors import ServerStartError

__all__ = [
    "embedded_postgres_url",
    "embedded_state",
    "register",
    "run_as",
    "start_keeper",
    "tail",
]

_SERVICE_USER = "pgserver"  # the account pgserver itself uses when run as root
_START_TIMEOUT = 30.0


def embedded_postgres_url() -> str:
    """Return an admin URL of the running embedded server, starting it when needed."""
    home = postgres_home()
    clients = home / "clients"
    clients.mkdir(exist_ok=True)
    with locked(home / "lock"):
        register(clients)
        state = _running_state(home)
        if state is None:
            (home / "data").mkdir(exist_ok=True)
            user = run_as(home / "data")
            _stop_orphan_postmaster(home / "data")
            _initdb(home, user)
            state = start_keeper(home, home / "data", user)
    return f"postgresql+psycopg://postgres@127.0.0.1:{state['port']}/postgres"


def embedded_state() -> dict[str, int] | None:
    """The running embedded server's keeper pid, postmaster pid and port; None when it is down."""
    return _running_state(postgres_home())


def register(clients: Path) -> None:
    """Count this process among a server's clients until it exits."""
    entry = clients / client_key(os.getpid())
    if not entry.exists():
        entry.touch()
        atexit.register(entry.unlink, missing_ok=True)


def _running_state(home: Path) -> dict[str, int] | None:
    """Return the keeper's state when its keeper and postmaster are both alive."""
    try:
        state: dict[str, int] = json.loads((home / "server.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if all(_process.is_running(state[key]) for key in ("keeper_pid", "postmaster_pid")):
        return state
    return None


def _stop_orphan_postmaster(pgdata: Path) -> None:
    """Stop a postmaster still serving `pgdata` whose keeper is gone (its owner was killed)."""
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        proc = psutil.Process(pid)
    except (FileNotFoundError, IndexError, ValueError, psutil.NoSuchProcess):
        return
    if proc.name() != "postgres":
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except psutil.TimeoutExpired:
        proc.kill()


def run_as(pgdata: Path) -> str | None:
    """PostgreSQL refuses root; under root it runs as pgserver's service account.

    That account must be able to enter every folder above the data directory, so those get
    group and other search permission (as pgserver does), checked at every start.
    """
    if os.geteuid() != 0:
        return None
    pgserver_utils.ensure_user_exists(_SERVICE_USER)
    pgserver_utils.ensure_prefix_permissions(bin_dir())
    read, execute = 0o044, 0o011  # group and others, as pgserver grants them
    pgserver_utils.ensure_folder_permissions(bin_dir(), read | execute)
    pgserver_utils.ensure_folder_permissions(bin_dir().parent / "lib", read)
    pgserver_utils.ensure_prefix_permissions(pgdata)
    return _SERVICE_USER


def _initdb(home: Path, user: str | None) -> None:
    """Create the data directory once; later starts reuse it and its databases."""
    pgdata = home / "data"
    if (pgdata / "PG_VERSION").exists():
        return
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    argv = [str(bin_dir() / "initdb"), "-D", str(pgdata), "-U", "postgres"]
    argv += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
    result = subprocess.run(
        argv, **_process.as_user(user), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ServerStartError(
            f"initdb failed for {pgdata} ({reason}). Delete that folder and retry, "
            "or set LABKIT_POSTGRES_URL to a PostgreSQL server."
        )


def start_keeper(
    home: Path,
    pgdata: Path,
    user: str | None,
    options: Sequence[str] = (),
    *,
    what: str = "the embedded PostgreSQL",
) -> dict[str, int]:
    """Start a keeper for the server of `pgdata` (state in `home`); return its state once it serves."""
    port = _process.free_port()
    argv = [sys.executable, "-m", "labkit.databases._keeper", str(home), str(pgdata), str(port)]
    argv += [*(["--user", user] if user else []), *options]
    (home / "server.json").unlink(missing_ok=True)
    keeper = _process.spawn(argv, log_path=home / "keeper.log", death_signal=None, new_session=True)
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        state = _running_state(home)
        if state is not None and _accepts_connections(state["port"]):
            return state
        if keeper.poll() is not None:
            break
        time.sleep(0.1)
    log_tail = tail(home / "postgres.log") or tail(home / "keeper.log")
    _process.stop(keeper)
    raise ServerStartError(
        f"{what} did not start on 127.0.0.1:{port} within {_START_TIMEOUT:.0f} s "
        f"(last log line: {log_tail!r}). Run `labkit doctor`, or set LABKIT_POSTGRES_URL "
        "to a PostgreSQL server you run."
    )


def _accepts_connections(port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=1
        ):
            return True
    except psycopg.OperationalError:
        return False


def tail(path: Path) -> str:
    """The last line of a log file, or "" when there is none."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return lines[-1] if lines else ""
