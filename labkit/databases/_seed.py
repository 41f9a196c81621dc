"""`seed()`: the shop's schema and deterministic rows in any database labkit speaks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from labkit.databases._database import Database

if TYPE_CHECKING:
    from sample_service.seed import SeedReport

__all__ = ["seed"]


def seed(db: Database, *, scale: int = 1_000, random_seed: int = 42) -> SeedReport:
    """Create the shop's schema in `db` and fill it with deterministic data (`scale` orders).

    Taught in 00_welcome and 03_indexes_and_explain.

    The same scale and seed give the same rows on every engine, DuckDB included, so plans and
    timings compare like with like. Example: `lk.seed(lk.database("postgres"), scale=100_000)`.
    """
    from sample_service.seed import SeedReport, load_duckdb
    from sample_service.seed import seed as seed_shop

    db.dispose()  # the seeder rebuilds the schema; pooled connections would hold old tables
    if db.kind != "duckdb":
        return seed_shop(db.url, scale=scale, random_seed=random_seed)
    # The shop's migrations speak SQLite and PostgreSQL; DuckDB gets the same generated
    # columns straight from memory.
    started = time.perf_counter()
    with db.engine.begin() as writer:
        duck: Any = writer.connection.driver_connection
        rows = load_duckdb(duck, scale=scale, random_seed=random_seed)
    return SeedReport(url=db.url, scale=scale, rows=rows, seconds=time.perf_counter() - started)
