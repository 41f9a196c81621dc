"""A PostgreSQL database with a streaming replica: the embedded server's standby, or yours.

`replica(name)` gives the database `name` on a primary and the same database on a hot standby
that replays the primary's WAL as it streams in:

- with `LABKIT_POSTGRES_REPLICA_URL` set, the server in `LABKIT_POSTGRES_URL` and that standby
  of it (yours: labkit only connects);
- otherwise the embedded server and a standby labkit makes from it with pgserver's own
  binaries: `pg_basebackup` copies the running cluster (seconds for a lesson's databases),
  then `postgres` starts on the copy in standby mode. A keeper like the primary's runs it: it
  stops when the process that asked exits (even killed), or when the primary stops, and its
  files go with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import psutil
from sqlalchemy.engine import make_url

from labkit import _process
from labkit._lifecycle import Lifecycle
from labkit._paths import postgres_home
from labkit.databases._database import (
    Database,
    _hide_password,
    _postgres_database,
    database,
)
from labkit.databases._pgshared import bin_dir
from labkit.errors import BadArgument, ServerStartError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Lag", "Replica", "replica"]

_REPLICA_ENV = "LABKIT_POSTGRES_REPLICA_URL"
_BACKUP_TIMEOUT = 120.0
# The standby's position and how old its last replayed commit is (0 when nothing waits to replay).
_STANDBY_POSITION = """
SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END
"""


@dataclass(frozen=True)
class Lag:
    """How far a replica trails its primary: WAL bytes written but not yet replayed, and
    the age of its last replayed commit while more waits to replay (0 when caught up)."""

    bytes: int
    seconds: float

    def __repr__(self) -> str:
        return f"Lag(bytes={self.bytes}, seconds={self.seconds:.3f})"


class Replica(Lifecycle):
    """The database `primary` and a streaming replica of its server (see `replica()`).

    `url` is the same database on the standby, for a service's `database_replica_url`;
    `database` opens it from a notebook (it refuses writes: a hot standby is read-only).
    """

    def __init__(self, primary: Database, configured_url: str | None = None) -> None:
        self.primary = primary
        self._configured = configured_url
        self._state_dir: Path | None = None
        self._keeper_pid: int | None = None
        self.url = ""
        self.database: Database | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Replica:
        """Make the standby (or connect to the configured one); return once it has caught up."""
        if self.database is not None:
            return self
        if self._configured is not None:
            server = make_url(self._configured).set(drivername="postgresql+psycopg")
        else:
            server = make_url(f"postgresql+psycopg://postgres@127.0.0.1:{self._start_standby()}")
        self.url = server.set(database=self.primary.name).render_as_string(hide_password=False)
        self.database = Database("postgres", self.url, self.primary.name)
        try:
            self.wait_caught_up()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop a standby labkit made and delete its files; forget a configured one."""
        if self.database is not None:
            self.database.dispose()
            self.database = None
        if self._keeper_pid is not None:
            try:
                keeper = psutil.Process(self._keeper_pid)
                # The keeper stops the standby, then deletes the copy.
                keeper.send_signal(signal.SIGTERM)
                keeper.wait(15)
            except (psutil.NoSuchProcess, psutil.TimeoutExpired):
                pass
            self._keeper_pid = None

    @property
    def managed(self) -> bool:
        """True for a standby labkit runs (it can be delayed); False for a configured one."""
        return self._configured is None

    # -- measure -----------------------------------------------------------------------------

    def lag(self) -> Lag:
        """How far the replica trails now: the primary's WAL position, then the standby's.

        Taught in 08_caching_and_rate_limits.
        """
        standby = self._standby()
        with self.primary.engine.connect() as conn:
            written = conn.exec_driver_sql(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
            ).scalar_one()
        with standby.engine.connect() as conn:
            replayed, seconds = conn.exec_driver_sql(_STANDBY_POSITION).one()
        if replayed is None:
            raise BadArgument(f"{_hide_password(self.url)} is not a standby (it is in no recovery)")
        return Lag(bytes=max(int(written) - int(replayed), 0), seconds=float(seconds or 0.0))

    def wait_caught_up(self, timeout: float = 30.0) -> float:
        """Wait until the standby has replayed everything the primary had written; the seconds."""
        with self.primary.engine.connect() as conn:
            target = conn.exec_driver_sql(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
            ).scalar_one()
        started = time.perf_counter()
        while True:
            with self._standby().engine.connect() as conn:
                replayed = conn.exec_driver_sql(_STANDBY_POSITION).one()[0]
            if replayed is not None and int(replayed) >= int(target):
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise ServerStartError(
                    f"the replica at {_hide_password(self.url)} did not catch up with its primary within "
                    f"{timeout:.0f} s (replayed {replayed}, primary at {target}); is it streaming?"
                )
            time.sleep(0.02)

    def watch(
        self, work: Callable[[], object], *, every: float = 0.05, after: float = 1.0
    ) -> pd.DataFrame:
        """Sample `lag()` every `every` seconds while `work()` runs, and `after` seconds more.

        One row per sample: `t` (seconds from the start), `phase` ("during" or "after"),
        `lag_bytes` and `lag_ms`. Taught in 08_caching_and_rate_limits.
        """
        import pandas as pd  # only a lesson that plots lag needs it

        rows: list[dict[str, object]] = []
        done = threading.Event()
        stop = threading.Event()
        start = time.perf_counter()

        def sample() -> None:
            while not stop.is_set():
                lag = self.lag()
                phase = "after" if done.is_set() else "during"
                rows.append(
                    {
                        "t": time.perf_counter() - start,
                        "phase": phase,
                        "lag_bytes": lag.bytes,
                        "lag_ms": lag.seconds * 1000,
                    }
                )
                stop.wait(every)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            work()
            done.set()
            stop.wait(after)
        finally:
            stop.set()
            sampler.join()
        return pd.DataFrame(rows, columns=["t", "phase", "lag_bytes", "lag_ms"])

    def delay_replay(self, seconds: float) -> None:
        """Hold each commit back `seconds` before the standby applies it (0: apply at once).

        PostgreSQL's `recovery_min_apply_delay`, as a delayed replica runs: here it makes a lag
        of a known size, so the lesson's anomaly shows every time, not only under load.
        """
        if not self.managed:
            raise BadArgument(
                "delay_replay changes a standby labkit runs; the one in "
                f"{_REPLICA_ENV} is yours: set recovery_min_apply_delay there"
            )
        if not 0 <= seconds <= 60:
            raise BadArgument(f"delay_replay takes 0 to 60 seconds, not {seconds!r}")
        assert self._state_dir is not None
        delay = f"'{int(seconds * 1000)}ms'"
        _set_conf(self._state_dir / "data", "recovery_min_apply_delay", delay)
        with self._standby().engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_reload_conf()")
        time.sleep(0.1)  # the postmaster re-reads its files on SIGHUP, a moment later

    def __repr__(self) -> str:
        where = "labkit's standby" if self.managed else _REPLICA_ENV
        return f"Replica(primary={self.primary!r}, url={_hide_password(self.url)!r}, {where})"

    # -- internals ---------------------------------------------------------------------------

    def _standby(self) -> Database:
        if self.database is None:
            raise BadArgument("this replica is closed (or not started); call replica(...) again")
        return self.database

    def _start_standby(self) -> int:
        """Copy the embedded cluster and start it as a standby; return its port."""
        from labkit.databases._embedded import embedded_state, register

        state = embedded_state()
        if state is None:
            raise ServerStartError("the embedded PostgreSQL is not running; it is the primary")
        basebackup = bin_dir() / "pg_basebackup"
        if not basebackup.exists():
            _cannot(f"pgserver's binaries have no pg_basebackup ({bin_dir()})")
        home = postgres_home() / "replicas"
        home.mkdir(exist_ok=True)
        _remove_stopped(home)
        self._state_dir = state_dir = home / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        (state_dir / "clients").mkdir(parents=True)
        register(state_dir / "clients")
        try:
            return self._copy_and_start(state, state_dir)
        except BaseException:
            shutil.rmtree(state_dir, ignore_errors=True)  # a keeper would delete it; none runs
            raise

    def _copy_and_start(self, primary: dict[str, int], state_dir: Path) -> int:
        """`pg_basebackup` of the primary into `state_dir`, then a keeper for the standby."""
        from labkit.databases._embedded import run_as, start_keeper

        basebackup = bin_dir() / "pg_basebackup"
        pgdata = state_dir / "data"
        pgdata.mkdir(mode=0o700)
        user = run_as(pgdata)
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            os.chown(pgdata, entry.pw_uid, entry.pw_gid)
        argv = [str(basebackup), "-h", "127.0.0.1", "-p", str(primary["port"]), "-U", "postgres"]
        # -X stream: the WAL written meanwhile comes along; -c fast: no wait for a checkpoint;
        # -R: standby.signal and primary_conninfo, so the copy starts as the primary's standby.
        argv += ["-D", str(pgdata), "-X", "stream", "-c", "fast", "-R", "--no-sync"]
        argv += ["--no-manifest"]
        try:
            result = subprocess.run(
                argv,
                **_process.as_user(user),
                capture_output=True,
                text=True,
                timeout=_BACKUP_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            _cannot(f"pg_basebackup took over {_BACKUP_TIMEOUT:.0f} s")
        if result.returncode != 0:
            _cannot(
                "pg_basebackup failed: " + (result.stderr.strip().splitlines() or ["no output"])[-1]
            )
        # Named in the primary's pg_stat_replication; replay position reported every second.
        _set_conf(pgdata, "cluster_name", f"'labkit_replica_{state_dir.name}'")
        _set_conf(pgdata, "wal_receiver_status_interval", "'1s'")
        # A copy deleted when it stops is never recovered after a crash, so it skips fsync:
        # otherwise its first start syncs every file of the copy (seconds, on a busy disk).
        _set_conf(pgdata, "fsync", "off")
        options = ["--follow", str(primary["postmaster_pid"]), "--ephemeral"]
        standby = start_keeper(state_dir, pgdata, user, options, what="the streaming replica")
        self._keeper_pid = standby["keeper_pid"]
        return standby["port"]


def replica(name: str = "shop", *, fresh: bool = False) -> Replica:
    """Return database `name` on a primary with a running streaming replica of its server.

    Taught in 08_caching_and_rate_limits (section 7). With `LABKIT_POSTGRES_REPLICA_URL` set
    (a standby of the server in `LABKIT_POSTGRES_URL`) that pair serves; otherwise the embedded
    PostgreSQL is the primary and labkit starts a standby of it, whatever `LABKIT_POSTGRES_URL`
    says (labkit can only copy a server it runs). `close()` it, or use `with`; it also stops
    when this process exits or the primary stops.

    Example: `rep = lk.replica("lesson08", fresh=True); rep.primary, rep.url, rep.lag()`
    """
    configured = os.environ.get(_REPLICA_ENV)
    if configured:
        if not os.environ.get("LABKIT_POSTGRES_URL"):
            raise BadArgument(
                f"{_REPLICA_ENV} is set but LABKIT_POSTGRES_URL, its primary, is not; set both "
                "(or neither, for a standby of the embedded server)"
            )
        return Replica(database("postgres", name=name, fresh=fresh), configured).start()
    from labkit.databases._embedded import embedded_postgres_url

    primary = _postgres_database(embedded_postgres_url(), name, fresh)
    return Replica(primary).start()


def _cannot(reason: str) -> NoReturn:
    raise ServerStartError(
        f"no streaming replica can be made here: {reason}. Set {_REPLICA_ENV} (with "
        "LABKIT_POSTGRES_URL) to a standby of a PostgreSQL server you run."
    )


def _set_conf(pgdata: Path, name: str, value: str) -> None:
    """Set one parameter in the standby's postgresql.auto.conf (the last line for it wins)."""
    with (pgdata / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"{name} = {value}\n")


def _remove_stopped(home: Path) -> None:
    """Delete standby copies whose owner and server are both gone (a keeper killed mid-way)."""
    for state_dir in home.iterdir():
        owner = state_dir.name.split("-", 1)[0]
        if owner.isdigit() and _process.is_running(int(owner)):
            continue
        if not _postmaster_running(state_dir):
            shutil.rmtree(state_dir, ignore_errors=True)


def _postmaster_running(state_dir: Path) -> bool:
    try:
        pid = int((state_dir / "data" / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return False
    return _process.is_running(pid)
