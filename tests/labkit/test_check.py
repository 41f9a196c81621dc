"""`lk.check`: results say why, hints grow with failed tries, progress is kept, names resolve."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.check import check
from labkit.errors import LabkitError

BAD_COUPONS = "CREATE TABLE coupons (code TEXT, percent_off INT, max_uses INT, expires_at TEXT)"
GOOD_COUPONS = (
    "CREATE TABLE coupons (code TEXT NOT NULL UNIQUE, "
    "percent_off INT NOT NULL CHECK (percent_off BETWEEN 1 AND 90), "
    "max_uses INT NOT NULL CHECK (max_uses > 0), expires_at TEXT NOT NULL)"
)


@pytest.fixture(autouse=True)
def own_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_JOURNAL", str(tmp_path / "journal.duckdb"))


def test_a_failing_answer_says_which_rows_got_in_and_earns_one_hint_per_try() -> None:
    first = check("02.1", BAD_COUPONS)
    second = check.coupons_table(BAD_COUPONS)
    assert not first and not second
    assert "accepted 6 bad row(s)" in first.reason
    assert (len(first.hints), len(second.hints)) == (1, 2)
    assert second.attempt == 2


def test_a_passing_answer_is_kept_as_progress() -> None:
    assert check("02.1", GOOD_COUPONS)
    table = check.progress().set_index("task")
    assert table.loc["02.1", "status"] == "passed"
    assert table.loc["02.2", "status"] == "not started"


def test_ddl_that_does_not_run_fails_with_the_database_message() -> None:
    result = check("02.2", "CREATE TABLE payments (")
    assert not result and result.reason.startswith("SQLite refused the DDL")


def test_an_unknown_task_is_a_labkit_error_naming_the_tasks() -> None:
    with pytest.raises(LabkitError, match=r"02\.1"):
        check("99.9", "x")
    with pytest.raises(AttributeError):
        check.no_such_task  # noqa: B018


def test_no_hint_gives_a_task_answer_away() -> None:
    for task in check.tasks():
        for hint in task.hints:
            assert "CREATE TABLE" not in hint and "CREATE INDEX" not in hint, (task.id, hint)
