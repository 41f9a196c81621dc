"""Run Locust headless in a child process, watch it, and read what it wrote.

Locust is never imported here: it monkey-patches the interpreter with gevent, which hangs a
Jupyter kernel. It runs as a child that dies with its parent, stopped in `finally` on any error
or interrupt.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from labkit._process import spawn, stop
from labkit._types import ServiceTarget
from labkit.errors import LoadError
from labkit.load._monitor import CpuMonitor, Progress, Tick, pick_progress
from labkit.load._parse import AGGREGATED, last_aggregate, read_failures, read_history, read_stats
from labkit.load._result import LoadRun

SCENARIO_DIR = Path(__file__).parent / "scenarios"
SCENARIOS = ("catalog", "orders", "reviews", "shop_day")
_BOOT = Path(__file__).parent / "_locust_boot.py"
# Locust needs about a second to import and start; a run that has not ended this long after its
# duration is stuck (a locustfile that blocks in on_start, say).
_GRACE_S = 30.0
_POLL_S = 0.25
_LOG_TAIL = 12


@dataclass(frozen=True)
class Target:
    """Where the load goes, and what is known about the service behind it."""

    url: str
    settings: dict[str, Any]
    service_pid: int | None


def run(
    target: ServiceTarget,
    scenario: str | os.PathLike[str] = "catalog",
    users: int = 10,
    spawn_rate: float | None = None,
    duration: float = 10,
    processes: int = 1,
    *,
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    progress: bool | Progress = True,
    record: bool = True,
    label: str | None = None,
) -> LoadRun:
    """Load `target` with a Locust scenario for `duration` seconds and return the measured `LoadRun`.

    Taught in 09_load_testing.

    Args:
        target: a URL, or a running `LiveService` (its settings and process are then known).
        scenario: "catalog", "orders", "shop_day", or the path of your own locustfile.
        users: concurrent simulated users; spawn_rate: users started per second (default: all
            within one second).
        duration: seconds of load after start-up.
        processes: Locust processes (`--processes`); each uses one core at most, and
            `labkit bench ceiling --generator locust` measures what one drives on this machine.
        settings: the service settings to record, when `target` is a plain URL.
        env: extra environment for the locustfile (e.g. credentials).
        progress: show a progress bar in a notebook, or a callable that receives each `Tick`.
        record: append the run to the journal (`lk.journal.runs()`).
        label: free text kept in the journal.

    Example: `run = lk.load.run(svc, "catalog", users=20, duration=10); run.plot()`
    """
    where = resolve_target(target, settings)
    locustfile, name = resolve_scenario(scenario)
    _check_arguments(users, duration, processes)
    _check_reachable(where.url)
    rate = float(spawn_rate) if spawn_rate else float(users)
    started_at = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="labkit-load-") as tmp:
        out = Path(tmp)
        argv = _locust_argv(locustfile, where.url, users, rate, duration, processes, out)
        monitor = CpuMonitor(service_pid=where.service_pid)
        returncode = _supervise(
            argv, out, duration, env, monitor, pick_progress(progress, duration)
        )
        log = (out / "locust.log").read_text(errors="replace")
        report = out / "report.json"
        if returncode != 0 or not report.exists():
            raise LoadError(
                f"Locust exited with code {returncode} running {name} against {where.url}: "
                f"{_tail(log)}. Check the locustfile with `locust -f {locustfile} --list`."
            )
        stats = read_stats(report)
        failures = read_failures(out / "results_failures.csv")
        history = read_history(out / "results_stats_history.csv")
    _raise_if_unreachable(stats, failures, where.url)
    result = LoadRun(
        target=where.url,
        scenario=name,
        users=users,
        spawn_rate=rate,
        duration_s=float(duration),
        processes=processes,
        started_at=started_at,
        stats=stats,
        history=history,
        failures=failures,
        cpu=monitor.usage(),
        settings=where.settings,
        warnings=tuple(_warnings(log)),
    )
    if not record:
        return result
    params = {"users": users, "spawn_rate": rate, "duration_s": duration, "processes": processes}
    run_id, warning = journal_or_warn(
        "load",
        result.metrics(),
        label=label,
        target=where.url,
        scenario=name,
        params={**params, "locustfile": str(locustfile)},
        settings=where.settings,
    )
    if warning is not None:
        return replace(result, warnings=(*result.warnings, warning))
    return replace(result, journal_id=run_id)


def journal_or_warn(
    kind: str, metrics: Mapping[str, Any], **context: Any
) -> tuple[int | None, str | None]:
    """Record in the journal; a journal that cannot be written costs a warning, not the measurement."""
    from labkit import journal

    try:
        return journal.record(kind, metrics, **context), None
    except journal.JournalError as exc:
        return None, f"not journaled: {exc}"


def resolve_target(target: ServiceTarget, settings: Mapping[str, Any] | None = None) -> Target:
    """Turn a URL or a running service into a `Target`."""
    url = target if isinstance(target, str) else getattr(target, "url", None)
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise LoadError(
            f"cannot load {target!r}: expected an http(s) URL or a running LiveService; "
            "pass e.g. 'http://127.0.0.1:8000' or the `svc` of `with lk.LiveService() as svc:`."
        )
    known = dict(getattr(target, "settings", None) or {})
    known.update(settings or {})
    pid = getattr(target, "pid", None)
    return Target(url=url.rstrip("/"), settings=known, service_pid=pid or _listener_pid(url))


def resolve_scenario(scenario: str | os.PathLike[str]) -> tuple[Path, str]:
    """Return the locustfile and a short name for a shipped scenario name or a path."""
    if str(scenario) in SCENARIOS:
        return SCENARIO_DIR / f"{scenario}.py", str(scenario)
    path = Path(scenario).expanduser()
    if path.is_file():
        return path.resolve(), path.stem
    raise LoadError(
        f"unknown scenario {str(scenario)!r}: it is neither a shipped scenario "
        f"({', '.join(SCENARIOS)}) nor an existing locustfile; pick one of those or pass a path."
    )


def _check_arguments(users: int, duration: float, processes: int) -> None:
    """Refuse values Locust would reject late or that cannot mean anything."""
    if users < 1 or duration <= 0 or processes < 1:
        raise LoadError(
            f"users={users}, duration={duration}, processes={processes}: each must be at least 1 "
            "(duration in seconds above 0)."
        )


def _check_reachable(url: str) -> None:
    """Fail fast, before starting Locust, when nothing answers at `url`."""
    try:
        httpx.get(url, timeout=3.0)
    except httpx.TransportError as exc:
        raise LoadError(
            f"nothing answered at {url} ({type(exc).__name__}: {exc}); start the service first "
            "(`with lk.LiveService() as svc:`) or check the URL."
        ) from None


def _locust_argv(
    locustfile: Path, url: str, users: int, rate: float, duration: float, processes: int, out: Path
) -> list[str]:
    """Build the headless Locust command line: CSV history plus the JSON report, no web UI."""
    argv = [
        sys.executable,
        str(_BOOT),
        "-f",
        str(locustfile),
        "--headless",
        "--host",
        url,
        "--users",
        str(users),
        "--spawn-rate",
        str(rate),
        "--run-time",
        f"{max(1, round(duration))}s",
        "--csv",
        str(out / "results"),
        "--csv-full-history",
        "--json-file",
        str(out / "report"),
        "--only-summary",
        "--exit-code-on-error",
        "0",
    ]
    if processes > 1:
        argv += ["--processes", str(processes)]
    return argv


def _supervise(
    argv: list[str],
    out: Path,
    duration: float,
    env: Mapping[str, str] | None,
    monitor: CpuMonitor,
    progress: Progress | None,
) -> int:
    """Run Locust to completion while sampling CPU and reporting progress; always stop it."""
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", **_seeded_customer(), **(env or {})}
    proc = spawn(argv, log_path=out / "locust.log", env=child_env, death_signal=signal.SIGKILL)
    history = out / "results_stats_history.csv"
    begun = time.monotonic()
    load_began = 0.0  # when Locust's first stats line appeared: the load's own clock
    try:
        monitor.attach(proc.pid)
        while proc.poll() is None:
            elapsed = time.monotonic() - begun
            if elapsed > duration + _GRACE_S:
                raise LoadError(
                    f"Locust was still running {elapsed:.0f} s after a {duration:.0f} s run and "
                    f"was stopped: {_tail((out / 'locust.log').read_text(errors='replace'))}. "
                    "Look for a locustfile that blocks (e.g. in on_start)."
                )
            latest = last_aggregate(history)
            monitor.sample(load_started=latest is not None)
            if latest is not None:
                load_began = load_began or time.monotonic()
                if progress is not None:
                    loaded = time.monotonic() - load_began
                    progress(Tick(elapsed=loaded, duration=duration, **latest))
            time.sleep(_POLL_S)
        if progress is not None:
            progress(None)
        return proc.returncode
    finally:
        stop(proc, grace=2.0)


def _raise_if_unreachable(stats: Any, failures: Any, url: str) -> None:
    """Raise when every request failed to connect: a run against nothing is not a measurement."""
    total = stats.loc[AGGREGATED] if AGGREGATED in stats.index else None
    if total is None or total["requests"] == 0:
        raise LoadError(
            f"the run sent no requests to {url}: either the run ended before its users started "
            "(give it a few seconds more) or the scenario's tasks never ran (check its on_start "
            "and its @task methods)."
        )
    connect_errors = failures["error"].str.contains("Connection|Refused|resolve", case=False)
    if total["failures"] == total["requests"] and connect_errors.all() and len(failures):
        raise LoadError(
            f"every request to {url} failed to connect; Locust says: {failures['error'].iloc[0]}. "
            "Is the service still running?"
        )


def _tail(log: str) -> str:
    """The last meaningful lines of Locust's log, joined on one line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    picked = errors[-3:] if errors else lines[-_LOG_TAIL:]
    return " | ".join(picked) or "(Locust wrote nothing)"


def _warnings(log: str) -> list[str]:
    """Locust's own warnings (CPU above 90 %, a user class that failed) worth showing with the run."""
    return [line.split(": ", 1)[-1] for line in log.splitlines() if "/WARNING/" in line]


def _listener_pid(url: str) -> int | None:
    """Find the process listening on the URL's loopback port, to measure the service's CPU."""
    import psutil

    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return int(conn.pid) if conn.pid is not None else None
    return None


def _seeded_customer() -> dict[str, str]:
    """The shop scenarios' default account: the seed's first customer, read from the seed."""
    from sample_service.seed import KNOWN_ACCOUNTS, KNOWN_PASSWORD

    email = next(email for email, _name, role in KNOWN_ACCOUNTS if role == "customer")
    return {"LABKIT_LOAD_EMAIL": email, "LABKIT_LOAD_PASSWORD": KNOWN_PASSWORD}
