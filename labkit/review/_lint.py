"""Schema lint: findings with why and fix, the schema counterpart of the contract linter.

Each rule is a function from a table to findings; `RULES` lists them with their severity.
The heuristics on names (money, natural keys, bounded text) are deliberately few and
listed here, so a finding can always be traced to the word that triggered it.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import sqlalchemy as sa

__all__ = ["RULES", "SchemaFinding", "SchemaLintReport", "lint_schema"]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
_COLORS = {"error": "#b00020", "warning": "#b26a00", "info": "#555"}

_MONEY = re.compile(r"(price|amount|total|cost|balance|fee|salary|money|tax|discount)")
_NATURAL_KEYS = re.compile(r"^(email|sku|slug|username|handle|isbn|ean|iban|vin)$")
_BOUNDED = re.compile(
    r"^(email|sku|slug|username|code|status|country|currency|phone|zip|postcode|locale|name)$"
    r"|(_code|_status|_name)$"
)
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass(frozen=True)
class SchemaFinding:
    """One place where the schema departs from a guideline, with why it matters and a fix."""

    rule: str
    severity: Severity
    location: str
    message: str
    why: str
    fix: str

    def __repr__(self) -> str:
        return f"<{self.severity} {self.rule} at {self.location}: {self.message}>"


class SchemaLintReport:
    """The findings of one schema lint, as a table, counts and an HTML report."""

    def __init__(self, tables: int, findings: list[SchemaFinding]) -> None:
        self.tables = tables
        self.findings = sorted(
            findings, key=lambda f: (SEVERITIES.index(f.severity), f.rule, f.location)
        )

    def __len__(self) -> int:
        return len(self.findings)

    def __iter__(self) -> Iterator[SchemaFinding]:
        return iter(self.findings)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(f.severity for f in self.findings)
        return {s: found[s] for s in SEVERITIES}

    @property
    def rules_fired(self) -> set[str]:
        return {f.rule for f in self.findings}

    def of(self, rule: str) -> list[SchemaFinding]:
        return [f for f in self.findings if f.rule == rule]

    def to_frame(self) -> pd.DataFrame:
        columns = ["rule", "severity", "location", "message", "why", "fix"]
        return pd.DataFrame([f.__dict__ for f in self.findings], columns=columns)

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"SchemaLintReport({self.tables} tables: {c['error']} errors, "
            f"{c['warning']} warnings, {c['info']} info)"
        )

    def _repr_html_(self) -> str:
        c = self.counts
        head = (
            f"<p><b>Schema lint</b>: {self.tables} tables — "
            + ", ".join(f"<span style='color:{_COLORS[s]}'>{c[s]} {s}</span>" for s in SEVERITIES)
            + "</p>"
        )
        rows = "".join(
            f"<tr><td style='color:{_COLORS[f.severity]}'>{f.severity}</td><td>{f.rule}</td>"
            f"<td><code>{html.escape(f.location)}</code></td><td>{html.escape(f.message)}</td>"
            f"<td>{html.escape(f.why)}</td><td><code>{html.escape(f.fix)}</code></td></tr>"
            for f in self.findings
        )
        header = "".join(f"<th>{h}</th>" for h in ("", "rule", "where", "what", "why", "fix"))
        table = f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
        return head + (table if self.findings else "")


Rule = Callable[[sa.Table], Iterator[SchemaFinding]]


def _finding(rule: str, where: str, message: str, why: str, fix: str) -> SchemaFinding:
    return SchemaFinding(rule, _SEVERITY[rule], where, message, why, fix)


def _no_primary_key(table: sa.Table) -> Iterator[SchemaFinding]:
    if not table.primary_key.columns:
        yield _finding(
            "no-primary-key",
            table.name,
            f"{table.name} has no primary key",
            "Rows cannot be addressed one by one: updates, deletes, replication and ORMs need a "
            "key, and duplicates creep in unnoticed.",
            f"ALTER TABLE {table.name} ADD PRIMARY KEY (...)  -- or an identity column",
        )


def _index_prefixes(table: sa.Table) -> list[list[str]]:
    """Column lists of everything that can serve as an index: PK, UNIQUE and indexes."""
    keys = [[c.name for c in table.primary_key.columns]]
    keys += [
        [c.name for c in u.columns] for u in table.constraints if isinstance(u, sa.UniqueConstraint)
    ]
    keys += [[c.name for c in i.columns] for i in table.indexes]
    return [k for k in keys if k]


def _fk_without_index(table: sa.Table) -> Iterator[SchemaFinding]:
    keys = _index_prefixes(table)
    for fk in table.foreign_key_constraints:
        cols = [c.name for c in fk.columns]
        if not any(sorted(key[: len(cols)]) == sorted(cols) for key in keys):
            yield _finding(
                "fk-without-index",
                f"{table.name}({', '.join(cols)})",
                f"foreign key {cols} → {fk.referred_table.name} has no index starting with it",
                "Joins from the parent and every DELETE/UPDATE of a parent row scan this whole "
                "table to find or check children; PostgreSQL does not index foreign keys for you.",
                f"CREATE INDEX ix_{table.name}_{'_'.join(cols)} ON {table.name} ({', '.join(cols)})",
            )


def _float_money(table: sa.Table) -> Iterator[SchemaFinding]:
    for column in table.columns:
        if isinstance(column.type, sa.Float) and _MONEY.search(column.name):
            yield _finding(
                "float-money",
                f"{table.name}.{column.name}",
                f"money-like column {column.name} is floating point ({column.type})",
                "Binary floating point cannot represent 0.10 exactly: sums drift by cents and "
                "equality tests fail.",
                f"store integer cents ({column.name}_cents BIGINT) or NUMERIC(12, 2)",
            )


def _nullable_foreign_key(table: sa.Table) -> Iterator[SchemaFinding]:
    for fk in table.foreign_key_constraints:
        if fk.referred_table is table:
            continue  # a tree's roots have no parent: NULL is the design
        nullable = [c.name for c in fk.columns if c.nullable]
        if nullable:
            yield _finding(
                "nullable-foreign-key",
                f"{table.name}.{', '.join(nullable)}",
                f"foreign key {nullable} → {fk.referred_table.name} accepts NULL",
                "A row that belongs to a parent can be saved without one: orphans with NULL pass "
                "every constraint and vanish from inner joins.",
                f"ALTER TABLE {table.name} ALTER COLUMN {nullable[0]} SET NOT NULL  "
                "-- unless the relation is truly optional",
            )


def _natural_key_not_unique(table: sa.Table) -> Iterator[SchemaFinding]:
    unique_sets = [set(k) for k in _unique_keys(table)]
    for column in table.columns:
        if _NATURAL_KEYS.match(column.name) and not any(column.name in s for s in unique_sets):
            yield _finding(
                "natural-key-not-unique",
                f"{table.name}.{column.name}",
                f"{column.name} looks like a natural key but nothing makes it unique",
                "Two rows with the same email/sku/slug will appear under concurrent sign-ups or "
                "imports; a check in code is a race, a unique constraint is not.",
                f"ALTER TABLE {table.name} ADD CONSTRAINT uq_{table.name}_{column.name} "
                f"UNIQUE ({column.name})",
            )


def _unique_keys(table: sa.Table) -> list[list[str]]:
    keys = [[c.name for c in table.primary_key.columns]]
    keys += [
        [c.name for c in u.columns] for u in table.constraints if isinstance(u, sa.UniqueConstraint)
    ]
    keys += [[c.name for c in i.columns] for i in table.indexes if i.unique]
    keys += [[c.name] for c in table.columns if c.unique]
    return keys


def _unbounded_text(table: sa.Table) -> Iterator[SchemaFinding]:
    for column in table.columns:
        kind = column.type
        if isinstance(kind, sa.String) and kind.length is None and _BOUNDED.search(column.name):
            yield _finding(
                "unbounded-text",
                f"{table.name}.{column.name}",
                f"{column.name} is text without a length",
                "A code, name or email has a natural bound; without one a client can store "
                "megabytes in it, and indexes on it grow without limit.",
                f"VARCHAR(n) or CHECK (length({column.name}) <= n)",
            )


def _timestamp_without_tz(table: sa.Table) -> Iterator[SchemaFinding]:
    for column in table.columns:
        if isinstance(column.type, sa.DateTime) and not column.type.timezone:
            yield _finding(
                "timestamp-without-time-zone",
                f"{table.name}.{column.name}",
                f"{column.name} is a timestamp without time zone",
                "A wall-clock time without its zone is ambiguous across servers, DST changes and "
                "clients; comparing it with now() silently uses the session's zone.",
                f"ALTER TABLE {table.name} ALTER COLUMN {column.name} TYPE timestamptz",
            )


def _naming(table: sa.Table) -> Iterator[SchemaFinding]:
    names = [(table.name, table.name)] + [(f"{table.name}.{c.name}", c.name) for c in table.columns]
    for where, name in names:
        if not _SNAKE.match(name):
            yield _finding(
                "naming-convention",
                where,
                f"{name!r} is not lower snake_case",
                "Mixed case needs quoting in PostgreSQL forever after, and mixed conventions make "
                "every query a lookup.",
                f"rename to {_snake(name)!r}",
            )
    for column in table.columns:
        if isinstance(column.type, sa.DateTime) and not column.name.endswith("_at"):
            yield _finding(
                "naming-convention",
                f"{table.name}.{column.name}",
                f"timestamp {column.name!r} does not end in _at",
                "A suffix that says 'point in time' tells readers the type without a lookup.",
                f"rename to {_snake(column.name).removesuffix('_time') + '_at'!r}",
            )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("__", "_")


def _redundant_index(table: sa.Table) -> Iterator[SchemaFinding]:
    indexes = sorted(table.indexes, key=lambda i: i.name or "")
    keys = _index_prefixes(table)
    for index in indexes:
        if index.unique:
            continue  # it enforces something, even when another index covers its columns
        cols = [c.name for c in index.columns]
        covering = [k for k in keys if k != cols and k[: len(cols)] == cols]
        twins = [i for i in indexes if i is not index and [c.name for c in i.columns] == cols]
        earlier_twin = any(t.unique or (t.name or "") < (index.name or "") for t in twins)
        if covering or earlier_twin:
            by = covering[0] if covering else cols
            yield _finding(
                "redundant-index",
                f"{table.name}.{index.name}",
                f"index {index.name} ({', '.join(cols)}) is served by ({', '.join(by)})",
                "Every index costs a write on each INSERT/UPDATE and memory in the cache; a "
                "prefix of another index (or its twin) buys no read the other does not.",
                f"DROP INDEX {index.name}",
            )


RULES: dict[str, tuple[Severity, Rule]] = {
    "no-primary-key": ("error", _no_primary_key),
    "float-money": ("error", _float_money),
    "fk-without-index": ("warning", _fk_without_index),
    "natural-key-not-unique": ("warning", _natural_key_not_unique),
    "nullable-foreign-key": ("warning", _nullable_foreign_key),
    "redundant-index": ("warning", _redundant_index),
    "timestamp-without-time-zone": ("warning", _timestamp_without_tz),
    "unbounded-text": ("info", _unbounded_text),
    "naming-convention": ("info", _naming),
}
_SEVERITY = {rule: severity for rule, (severity, _) in RULES.items()}


def lint_schema(metadata: sa.MetaData) -> SchemaLintReport:
    """Every rule over every table of `metadata` (notebook 14's schema review)."""
    findings = [
        finding
        for table in metadata.sorted_tables
        for _, rule in RULES.values()
        for finding in rule(table)
    ]
    return SchemaLintReport(len(metadata.tables), findings)
