"""Generated rows into a database through its bulk path, timed.

SQLite: one `executemany` per table inside one transaction, foreign keys enforced.
PostgreSQL: `COPY ... FROM STDIN` fed from an in-memory CSV buffer.
DuckDB: the DataFrame registered with DuckDB and inserted by one `INSERT ... SELECT`.
MySQL/MariaDB: PyMySQL's `executemany`, which rewrites it into multi-row INSERTs.
Each database checks every constraint itself as the rows arrive.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable

from labkit.databases import Database
from labkit.errors import ReviewError
from labkit.review._synth import SyntheticData

__all__ = ["LoadReport", "load"]

Frames = list[tuple[sa.Table, pd.DataFrame]]


@dataclass(frozen=True)
class LoadReport:
    """What was loaded where, and how fast (rows per second of the load itself)."""

    engine: str
    rows: dict[str, int]
    seconds: float
    generate_seconds: float
    not_honoured: list[str]

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        """Rows loaded per second of loading (generation excluded; see `generate_seconds`)."""
        return self.total_rows / self.seconds if self.seconds > 0 else float("inf")

    def __repr__(self) -> str:
        return (
            f"LoadReport({self.engine}: {self.total_rows:,} rows in {self.seconds:.2f} s = "
            f"{self.rows_per_second:,.0f} rows/s; generated in {self.generate_seconds:.2f} s; "
            f"{len(self.not_honoured)} constraints not honoured)"
        )

    def table(self) -> pd.DataFrame:
        """Rows per table as a labelled table."""
        return pd.DataFrame({"table": list(self.rows), "rows": list(self.rows.values())})

    def _repr_html_(self) -> str:
        skipped = "".join(f"<li>{html.escape(item)}</li>" for item in self.not_honoured)
        return (
            f"<p><b>{self.engine}</b>: {self.total_rows:,} rows in {self.seconds:.2f} s "
            f"(<b>{self.rows_per_second:,.0f} rows/s</b>), generated in "
            f"{self.generate_seconds:.2f} s</p>{self.table().to_html(index=False)}"
            + (f"<p>Not honoured:</p><ul>{skipped}</ul>" if skipped else "")
        )


def load(data: SyntheticData, into: Database | sa.Engine, *, create: bool = True) -> LoadReport:
    """Create `data`'s tables in `into` (when `create`) and bulk-load its rows, parents first."""
    engine = into.engine if isinstance(into, Database) else into
    name = engine.dialect.name
    loaders = {"sqlite": _sqlite, "postgresql": _postgres, "duckdb": _duckdb, "mysql": _mysql}
    loader = loaders.get(name)
    if loader is None:
        raise ReviewError(
            f"no bulk loader for {name!r}; load into SQLite, PostgreSQL, DuckDB or MySQL/MariaDB."
        )
    keys_after = create and name == "postgresql"
    if create and not keys_after:
        _create(data.metadata, engine)
    frames = [
        (t, data.frames[t.name]) for t in data.metadata.sorted_tables if t.name in data.frames
    ]
    started = time.perf_counter()
    try:
        if keys_after:
            _postgres_keys_after(engine, frames)
        else:
            _on_driver_connection(engine, loader, frames)
    except Exception as error:
        raise ReviewError(
            f"{name} refused the generated rows ({str(error).splitlines()[0]}); a CHECK the "
            f"generator could not honour is the likely cause: {data.not_honoured or 'none listed'}"
        ) from error
    seconds = time.perf_counter() - started
    return LoadReport(
        "postgres" if name == "postgresql" else name,
        data.rows,
        seconds,
        data.seconds,
        data.not_honoured,
    )


def _on_driver_connection(
    engine: sa.Engine, loader: Callable[[Any, Frames], None], frames: Frames
) -> None:
    """Run `loader` on a driver connection, rolled back when it fails."""
    connection = engine.raw_connection()
    try:
        loader(connection, frames)
    except Exception:
        connection.rollback()
        raise
    finally:
        connection.close()


def _create(metadata: sa.MetaData, engine: sa.Engine) -> None:
    """Create the tables; on DuckDB without SERIAL (it has none), as the rows carry their keys."""
    if engine.dialect.name != "duckdb":
        metadata.create_all(engine)
        return
    keys = [c for t in metadata.tables.values() for c in t.primary_key.columns]
    saved = [c.autoincrement for c in keys]
    try:
        for column in keys:
            column.autoincrement = False
        metadata.create_all(engine)
    finally:
        for column, value in zip(keys, saved, strict=True):
            column.autoincrement = value


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(table: sa.Table) -> str:
    return ", ".join(_quote(c.name) for c in table.columns)


