"""Proposing candidate indexes for a query and measuring each with a real trial."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from html import escape

import sqlalchemy as sa

from labkit.errors import ExplainError
from labkit.plans._engines import driver_sql, fastest_plan, target
from labkit.plans._html import plan_html
from labkit.plans._model import Plan, ratio_words
from labkit.plans._sql import aliases, unquote
from labkit.plans._trials import IndexTrial, parse_ddl, trial_against
from labkit.plans._types import DatabaseLike, Params, QueryLike

#: A candidate is `best` only when it is used and at least this much faster.
MARGIN = 1.5
#: Tables smaller than this are read whole faster than through any index: no candidates.
SMALL_TABLE = 1_000

_CLAUSE_END = r"(?=\bGROUP\s+BY\b|\bORDER\s+BY\b|\bLIMIT\b|\bOFFSET\b|\bHAVING\b|$)"
_WHERE = re.compile(r"\bWHERE\b(?P<body>.*?)" + _CLAUSE_END, re.I | re.S)
_ORDER = re.compile(r"\bORDER\s+BY\b(?P<body>.*?)(?=\bLIMIT\b|\bOFFSET\b|$)", re.I | re.S)
_ON = re.compile(
    r"\bON\b(?P<body>.*?)(?=\b(?:LEFT|RIGHT|INNER|FULL|CROSS)?\s*JOIN\b|\bWHERE\b|"
    r"\bGROUP\b|\bORDER\b|\bLIMIT\b|$)",
    re.I | re.S,
)
_EQUALITY = r"\s*(?:=(?!=)|\bIN\b|\bIS\s+(?!NULL\b))"
_RANGE = r"\s*(?:<=|>=|<(?!>)|>|\bBETWEEN\b|\bLIKE\b)"


# A column, maybe qualified, names bare or quoted: `o.status`, `"Order Lines"."Cat"`.
_WORD = r'(?:"[^"]+"|`[^`]+`|\b\w+\b)'
_COLUMN = rf"(?:(?P<q>{_WORD})\.)?(?P<col>{_WORD})"
_EXPRESSION = re.compile(
    rf"\b(?P<fn>[a-z_]\w*)\s*\(\s*{_COLUMN}\s*\)(?={_EQUALITY}|{_RANGE})",
    re.I,
)
_NOT_FUNCTIONS = {"in", "exists", "and", "or", "not", "any", "all", "some", "values"}


@dataclass(frozen=True)
class IndexSuggestion:
    """A candidate index, why it was proposed, and its measured trial (or why it has none)."""

    ddl: str
    reason: str
    trial: IndexTrial | None = None
    error: str = ""

    def __repr__(self) -> str:
        measured = f"; {self.trial._summary()}" if self.trial else ""
        failed = f"; could not be tried: {self.error}" if self.error else ""
        return f"<IndexSuggestion {self.ddl} -- {self.reason}{measured}{failed}>"


@dataclass(frozen=True)
class IndexAdvice:
    """Candidate indexes for one query, best first, each measured with `try_index`.

    `best` is a candidate the planner used that made the query at least `margin` times
    faster (fastest of repeated runs each side); otherwise None, and `reason` says why.
    """

    plan: Plan
    suggestions: list[IndexSuggestion] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    margin: float = MARGIN

    @property
    def best(self) -> IndexSuggestion | None:
        """The used candidate with the largest speedup, if that speedup clears the margin."""
        used = [s for s in self.suggestions if s.trial and s.trial.used]
        if used and (used[0].trial and (used[0].trial.speedup or 0.0) >= self.margin):
            return used[0]
        return None

    @property
    def reason(self) -> str:
        """Why `best` is what it is, in one line."""
        best = self.best
        if best is not None and best.trial is not None:
            return f"{best.trial.name} is used and {ratio_words(best.trial.speedup)}"
        if not self.plan.full_scans():
            return "no table is read in full, so no index was proposed"
        if not self.suggestions:
            return "no filter, sort or join column of the scanned tables to index"
        tried = [s for s in self.suggestions if s.trial]
        if not tried:
            return "candidates were not measured (verify=False)"
        used = [s.trial for s in tried if s.trial and s.trial.used]
        if not used:
            return "the planner used none of the candidates"
        return (
            f"the best used candidate, {used[0].name}, is {ratio_words(used[0].speedup)}: "
            f"under the {self.margin:.1f}x margin, so not worth its write cost"
        )

    def __repr__(self) -> str:
        lines = [f"  {s!r}" for s in self.suggestions] or ["  (no candidates)"]
        lines += [f"  hint: {hint}" for hint in self.hints]
        return (
            f"<IndexAdvice for {len(self.plan.full_scans())} full scan(s): {self.reason}>\n"
            + "\n".join(lines)
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{escape(s.ddl)}</code></td><td>{escape(s.reason)}</td>"
            f"<td>{escape(s.trial._summary() if s.trial else s.error or 'not measured')}</td></tr>"
            for s in self.suggestions
        )
        hints = "".join(f"<li>{escape(hint)}</li>" for hint in self.hints)
        return (
            f"<p><b>{escape(self.reason)}</b></p><ul>{hints}</ul>"
            "<table><tr><th>candidate</th><th>why</th><th>measured</th></tr>"
            f"{rows}</table>" + plan_html(self.plan)
        )


def _without_windows(sql: str) -> str:
    """The SQL with every `OVER (...)` removed: a window's ORDER BY is not the query's."""
    out, position = [], 0
    for match in re.finditer(r"\bOVER\s*\(", sql, re.I):
        if match.start() < position:
            continue
        depth, end = 1, match.end()
        while end < len(sql) and depth:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        out.append(sql[position : match.start()])
        position = end
    return "".join(out) + sql[position:]


def _columns_used(
    body: str, names: set[str], columns: set[str], unique: set[str], pattern: str
) -> list[str]:
    """Columns of one table followed by an operator matching `pattern`, in order of use."""
    found: dict[str, None] = {}
    for match in re.finditer(_COLUMN + "(?=" + pattern + ")", body, re.I):
        qualifier, column = unquote(match["q"] or "").lower(), unquote(match["col"]).lower()
        if column in columns and (qualifier in names or (not qualifier and column in unique)):
            found[column] = None
    return list(found)


@dataclass(frozen=True)
class _Table:
    """What candidate-making needs to know of one table."""

    name: str
    schema: str | None
    columns: dict[str, str]  # lower-case -> as spelled
    unique: set[str]  # columns no other table of the query has
    keys: list[tuple[str, ...]]  # column lists of existing indexes and the primary key


def _covered(keys: list[str], existing: list[tuple[str, ...]]) -> bool:
    """True when an existing index (or the primary key) already starts with these columns."""
    return any(tuple(keys) == have[: len(keys)] for have in existing)


def _candidates(
    conn: sa.Connection, sql: str, table: _Table, kind: str
) -> tuple[list[tuple[str, str]], list[str]]:
    """(ddl, why) per candidate, and one-line hints for what no plain index can serve."""
    names = {alias for alias, real in aliases(sql).items() if real.lower() == table.name.lower()}
    names.add(table.name.lower())
    columns = set(table.columns)
    sql = _without_windows(sql)
    where = " ".join(m["body"] for m in _WHERE.finditer(sql))
    order = " ".join(m["body"] for m in _ORDER.finditer(sql))
    ons = " ".join(m["body"] for m in _ON.finditer(sql))
    unique = table.unique
    equal = _columns_used(where, names, columns, unique, _EQUALITY)
    ranged = [c for c in _columns_used(where, names, columns, unique, _RANGE) if c not in equal]
    nulls = _columns_used(where, names, columns, unique, r"\s*\bIS\s+NULL\b")
    sort = _columns_used(order, names, columns, unique, r"\s*(?:\bASC\b|\bDESC\b|,|$)")
    joins = _columns_used(ons, names, columns, unique, r"\s*=")
    quote = conn.dialect.identifier_preparer.quote
    partial = (
        " WHERE " + " AND ".join(f"{quote(table.columns[c])} IS NULL" for c in nulls)
        if nulls and kind not in ("duckdb", "mysql")
        else ""
    )
    found: list[tuple[list[str], str, str]] = []
    if equal or ranged:
        found.append(
            (equal + ranged[:1], "filter: equality columns first, one range last", partial)
        )
    if sort:
        keys = equal + [c for c in sort if c not in equal]
        found.append(
            (keys, "filter then sort: rows come out of the index already ordered", partial)
        )
    for column in joins:
        found.append(([column], "join key: each outer row finds its matches by seek", ""))
    hints: list[str] = []
    for match in _EXPRESSION.finditer(where):
        function, column = match["fn"], unquote(match["col"]).lower()
        qualifier = unquote(match["q"] or "").lower()
        if function.lower() in _NOT_FUNCTIONS or column not in columns:
            continue
        if not (qualifier in names or (not qualifier and column in unique)):
            continue
        expression = f"{function}({quote(table.columns[column])})"
        if kind in ("postgres", "sqlite"):
            found.append(([expression], "expression filter: an index on the expression", ""))
        else:
            hints.append(
                f"{table.name}: the filter on {function}({table.columns[column]}) cannot use an "
                f"index on {table.columns[column]}; {kind} indexes a generated column holding "
                f"{function}(...) instead"
            )
    seen: set[tuple[str, ...]] = set()
    result = []
    for keys, reason, where_part in found:
        if tuple(keys) in seen or (not where_part and _covered(keys, table.keys)):
            continue
        seen.add(tuple(keys))
        label = re.sub(r"\W+", "_", "_".join(keys).lower()).strip("_")
        stem = re.sub(r"\W+", "_", table.name.lower())
        name = f"ix_try_{stem}_{label}"[:60]
        spelled = ", ".join(k if "(" in k else quote(table.columns[k]) for k in keys)
        on = ".".join(quote(part) for part in (table.schema, table.name) if part)
        ddl = f"CREATE INDEX {quote(name)} ON {on} ({spelled}){where_part}"
        result.append((ddl, reason + (" (partial: only live rows)" if where_part else "")))
    return result, hints


def _existing_keys(
    conn: sa.Connection, kind: str, table: str, schema: str | None
) -> list[tuple[str, ...]]:
    """Column lists (lower-case) of the table's indexes and primary key."""
    if kind == "duckdb":
        rows = conn.execute(
            sa.text(
                "SELECT expressions FROM duckdb_indexes() WHERE table_name = :t "
                "UNION ALL SELECT CAST(constraint_column_names AS VARCHAR) FROM duckdb_constraints() "
                "WHERE table_name = :t AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
            ),
            {"t": table},
        ).all()
        return [
            tuple(part.strip().strip("'\"").lower() for part in str(text).strip("[]").split(","))
            for (text,) in rows
        ]
    inspector = sa.inspect(conn)
    found = [
        tuple(c.lower() for c in inspector.get_pk_constraint(table, schema)["constrained_columns"])
    ]
    for index in inspector.get_indexes(table, schema):
        found.append(tuple(str(c).lower() for c in index["column_names"] if c is not None))
    return [keys for keys in found if keys]


