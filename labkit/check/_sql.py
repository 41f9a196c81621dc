"""A scratch SQLite database for checks that run a learner's DDL and probe it with rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager

from labkit.check._registry import Failed


@contextmanager
def scratch(ddl: str, *, setup: str = "") -> Iterator[sqlite3.Connection]:
    """An in-memory SQLite with foreign keys on, `setup` then the learner's `ddl` applied."""
    if not isinstance(ddl, str) or not ddl.strip():
        raise Failed("the answer is empty: write the SQL as a string")
    with closing(sqlite3.connect(":memory:")) as con:
        con.execute("PRAGMA foreign_keys = ON")
        if setup:
            con.executescript(setup)
        try:
            con.executescript(ddl)
        except sqlite3.Error as exc:
            raise Failed(f"SQLite refused the DDL: {exc}") from None
        yield con


def accepts(con: sqlite3.Connection, sql: str, params: dict[str, object]) -> bool:
    """True when the row goes in; the row is rolled back either way."""
    try:
        con.execute("SAVEPOINT probe")
        con.execute(sql, params)
    except sqlite3.IntegrityError:
        return False
    except sqlite3.Error as exc:
        raise Failed(
            f"inserting a row failed for another reason than a constraint: {exc}"
        ) from None
    finally:
        con.execute("ROLLBACK TO probe")
        con.execute("RELEASE probe")
    return True


def columns(con: sqlite3.Connection, table: str) -> dict[str, str]:
    """The table's columns and their declared types, or Failed when it does not exist."""
    found = {
        str(row[1]).lower(): str(row[2]).upper()
        for row in con.execute(f"PRAGMA table_info({table})")
    }
    if not found:
        raise Failed(f"the DDL creates no table named {table}")
    return found


def probe_rows(
    con: sqlite3.Connection,
    insert: str,
    good: dict[str, object],
    bad: dict[str, dict[str, object]],
    *,
    good_label: str,
) -> None:
    """The good row must go in (and stays, so duplicates can clash); each bad one, which
    differs from it in one field, must be refused by a constraint."""
    if not accepts(con, insert, good):
        raise Failed(f"a valid row ({good_label}) was refused")
    con.execute(insert, good)
    let_in = [what for what, change in bad.items() if accepts(con, insert, {**good, **change})]
    if let_in:
        raise Failed(f"the table accepted {len(let_in)} bad row(s): {'; '.join(let_in)}")
