"""Module 14 (design review): a schema the review passes, and a workload it has no index to add to.

Both run the real review (`lk.review`) on synthetic rows in a scratch SQLite database; what
decides a task is the lint and the query plans, never a timing.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from labkit.check._registry import Failed, task
from labkit.errors import LabkitError
from labkit.review import Report, load_schema, review

LIBRARY = """
CREATE TABLE members (
    id BIGINT PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE, name VARCHAR(120) NOT NULL
);
CREATE TABLE books (
    id BIGINT PRIMARY KEY, isbn VARCHAR(13) NOT NULL UNIQUE, title VARCHAR(200) NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0)
);
CREATE TABLE loans (
    id BIGINT PRIMARY KEY,
    book_id BIGINT NOT NULL REFERENCES books (id),
    member_id BIGINT NOT NULL REFERENCES members (id),
    borrowed_at TIMESTAMPTZ NOT NULL,
    due_on DATE NOT NULL,
    returned_at TIMESTAMPTZ
);
CREATE INDEX ix_loans_book_id ON loans (book_id);
CREATE INDEX ix_loans_member_id ON loans (member_id);
"""
WORKLOAD = [
    {
        "name": "member_loans",
        "sql": "SELECT id, book_id, due_on FROM loans WHERE member_id = :m AND returned_at IS NULL",
        "params": {"m": 5},
        "frequency": 50,
    },
    {
        "name": "overdue",
        "sql": "SELECT id, member_id FROM loans WHERE due_on < :today AND returned_at IS NULL "
        "ORDER BY due_on LIMIT 100",
        "params": {"today": "2024-02-01"},
        "frequency": 5,
    },
    {
        "name": "book_by_isbn",
        "sql": "SELECT id, title FROM books WHERE isbn = :isbn",
        "params": {"isbn": "9780000000001"},
        "frequency": 30,
    },
]
_COLUMNS = {
    "members": {"email", "name"},
    "books": {"isbn", "title"},
    "loans": {"book_id", "member_id", "borrowed_at", "due_on", "returned_at"},
}
_SCALE = {"members": 1_000, "books": 1_000, "loans": 20_000}
_CREATE_INDEX = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\b", re.I)


def _reviewed(**inputs: Any) -> Report:
    try:
        return review(**inputs, engines=("sqlite",), repeat=1)
    except (LabkitError, sa.exc.SQLAlchemyError) as exc:
        raise Failed(f"the review could not run it: {str(exc).splitlines()[0]}") from None


@task(
    "14.1",
    "library_schema",
    title="A library schema the design review passes: no error, no warning",
    hints=(
        "Run lk.review(schema=library_ddl) and read report.summary(): each risk names its fix.",
        "Money is integer cents; ISBNs and emails are unique; every foreign key needs an index "
        "that starts with it.",
        "Timestamps carry their zone: TIMESTAMPTZ for borrowed_at and returned_at.",
    ),
)
def library_schema(ddl: str) -> None:
    """The tables keep their columns, and the schema review finds nothing above info."""
    if not isinstance(ddl, str) or not ddl.strip():
        raise Failed("the answer is empty: write the DDL as a string")
    try:
        metadata = load_schema(ddl)
    except LabkitError as exc:
        raise Failed(str(exc)) from None
    for table, wanted in _COLUMNS.items():
        found = metadata.tables.get(table)
        have = {c.name for c in found.columns} if found is not None else set()
        if not wanted <= have:
            raise Failed(f"table {table} lacks {sorted(wanted - have)}: keep the design's columns")
    if not any("price" in c.name for c in metadata.tables["books"].columns):
        raise Failed("books lost its price: keep it, as integer cents")
    risks = _reviewed(schema=ddl, scale=50).at_or_above("warning")
    if risks:
        raise Failed(f"{len(risks)} risk(s) left, the first: {risks[0].title}")


@task(
    "14.2",
    "library_indexes",
    title="The index the library's workload lacks, and no more",
    given={"schema": LIBRARY, "workload": WORKLOAD},
    hints=(
        "Review the given schema with the given workload: which query's plan reads all of loans?",
        "The overdue query filters on a range of due_on and sorts by it.",
        "One index on loans (due_on) serves both the range and the sort.",
    ),
)
def library_indexes(indexes: list[str]) -> None:
    """Every query of the workload is served by an index, with at most two new ones."""
    if not isinstance(indexes, list | tuple) or not all(isinstance(i, str) for i in indexes):
        raise Failed("the answer must be a list of `CREATE INDEX ...` statements")
    if len(indexes) > 2:
        raise Failed(f"{len(indexes)} new indexes: each one costs every insert; two at most")
    if not all(_CREATE_INDEX.match(i) for i in indexes):
        raise Failed("every statement must be a CREATE INDEX")
    schema = LIBRARY + "".join(f"\n{statement.rstrip(';')};" for statement in indexes)
    report = _reviewed(schema=schema, workload=WORKLOAD, scale=_SCALE)
    plans = report.sections["workload"].plans["sqlite"]  # type: ignore[attr-defined]
    for name, plan in plans.items():
        if plan.full_scans():
            scan = plan.full_scans()[0]
            raise Failed(f"{name} still reads all of {scan.relation} (its plan: {scan.label()})")
