"""`labkit reset`: back to a clean lab when a laptop gets into a state nobody can explain.

Stops the lab processes this user started under this labkit folder (services, workers, Locust,
the payments provider, the embedded PostgreSQL's keeper), drops the PostgreSQL databases
labkit's services created (those whose process is gone, which after the stop is all of them),
and removes the SQLite and DuckDB files in the labkit folder; the journal too when asked.
JupyterLab and its kernels are left alone. Running it twice changes nothing the second time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from labkit._paths import labkit_home

__all__ = ["ResetReport", "reset"]

# What labkit starts: matched against each process's command line.
LAB_PROCESSES = (
    "sample_service.main:create_app",
    "sample_service.worker",
    "sample_service.payments",
    "labkit.databases._keeper",
    "locust",
)
_DATA_SUFFIXES = (".db", ".duckdb", ".db-wal", ".db-shm", ".db-journal", ".duckdb.wal")
_GRACE_S = 5.0


@dataclass
class ResetReport:
    """What `reset` stopped, dropped and removed."""

    stopped: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if not (self.stopped or self.dropped or self.removed):
            return "labkit reset: nothing to do; the lab is clean"
        return (
            f"labkit reset: stopped {len(self.stopped)} process(es), dropped "
            f"{len(self.dropped)} database(s), removed {len(self.removed)} file(s)"
        )


def reset(*, journal: bool = False) -> ResetReport:
    """Stop labkit's processes, drop the databases its services made, remove its data files.

    Taught in exercises/TRAINERS.md (`labkit reset`); see 00_welcome for what the lab starts.
    """
    report = ResetReport(stopped=_stop_lab_processes())
    report.dropped = _drop_service_databases()
    report.removed = _remove_data_files(keep_journal=not journal)
    return report


def _ours(process: psutil.Process, home: Path) -> bool:
    """A lab process of this user, started under this labkit folder (its environment says)."""
    try:
        if process.pid == os.getpid() or process.uids().real != os.getuid():
            return False
        command = " ".join(process.cmdline())
        if not any(pattern in command for pattern in LAB_PROCESSES):
            return False
        started_home = process.environ().get("LABKIT_HOME")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return started_home is None or Path(started_home) == home


def _stop_lab_processes() -> list[str]:
    home = labkit_home()
    found = [p for p in psutil.process_iter() if _ours(p, home)]
    names = [f"{' '.join(p.cmdline()[:3])} (pid {p.pid})" for p in found]
    for process in found:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            continue
    _gone, alive = psutil.wait_procs(found, timeout=_GRACE_S)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    return names


def _drop_service_databases() -> list[str]:
    """Service databases on the embedded server (when it was ever set up) or the configured one."""
    from labkit._paths import postgres_home
    from labkit.service import reclaim_service_databases

    configured = bool(os.environ.get("LABKIT_POSTGRES_URL"))
    if not configured and not any(postgres_home().iterdir()):
        return []  # PostgreSQL was never used here: nothing to drop, nothing to start
    return reclaim_service_databases()


def _remove_data_files(*, keep_journal: bool) -> list[str]:
    journal = labkit_home() / "journal.duckdb"
    removed = []
    for path in sorted(labkit_home().rglob("*")):
        if not path.is_file() or not path.name.endswith(_DATA_SUFFIXES):
            continue
        if keep_journal and path.name.startswith(journal.name):
            continue
        if "postgres" in path.relative_to(labkit_home()).parts:
            continue  # the embedded server's own files: its databases were dropped above
        path.unlink(missing_ok=True)
        removed.append(str(path))
    return removed
