"""The `labkit` command: each subcommand works, and bad input ends in one line and exit code 2."""

from __future__ import annotations

import importlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from labkit import _process

LABKIT = [sys.executable, "-m", "labkit.cli"]


def _labkit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LABKIT, *args], capture_output=True, text=True, timeout=timeout)


def test_doctor_prints_a_table_and_exits_zero_when_ready() -> None:
    result = _labkit("doctor")
    assert result.returncode == 0, result.stdout
    assert "labkit doctor: ready" in result.stdout
    for check in ("Python", "packages", "embedded PostgreSQL", "DuckDB", "JupyterLab"):
        assert check in result.stdout


def test_doctor_exits_one_with_a_fix_when_a_required_server_is_unreachable() -> None:
    env = {**os.environ, "LABKIT_POSTGRES_URL": "postgresql://postgres@127.0.0.1:1/none"}
    result = subprocess.run(
        [*LABKIT, "doctor"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    assert "fix:" in result.stdout


def test_doctor_room_starts_postgres_and_checks_ports_and_disk() -> None:
    result = _labkit("doctor", "--room")
    assert result.returncode == 0, result.stdout
    for check in ("PostgreSQL starts", "port range", "disk", "wheelhouse"):
        assert check in result.stdout


def test_doctor_room_names_the_fix_when_the_disk_is_too_small(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doctor_module = importlib.import_module("labkit.doctor")  # lk.doctor is the function
    monkeypatch.setattr(doctor_module, "ROOM_DISK_GIB", 10.0**9)
    report = doctor_module.doctor(room=True)
    disk = next(c for c in report.checks if c.name == "disk")
    assert not disk.ok and "LABKIT_HOME" in disk.fix and not report.ok


def test_seed_fills_a_database_and_reports_rows_per_second(tmp_path: Path) -> None:
    result = _labkit("seed", "--db", f"sqlite:///{tmp_path / 'shop.db'}", "--scale", "300")
    assert result.returncode == 0, result.stderr
    assert re.search(r"rows? per second|rows/s", result.stdout)
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (300,)


@pytest.mark.parametrize(
    "args",
    [
        ("seed", "--db", "mysql://root@localhost/shop"),
        ("seed", "--scale", "0"),
        ("serve", "--db", "oracle://x"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_code_two(args: tuple[str, ...]) -> None:
    result = _labkit(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_serve_runs_the_shop_in_the_foreground_until_interrupted(tmp_path: Path) -> None:
    port = _process.free_port()
    db = f"sqlite:///{tmp_path / 'shop.db'}"
    proc = _process.spawn(
        [*LABKIT, "serve", "--db", db, "--port", str(port), "--scale", "50"],
        log_path=tmp_path / "log",
    )
    try:
        response = _poll(f"http://127.0.0.1:{port}/health/ready", proc)
        assert response.status_code == 200
        assert "JWT secret random for this run" in (tmp_path / "log").read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        _process.stop(proc)


def test_serve_refuses_a_busy_port() -> None:
    with _listening() as port:
        result = _labkit("serve", "--port", str(port))
    assert result.returncode == 2
    assert "in use" in result.stderr


def test_lab_prints_the_url_with_its_token(tmp_path: Path) -> None:
    port = _process.free_port()
    log = tmp_path / "lab.log"
    proc = _process.spawn([*LABKIT, "lab", "--no-browser", "--port", str(port)], log_path=log)
    try:
        deadline = time.monotonic() + 90
        while "token=" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.3)
        assert re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=\w+", log.read_text())
    finally:
        _process.stop(proc)


def _poll(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "labkit serve exited early"
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answered at {url}")


class _listening:
    """A loopback port held open for the duration of a `with` block."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_load_refuses_settings_for_a_service_it_does_not_start() -> None:
    result = _labkit("load", "http://127.0.0.1:9", "--set", "latency_ms=20")
    assert result.returncode == 2
    assert "--set" in result.stderr and "Traceback" not in result.stderr


def test_debug_shows_the_traceback_instead_of_one_line() -> None:
    plain = _labkit("seed", "--db", "nosuchkind")
    debug = _labkit("--debug", "seed", "--db", "nosuchkind")

    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.count("\n") == 1 and "DatabaseSpecError" not in plain.stderr
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert "DatabaseSpecError" in debug.stderr
