"""The journal keeps every run with what produced it, and gives it back as a DataFrame and to SQL."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import journal


@pytest.fixture(autouse=True)
def own_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "sub" / "journal.duckdb"
    monkeypatch.setenv("LABKIT_JOURNAL", str(path))
    return path


def test_a_recorded_run_round_trips_with_its_context(own_journal: Path) -> None:
    run_id = journal.record(
        "load",
        {"rps": 812.5, "p95_ms": 14.0, "error_rate": 0.0, "users": 10, "cpu_note": "ok"},
        label="baseline",
        target="http://127.0.0.1:8000",
        scenario="catalog",
        params={"users": 10, "duration_s": 5},
        settings={"rate_limit_enabled": False, "n_plus_one": True, "latency_ms": 0},
    )

    rows = journal.runs()
    assert journal.path() == own_journal and own_journal.exists()
    assert rows["id"].tolist() == [run_id]
    row = rows.iloc[0]
    assert (row["kind"], row["label"], row["scenario"]) == ("load", "baseline", "catalog")
    assert row["rps"] == 812.5 and row["users"] == 10
    assert journal.query("SELECT metrics->>'$.cpu_note' AS note FROM runs")["note"][0] == "ok"
    switches = journal.query("SELECT switches FROM runs")["switches"][0]
    assert '"n_plus_one": true' in switches and "rate_limit_enabled" not in switches


def test_every_switch_of_the_service_schema_is_kept_apart_and_nothing_else() -> None:
    import json

    from sample_service.schemas.lab import LabSwitches

    switches = LabSwitches().model_dump()
    journal.record("load", {"rps": 1.0}, settings={**switches, "rate_limit_enabled": False})

    kept = json.loads(journal.query("SELECT switches FROM runs")["switches"][0])
    assert kept == switches


def test_runs_are_stamped_with_the_git_commit() -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()

    journal.record("bench", {"rps": 1.0})

    assert journal.runs()["git_commit"][0] == head


def test_runs_filter_by_kind_and_keep_the_newest() -> None:
    ids = [journal.record("load", {"rps": float(i)}) for i in range(4)]
    journal.record("bench", {"rps": 99.0})

    assert journal.runs("load")["id"].tolist() == ids
    assert journal.runs("load", last=2)["rps"].tolist() == [2.0, 3.0]
    assert len(journal.runs()) == 5


def test_missing_numbers_are_stored_as_null() -> None:
    journal.record("load", {"rps": math.nan, "p95_ms": "fast"})

    row = journal.query("SELECT rps IS NULL AS a, p95_ms IS NULL AS b FROM runs")
    assert bool(row["a"][0]) and bool(row["b"][0])


def test_a_bad_query_names_the_table_and_its_columns() -> None:
    with pytest.raises(journal.JournalError, match="columns id, recorded_at"):
        journal.query("SELECT nope FROM runs")


def test_a_journal_locked_by_another_process_gives_a_clear_error(
    own_journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "_LOCK_WAIT_S", 0.5)
    journal.record("load", {"rps": 1.0})
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(own_journal)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(journal.JournalError, match="locked"):
            journal.record("load", {"rps": 2.0})
    finally:
        holder.kill()
        holder.wait()


HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""
