"""`lk.doctor()` / `labkit doctor`: what is ready on this machine, with a one-line fix for each problem."""

from __future__ import annotations

import html
import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from labkit import _process

__all__ = ["Check", "DoctorReport", "doctor"]

REQUIRED_PACKAGES = (
    "fastapi", "uvicorn", "sqlalchemy", "alembic", "httpx", "duckdb", "pandas",
    "jupyterlab", "locust", "mermaid-py", "pgserver", "psycopg", "schemathesis",
)  # fmt: skip


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it is ready, and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        """ "ok", "missing" (required) or "optional"."""
        if self.ok:
            return "ok"
        return "missing" if self.required else "optional"


@dataclass(frozen=True)
class DoctorReport:
    """All checks; `ok` is False when something required is missing."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """True when every required check passed."""
        return all(check.ok or not check.required for check in self.checks)

    def text(self) -> str:
        """Render the report as an aligned plain-text table."""
        width = max(len(check.name) for check in self.checks)
        lines = []
        for check in self.checks:
            line = f"{check.status:>8}  {check.name:<{width}}  {check.detail}"
            if check.fix and not check.ok:
                line += f"\n{'':>8}  {'':<{width}}  fix: {check.fix}"
            lines.append(line)
        verdict = "ready" if self.ok else "not ready: fix the lines marked missing"
        return "\n".join([*lines, "", f"labkit doctor: {verdict}"])

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        colours = {"ok": "#2e7d32", "missing": "#c62828", "optional": "#9e9e9e"}
        rows = "".join(
            f"<tr><td style='color:{colours[c.status]}'><b>{c.status}</b></td>"
            f"<td>{html.escape(c.name)}</td><td>{html.escape(c.detail)}</td>"
            f"<td>{html.escape(c.fix if not c.ok else '')}</td></tr>"
            for c in self.checks
        )
        head = "<tr><th>status</th><th>check</th><th>found</th><th>fix</th></tr>"
        return f"<table>{head}{rows}</table>"


def doctor() -> DoctorReport:
    """Check Python, packages, databases, optional servers, ports and JupyterLab.

    Taught in 00_welcome.

    Example: `assert lk.doctor().ok`
    """
    checks: list[Callable[[], Check]] = [
        _python, _packages, _sqlite, _duckdb, _embedded_postgres, _postgres_url, _redis_url,
        _ports, _jupyterlab,
    ]  # fmt: skip
    return DoctorReport(tuple(_guarded(check) for check in checks))


def _guarded(check: Callable[[], Check]) -> Check:
    """Run one check; a check that crashes is reported as missing, never as a traceback."""
    try:
        return check()
    except Exception as exc:  # a broken environment must still give a report
        name = check.__name__.strip("_").replace("_", " ")
        return Check(name, False, f"{type(exc).__name__}: {exc}", "run `make setup` again")


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 11)
    return Check("Python", ok, f"{version} at {sys.executable}", "install Python 3.11 or newer")


def _packages() -> Check:
    missing, found = [], []
    for name in REQUIRED_PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return Check("packages", False, "missing: " + ", ".join(missing), "run `make setup`")
    return Check("packages", True, f"{len(found)} found ({', '.join(found[:3])}, …)")


def _sqlite() -> Check:
    import sqlite3

    return Check("SQLite", True, f"{sqlite3.sqlite_version} (built in)")


def _duckdb() -> Check:
    import duckdb

    with duckdb.connect() as conn:
        answer = conn.execute("SELECT 42").fetchone()
    return Check(
        "DuckDB", answer == (42,), f"{duckdb.__version__} (in process)", "run `make setup`"
    )


def _embedded_postgres() -> Check:
    from labkit.databases import postgres_bin_dir

    postgres = postgres_bin_dir() / "postgres"
    result = subprocess.run(
        [str(postgres), "--version"], capture_output=True, text=True, timeout=10
    )
    ok = result.returncode == 0
    required = "LABKIT_POSTGRES_URL" not in os.environ
    detail = result.stdout.strip() or result.stderr.strip()
    fix = "run `make setup`, or set LABKIT_POSTGRES_URL to a server you run"
    return Check("embedded PostgreSQL", ok, detail, fix, required=required)


def _postgres_url() -> Check:
    url = os.environ.get("LABKIT_POSTGRES_URL")
    if not url:
        return Check(
            "LABKIT_POSTGRES_URL", False, "not set: the embedded server is used", required=False
        )
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    try:
        conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            version = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0]
        fix = "start that server, correct the URL, or unset it to use the embedded server"
        return Check("LABKIT_POSTGRES_URL", False, f"cannot connect: {reason}", fix)
    shown = parsed.render_as_string(hide_password=True)
    return Check(
        "LABKIT_POSTGRES_URL", True, f"{shown} (PostgreSQL {version[0] if version else '?'})"
    )


def _redis_url() -> Check:
    url = os.environ.get("REDIS_URL")
    if not url:
        return Check(
            "REDIS_URL", False, "not set: limits and caches stay in memory", required=False
        )
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        fix = "start Redis, correct REDIS_URL, or unset it to keep limits in memory"
        return Check("REDIS_URL", False, f"cannot connect: {exc}", fix)
    return Check("REDIS_URL", True, f"{url} answers PING")


def _ports() -> Check:
    port = _process.free_port()
    busy = [str(p) for p in (8000, 8888) if not _process.port_is_free(p)]
    detail = f"loopback ports can be bound (e.g. {port})"
    if busy:
        detail += f"; {', '.join(busy)} in use (labkit picks free ports itself)"
    return Check("free ports", True, detail)


def _jupyterlab() -> Check:
    version = importlib.metadata.version("jupyterlab")
    jupyter = shutil.which("jupyter", path=os.path.dirname(sys.executable)) or shutil.which(
        "jupyter"
    )
    ok = jupyter is not None
    return Check(
        "JupyterLab", ok, f"{version} ({jupyter or 'no jupyter command'})", "run `make setup`"
    )