def _real_tables(conn: sa.Connection, kind: str) -> dict[str, str]:
    """Tables (not views, CTEs or aliases) of the current schema, by lower-case name."""
    if kind == "duckdb":
        names = [r[0] for r in conn.exec_driver_sql("SELECT table_name FROM duckdb_tables()")]
    else:
        names = sa.inspect(conn).get_table_names()
    return {str(name).lower(): str(name) for name in names}


def _row_count(conn: sa.Connection, table: str) -> int:
    """How many rows a table holds, counted (estimates can be stale or missing)."""
    quoted = conn.dialect.identifier_preparer.quote(table)
    return int(conn.exec_driver_sql(f"SELECT count(*) FROM {quoted}").scalar_one())


def _columns(conn: sa.Connection, table: str) -> dict[str, str]:
    """Column names of a table, read from a zero-row query (works on every engine)."""
    quoted = conn.dialect.identifier_preparer.quote(table)
    keys = conn.exec_driver_sql(f"SELECT * FROM {quoted} WHERE 1 = 0").keys()
    return {str(key).lower(): str(key) for key in keys}


def suggest_indexes(
    db: DatabaseLike,
    sql: QueryLike,
    params: Params = None,
    *,
    verify: bool = True,
    repeat: int = 3,
    margin: float = MARGIN,
) -> IndexAdvice:
    """Propose indexes for the full-scanned tables of a query and measure each one.

    Candidates come from the query's filters (equality before range), sort keys,
    join keys and filtered expressions; one that an existing index or the primary key
    already starts with is not built. With `verify=True` each is tried with
    `try_index` (created, timed `repeat` times each side, dropped); `best` is one the
    planner used that made the query at least `margin` times faster, else None with
    the reason. Nothing is left behind. Taught in notebooks/03_indexes_and_explain.ipynb.

    >>> lk.suggest_indexes(db, "SELECT * FROM orders WHERE user_id = :u ORDER BY created_at", {"u": 7})
    """
    engine, kind = target(db)
    text = sql if isinstance(sql, str) else driver_sql(engine, sql, params)[0]
    plan = fastest_plan(db, sql, params, repeat)  # also the `before` of every trial
    scanned = list(dict.fromkeys(n.relation for n in plan.full_scans() if n.relation))
    found: list[tuple[str, str]] = []
    hints: list[str] = []
    with engine.connect() as conn:
        real = _real_tables(conn, kind)
        in_query = {real[t.lower()] for t in aliases(text).values() if t.lower() in real}
        columns = {table: _columns(conn, table) for table in in_query}
        counts = Counter(col for cols in columns.values() for col in cols)
        for relation in scanned:
            name = real.get(relation.lower())
            if name is None:
                continue
            rows = _row_count(conn, name)
            if rows < SMALL_TABLE:
                hints.append(
                    f"{name}: {rows:,} rows, a full read of which costs less than any index "
                    f"lookup; no candidate proposed"
                )
                continue
            cols = columns.get(name) or _columns(conn, name)
            table = _Table(
                name=name,
                schema=None,
                columns=cols,
                unique={c for c in cols if counts.get(c, 1) == 1},
                keys=_existing_keys(conn, kind, name, None),
            )
            made, said = _candidates(conn, text, table, kind)
            found += made
            hints += said
        conn.rollback()
    suggestions: list[IndexSuggestion] = []
    for ddl, reason in found:
        if not verify:
            suggestions.append(IndexSuggestion(ddl, reason))
            continue
        try:
            trial = trial_against(db, parse_ddl(ddl), sql, params, repeat, plan)
        except ExplainError as error:  # e.g. an expression the engine will not index
            suggestions.append(IndexSuggestion(ddl, reason, error=str(error)))
        except sa.exc.DBAPIError as error:
            first = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            suggestions.append(IndexSuggestion(ddl, reason, error=f"{kind}: {first}"))
        else:
            suggestions.append(IndexSuggestion(ddl, reason, trial))
    suggestions.sort(key=lambda s: -(s.trial.speedup or 0.0) if s.trial and s.trial.used else 0.0)
    return IndexAdvice(plan, suggestions, hints, margin)
