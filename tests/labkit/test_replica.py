"""`lk.replica`: a real streaming standby of the embedded PostgreSQL, gone with its owner.

Skipped, saying why, where pgserver's binaries cannot make a standby.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
import sqlalchemy as sa

from labkit.databases import Replica, database, replica
from labkit.errors import BadArgument, ServerStartError
from tests.conftest import unique_name
from tests.processes import alive

ROOT = Path(__file__).resolve().parents[2]

OWNER = """
import json, os
from labkit.databases import replica
rep = replica("orphan_check", fresh=True)
pids = {}
for name, state_dir in (("replica", rep._state_dir), ("primary", os.path.join(os.environ["LABKIT_HOME"], "postgres"))):
    state = json.load(open(os.path.join(state_dir, "server.json")))
    pids[name] = [state["keeper_pid"], state["postmaster_pid"]]
print(json.dumps({"dir": str(rep._state_dir), **pids}), flush=True)
input()
"""


@pytest.fixture(scope="module")
def rep() -> Iterator[Replica]:
    try:
        made = replica(unique_name("rep"), fresh=True)
    except ServerStartError as exc:
        pytest.skip(f"no streaming replica on this machine: {exc}")
    try:
        yield made
    finally:
        made.close()
        made.primary.drop()


def test_the_standby_streams_writes_and_refuses_its_own(rep: Replica) -> None:
    with rep.primary.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE notes (id int PRIMARY KEY, body text)"))
        conn.execute(sa.text("INSERT INTO notes VALUES (1, 'streamed')"))
    rep.wait_caught_up()
    assert rep.lag().bytes == 0
    assert rep.database is not None
    with rep.database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT body FROM notes")).scalar_one() == "streamed"
        with pytest.raises(sa.exc.InternalError, match="read-only"):
            conn.execute(sa.text("INSERT INTO notes VALUES (2, 'no')"))


def test_a_delayed_standby_trails_by_bytes_and_seconds_then_catches_up(rep: Replica) -> None:
    with rep.primary.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS ticks (n int)"))
    rep.wait_caught_up()
    rep.delay_replay(1.0)
    try:
        with rep.primary.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO ticks SELECT generate_series(1, 1000)"))
        time.sleep(0.3)
        lag = rep.lag()
        assert lag.bytes > 0 and lag.seconds > 0.2, lag
        assert rep.wait_caught_up() > 0.2  # the held-back commit, applied after the delay
    finally:
        rep.delay_replay(0)
    assert rep.lag().bytes == 0
    with pytest.raises(BadArgument):
        rep.delay_replay(-1)


def test_watch_samples_the_lag_during_and_after_work(rep: Replica) -> None:
    rep.delay_replay(0.3)
    try:
        with rep.primary.engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS pad (body text)"))

        def writes() -> None:
            for _ in range(3):
                with rep.primary.engine.begin() as conn:
                    conn.execute(
                        sa.text(
                            "INSERT INTO pad SELECT repeat('x', 100) FROM generate_series(1, 2000)"
                        )
                    )
                time.sleep(0.1)

        samples = rep.watch(writes, every=0.05, after=2.0)
    finally:
        rep.delay_replay(0)
    assert set(samples.phase) == {"during", "after"}
    assert samples[samples.phase == "during"].lag_bytes.max() > 0
    # Caught up once the writes stopped (a later sample may see the server's own next record).
    assert samples[samples.phase == "after"].lag_bytes.min() == 0


def test_without_pg_basebackup_it_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LABKIT_POSTGRES_REPLICA_URL", raising=False)
    monkeypatch.setattr("labkit.databases._replica.bin_dir", lambda: tmp_path)  # no binaries
    name = unique_name("nobackup")
    try:
        with pytest.raises(ServerStartError) as caught:
            replica(name)
        assert "pg_basebackup" in str(caught.value) and "\n" not in str(caught.value)
        assert "LABKIT_POSTGRES_REPLICA_URL" in str(caught.value)
    finally:
        with monkeypatch.context() as patch:
            patch.delenv("LABKIT_POSTGRES_URL", raising=False)
            database("postgres", name=name).drop()


@contextmanager
def _owner() -> Iterator[dict[str, Any]]:
    """A process of its own labkit home holding a replica; its pids and the standby's folder."""
    home = Path(tempfile.mkdtemp(prefix="labkit-replica-"))
    env = {**os.environ, "LABKIT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("LABKIT_POSTGRES_REPLICA_URL", None)
    argv = [sys.executable, "-c", OWNER]
    owner = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
    )
    servers: list[int] = []
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        if not line:
            pytest.skip("no streaming replica on this machine (the owner process said why)")
        started: dict[str, Any] = json.loads(line)
        servers = started["replica"] + started["primary"]
        assert alive(servers) == servers
        yield {**started, "process": owner}
    finally:
        owner.kill()
        owner.wait()
        _wait_gone(servers)  # their keepers stop them once the owner is gone
        shutil.rmtree(home, ignore_errors=True)


def test_a_standby_and_its_primary_die_with_their_owner_even_on_sigkill() -> None:
    with _owner() as started:
        started["process"].send_signal(signal.SIGKILL)
        assert _wait_gone(started["replica"] + started["primary"], folder=started["dir"]) == []
        assert not Path(started["dir"]).exists()  # the copy went with it


def test_a_standby_stops_with_its_primary() -> None:
    with _owner() as started:
        psutil.Process(started["primary"][0]).send_signal(signal.SIGTERM)  # the primary's keeper
        assert _wait_gone(started["replica"], folder=started["dir"]) == []
        assert not Path(started["dir"]).exists()
        assert started["process"].poll() is None  # its owner still runs


def _wait_gone(pids: list[int], *, folder: str | None = None, seconds: float = 20.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (alive(pids) or (folder and Path(folder).exists())):
        time.sleep(0.2)
    return alive(pids)
