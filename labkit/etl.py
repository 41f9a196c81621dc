"""A batch ETL: the shop's orders, extracted incrementally by watermark into Parquet on disk.

Each run reads only orders changed since the last one (by ``(updated_at, id)``, so a
cancellation made later is picked up too), appends them as one Parquet file, and rebuilds
``daily_sales.parquet`` with DuckDB, keeping each order's latest version. The watermark is
read back from the files themselves: a run that dies before its file is renamed into place
leaves the lake as it was, and the next run extracts the same rows again.
Taught in 12_async_work_and_events.

>>> run = lk.etl.extract_orders(svc, "lake/")
>>> run.rows, run.rows_per_second
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labkit._shopdb import shop_engine

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from labkit.databases import Database
    from labkit.service import LiveService

__all__ = ["EtlRun", "daily_sales", "extract_orders", "watermark"]

_ORDERS = sa.table(
    "orders",
    sa.column("id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime()),
    sa.column("updated_at", sa.DateTime()),
)
_ITEMS = sa.table(
    "order_items",
    sa.column("order_id", sa.Integer()),
    sa.column("quantity", sa.Integer()),
    sa.column("unit_price_cents", sa.Integer()),
)
_DAILY = "daily_sales.parquet"


@dataclass(frozen=True)
class EtlRun:
    """One extraction: how many orders, how fast, and the watermark it leaves."""

    rows: int
    seconds: float
    watermark: tuple[dt.datetime, int] | None
    path: Path | None  # the Parquet file written (None when nothing had changed)

    @property
    def rows_per_second(self) -> float:
        """Orders extracted per second of the run (extract, write, aggregate)."""
        return self.rows / self.seconds if self.seconds else 0.0


def _parts(lake: Path) -> list[Path]:
    return sorted(lake.glob("orders-*.parquet"))


def watermark(lake: str | Path) -> tuple[dt.datetime, int] | None:
    """The newest ``(updated_at, id)`` already in the lake (UTC, naive), or None when empty.

    Taught in 12_async_work_and_events.
    """
    import duckdb

    parts = _parts(Path(lake))
    if not parts:
        return None
    with duckdb.connect() as con:
        row = con.execute(
            "SELECT updated_at, id FROM read_parquet(?) ORDER BY updated_at DESC, id DESC LIMIT 1",
            [[str(p) for p in parts]],
        ).fetchone()
    return None if row is None else (row[0], int(row[1]))


def _utc_naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _changed(engine: sa.Engine, op: str, at: dt.datetime) -> sa.ColumnElement[bool]:
    """``orders.updated_at <op> at`` to the second, whatever text format SQLite holds.

    SQLite keeps timestamps as text, some with fractions of a second and some without
    (``CURRENT_TIMESTAMP``), and text compares "12:00:00" below "12:00:00.000000".
    """
    if engine.dialect.name == "sqlite":
        column: sa.ColumnElement[object] = sa.func.datetime(_ORDERS.c.updated_at)
        value: object = at.strftime("%Y-%m-%d %H:%M:%S")
    else:
        column, value = _ORDERS.c.updated_at, at.replace(tzinfo=dt.UTC)
    return column >= value if op == ">=" else column <= value


def extract_orders(
    source: LiveService | Database | str, lake: str | Path, *, settle_seconds: float = 1.0
) -> EtlRun:
    """Extract the orders changed since the lake's watermark; rebuild the daily aggregate.

    Only rows last changed more than `settle_seconds` ago are taken: a transaction that
    committed late with an earlier ``updated_at`` would otherwise slip under the watermark.

    Taught in 12_async_work_and_events.
    """
    import duckdb
    import pandas as pd

    lake = Path(lake)
    lake.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    since = watermark(lake)
    upper = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=settle_seconds)
    with shop_engine(source) as engine:
        rows = _changed_orders(engine, since, upper)
    frame = pd.DataFrame(rows, columns=["id", "status", "created_at", "updated_at", "units",
                                        "revenue_cents"])  # fmt: skip
    for column in ("created_at", "updated_at"):
        frame[column] = pd.to_datetime(frame[column].map(_utc_naive))
    if since is not None:
        at, last_id = pd.Timestamp(since[0]), since[1]
        frame = frame[(frame.updated_at > at) | ((frame.updated_at == at) & (frame.id > last_id))]
    if frame.empty:
        return EtlRun(rows=0, seconds=time.perf_counter() - started, watermark=since, path=None)
    path = lake / f"orders-{len(_parts(lake)):06d}.parquet"
    with duckdb.connect() as con:
        con.register("frame", frame)
        con.execute(f"COPY frame TO '{path}.tmp' (FORMAT parquet)")
        os.replace(f"{path}.tmp", path)  # the file, and so the watermark, appears at once
        _aggregate(con, lake)
    last = frame.iloc[-1]
    return EtlRun(
        rows=len(frame), seconds=time.perf_counter() - started,
        watermark=(last["updated_at"].to_pydatetime(), int(last["id"])), path=path,
    )  # fmt: skip


def _changed_orders(
    engine: sa.Engine, since: tuple[dt.datetime, int] | None, upper: dt.datetime
) -> Sequence[sa.Row[Any, Any, Any, Any, Any, Any]]:
    """Orders with their units and revenue, changed in [since's second, upper]."""
    o, i = _ORDERS.c, _ITEMS.c
    query = (
        sa.select(o.id, o.status, o.created_at, o.updated_at,
                  sa.func.sum(i.quantity).label("units"),
                  sa.func.sum(i.quantity * i.unit_price_cents).label("revenue_cents"))
        .join(_ITEMS, i.order_id == o.id)
        .where(_changed(engine, "<=", upper))
        .group_by(o.id, o.status, o.created_at, o.updated_at)
        .order_by(o.updated_at, o.id)
    )  # fmt: skip
    if since is not None:  # whole seconds in SQL; the exact (updated_at, id) in pandas
        query = query.where(_changed(engine, ">=", since[0].replace(microsecond=0)))
    with engine.connect() as conn:
        return conn.execute(query).all()


def _aggregate(con: duckdb.DuckDBPyConnection, lake: Path) -> None:
    """Rebuild daily_sales.parquet from each order's latest version, cancelled ones left out."""
    parts = ", ".join(f"'{p}'" for p in _parts(lake))
    con.execute(
        f"""COPY (
              SELECT CAST(created_at AS DATE) AS day, count(*) AS orders,
                     sum(units) AS units, sum(revenue_cents) AS revenue_cents
              FROM (SELECT * FROM read_parquet([{parts}])
                    QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1)
              WHERE status <> 'cancelled'
              GROUP BY day ORDER BY day
            ) TO '{lake / _DAILY}.tmp' (FORMAT parquet)"""
    )
    os.replace(f"{lake / _DAILY}.tmp", lake / _DAILY)


def daily_sales(lake: str | Path) -> pd.DataFrame:
    """The batch side's daily aggregate (day, orders, units, revenue_cents).

    Taught in 12_async_work_and_events.
    """
    import duckdb

    path = Path(lake) / _DAILY
    with duckdb.connect() as con:
        return con.execute("SELECT * FROM read_parquet(?) ORDER BY day", [str(path)]).df()
