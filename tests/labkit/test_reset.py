"""`labkit reset`: stops this labkit folder's processes, removes its data files, and is idempotent."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from labkit.cli import main
from labkit.databases import database
from labkit.reset import reset
from labkit.service import LiveService


@pytest.fixture
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A labkit folder of the test's own, so reset touches no other test's processes."""
    home = tmp_path / "labkit"
    monkeypatch.setenv("LABKIT_HOME", str(home))
    monkeypatch.delenv("LABKIT_POSTGRES_URL", raising=False)
    monkeypatch.delenv("LABKIT_JOURNAL", raising=False)
    return home


def test_reset_stops_the_service_and_removes_files_then_has_nothing_to_do(own_home: Path) -> None:
    scratch = database("sqlite", name="scratch")
    with scratch.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    scratch.dispose()
    (own_home / "journal.duckdb").write_bytes(b"kept")
    service = LiveService(scale=20).start()
    pid = service.pid
    try:
        report = reset()
        assert pid is not None and not psutil.pid_exists(pid)
        assert any(f"pid {pid}" in line for line in report.stopped)
        assert any(name.endswith("scratch.db") for name in report.removed)
        assert (own_home / "journal.duckdb").exists()  # kept unless asked
        assert str(reset()) == "labkit reset: nothing to do; the lab is clean"
    finally:
        service.close()


def test_the_journal_goes_only_when_asked(
    own_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own_home.mkdir(parents=True)
    (own_home / "journal.duckdb").write_bytes(b"x")
    assert main(["reset"]) == 0
    assert (own_home / "journal.duckdb").exists()
    assert main(["reset", "--journal"]) == 0
    assert not (own_home / "journal.duckdb").exists()
    assert "removed 1 file(s)" in capsys.readouterr().out