def _sqlite(connection: Any, frames: Frames) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    # Synthetic rows can be regenerated from their seed: no need to sync each page to disk.
    cursor.execute("PRAGMA synchronous = OFF")
    cursor.execute("BEGIN")
    for table, frame in frames:
        marks = ", ".join("?" for _ in table.columns)
        sql = f"INSERT INTO {_quote(table.name)} ({_columns(table)}) VALUES ({marks})"
        columns = [_python_values(frame[c.name], c) for c in table.columns]
        cursor.executemany(sql, zip(*columns, strict=True))
    violations = cursor.execute("PRAGMA foreign_key_check").fetchall()
    if violations:
        raise ReviewError(f"foreign key violations after load: {violations[:3]}")
    connection.commit()


def _python_values(series: pd.Series, column: sa.Column[object]) -> list[object]:
    """Plain Python values SQLite's driver accepts (None for missing)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        pattern = "%Y-%m-%d" if isinstance(column.type, sa.Date) else "%Y-%m-%d %H:%M:%S.%f"
        text = series.dt.tz_localize(None) if series.dt.tz is not None else series
        series = text.dt.strftime(pattern)
    elif isinstance(column.type, sa.Uuid):
        series = series.map(lambda v: None if v is None else v.hex)
    values: list[object] = series.astype(object).where(series.notna(), None).tolist()
    return values


def _mysql(connection: Any, frames: Frames) -> None:
    """One multi-row `executemany` per table (PyMySQL batches it into few INSERTs), one commit."""
    with connection.cursor() as cursor:
        for table, frame in frames:
            marks = ", ".join("%s" for _ in table.columns)
            columns = ", ".join(f"`{c.name}`" for c in table.columns)
            sql = f"INSERT INTO `{table.name}` ({columns}) VALUES ({marks})"
            values = [_python_values(frame[c.name], c) for c in table.columns]
            cursor.executemany(sql, list(zip(*values, strict=True)))
    connection.commit()


def _postgres(connection: Any, frames: Frames) -> None:
    _copy(connection, frames)
    connection.commit()


def _copy(connection: Any, frames: Frames) -> None:
    """COPY each frame from an in-memory CSV buffer (psycopg's copy protocol)."""
    with connection.cursor() as cursor:
        for table, frame in frames:
            binary = [c.name for c in table.columns if isinstance(c.type, sa.LargeBinary)]
            if binary:
                hexed = {
                    n: frame[n].map(lambda v: None if v is None else "\\x" + v.hex())
                    for n in binary
                }
                frame = frame.assign(**hexed)
            buffer = frame.to_csv(index=False, header=False, na_rep="\\N")
            sql = (
                f"COPY {_quote(table.name)} ({_columns(table)}) FROM STDIN (FORMAT csv, NULL '\\N')"
            )
            with cursor.copy(sql) as copy:
                copy.write(buffer)


def _postgres_keys_after(engine: sa.Engine, frames: Frames) -> None:
    """pg_restore's order: tables, COPY, then foreign keys and indexes, each checked in bulk.

    Adding a foreign key to a full table validates every row with one join, where checking
    during COPY fires a trigger per row; the database still checks every constraint, and all
    of it is one transaction.
    """
    with engine.begin() as connection:
        for table, _ in frames:
            for column in table.columns:
                if isinstance(column.type, sa.Enum):
                    column.type.create(connection, checkfirst=True)
            connection.execute(CreateTable(table, include_foreign_key_constraints=[]))
        _copy(connection.connection.driver_connection, frames)
        for table, _ in frames:
            for fk in table.foreign_key_constraints:
                connection.execute(AddConstraint(fk))
            for index in table.indexes:
                connection.execute(CreateIndex(index))


def _duckdb(connection: Any, frames: Frames) -> None:
    duck = connection.driver_connection
    for table, frame in frames:
        duck.register("_labkit_frame", frame)
        try:
            duck.execute(
                f"INSERT INTO {_quote(table.name)} ({_columns(table)}) "
                f"SELECT {_columns(table)} FROM _labkit_frame"
            )
        finally:
            duck.unregister("_labkit_frame")
    connection.commit()
