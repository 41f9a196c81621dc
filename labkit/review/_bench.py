"""The generator's bench figures: rows per second of synthetic data loaded through the bulk path.

`labkit bench` reports them as `synth_sqlite` / `synth_postgres` (it imports this; not back).
"""

from __future__ import annotations

from typing import Any

from labkit.databases import database
from labkit.review._load import load
from labkit.review._schema import load_schema
from labkit.review._synth import generate

__all__ = ["BENCH_SCHEMA", "synthesis_figures"]

#: A small shop-like schema with every feature the generator handles: a self-reference, a
#: composite key, CHECKs, a unique natural key and Zipf-skewed foreign keys.
BENCH_SCHEMA = """
CREATE TABLE categories (
    id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL UNIQUE,
    parent_id INTEGER REFERENCES categories (id)
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY, sku VARCHAR(16) NOT NULL UNIQUE,
    category_id INTEGER NOT NULL REFERENCES categories (id),
    price_cents INTEGER NOT NULL CHECK (price_cents BETWEEN 1 AND 1000000),
    status VARCHAR(8) NOT NULL CHECK (status IN ('draft', 'live', 'retired'))
);
CREATE TABLE carts (id INTEGER PRIMARY KEY, created_at TIMESTAMP NOT NULL);
CREATE TABLE cart_lines (
    cart_id INTEGER NOT NULL REFERENCES carts (id),
    product_id INTEGER NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0 AND quantity <= 20),
    PRIMARY KEY (cart_id, product_id)
);
"""


def synthesis_figures(kind: str = "sqlite", rows: int = 50_000) -> dict[str, Any]:
    """Generate `rows` per table of `BENCH_SCHEMA`, load them into a fresh `kind` database."""
    db = database(kind, name="labkit_bench_synth", fresh=True)
    try:
        data = generate(load_schema(BENCH_SCHEMA), rows, seed=0)
        report = load(data, db)  # creates the tables: PostgreSQL adds keys after COPY
    finally:
        db.drop()
    return {
        "engine": report.engine,
        "seconds": report.seconds,
        "rate": report.rows_per_second,
        "note": (
            f"{report.total_rows:,} rows in 4 tables, every constraint checked by the database; "
            f"generated at {report.total_rows / data.seconds:,.0f} rows/s"
        ),
    }
