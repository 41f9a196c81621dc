"""`seed()`: the shop's schema and deterministic rows in any database labkit speaks."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.databases._database import Database, database

if TYPE_CHECKING:
    from sample_service.seed import SeedReport

__all__ = ["seed"]


def seed(db: Database, *, scale: int = 1_000, random_seed: int = 42) -> SeedReport:
    """Create the shop's schema in `db` and fill it with deterministic data (`scale` orders).

    Taught in 00_welcome and 03_indexes_and_explain.

    The same scale and seed give the same rows on every engine, DuckDB included, so plans and
    timings compare like with like. Example: `lk.seed(lk.database("postgres"), scale=100_000)`.
    """
    from sample_service.seed import seed as seed_shop

    db.dispose()  # the seeder rebuilds the schema; pooled connections would hold old tables
    if db.kind != "duckdb":
        return seed_shop(db.url, scale=scale, random_seed=random_seed)
    # The shop's migrations speak SQLite and PostgreSQL; DuckDB gets their rows by copy
    # (DuckDB's own SQLite reader is an extension it would download).
    with tempfile.TemporaryDirectory(prefix="labkit-seed-") as scratch:
        source = database(f"sqlite:///{Path(scratch) / 'shop.db'}")
        report = seed_shop(source.url, scale=scale, random_seed=random_seed)
        _copy_into_duckdb(source, db, list(report.rows))
        source.dispose()
    return report


def _copy_into_duckdb(source: Database, target: Database, tables: list[str]) -> None:
    import pandas as pd

    with source.engine.connect() as reader, target.engine.begin() as writer:
        duck: Any = writer.connection.driver_connection
        for table in tables:
            duck.register("frame", pd.read_sql_table(table, reader))
            duck.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM frame')
            duck.unregister("frame")
