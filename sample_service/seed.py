"""Deterministic data at any scale: same ``scale`` and ``random_seed``, same rows.

Columns are generated whole with numpy (never row by row in Python) and loaded in
bulk with indexes built afterwards: ``COPY`` on PostgreSQL, multi-row ``INSERT``s bound
column by column in one transaction on SQLite, so a million orders load in seconds and
the lessons can afford real table sizes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import html
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sqlalchemy import JSON, MetaData, create_engine, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from sample_service import migrations
from sample_service.models import metadata
from sample_service.security import hash_password

KNOWN_PASSWORD = "password123"
KNOWN_ACCOUNTS = (
    ("admin@shop.test", "Ada Admin", "admin"),
    ("staff@shop.test", "Sam Staff", "staff"),
    ("alice@shop.test", "Alice Example", "customer"),
    ("bob@shop.test", "Bob Example", "customer"),
)
CATEGORIES = (
    "Audio", "Books", "Coffee", "Games", "Garden", "Kitchen",
    "Music", "Office", "Outdoor", "Tea", "Tools", "Toys",
)  # fmt: skip
_ADJECTIVES = np.array(["Classic", "Compact", "Deluxe", "Eco", "Handmade", "Large", "Mini",
                        "Modern", "Organic", "Pocket", "Pro", "Rustic", "Smart", "Travel"])  # fmt: skip
_NOUNS = np.array(["Bag", "Blend", "Board", "Bottle", "Box", "Grinder", "Kettle", "Kit", "Lamp",
                   "Mug", "Notebook", "Puzzle", "Speaker", "Tray"])  # fmt: skip
# A fixed calendar, not "now": the same seed gives the same report numbers every day.
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SECONDS_PER_YEAR = 365 * 86_400
# Bound parameters one SQLite statement takes (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
_SQLITE_PARAMETERS = 32_766
LOAD_ORDER = (
    "categories", "users", "products", "orders", "order_items",
    "reviews", "idempotency_keys", "refresh_tokens", "audit_log", "api_keys", "recovery_codes",
    "saga_steps",
    "product_sales", "daily_sales",
)  # fmt: skip


@dataclass(frozen=True)
class SeedReport:
    """What a seed run loaded and how fast."""

    url: str
    scale: int
    rows: dict[str, int]
    seconds: float
    total_rows: int = field(init=False)
    rows_per_second: float = field(init=False)

    def __post_init__(self) -> None:
        total = sum(self.rows.values())
        object.__setattr__(self, "total_rows", total)
        object.__setattr__(self, "rows_per_second", total / self.seconds if self.seconds else 0.0)

    def __repr__(self) -> str:
        tables = ", ".join(f"{name}={count:,}" for name, count in self.rows.items())
        return (
            f"SeedReport({self.total_rows:,} rows in {self.seconds:.2f} s = "
            f"{self.rows_per_second:,.0f} rows/s; {tables})"
        )

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><td>{html.escape(name)}</td><td style='text-align:right'>{count:,}</td></tr>"
            for name, count in self.rows.items()
        )
        return (
            f"<b>Seeded</b> {html.escape(self.url)} (scale {self.scale:,}): "
            f"{self.total_rows:,} rows in {self.seconds:.2f} s, {self.rows_per_second:,.0f} rows/s"
            f"<table><tr><th>table</th><th>rows</th></tr>{body}</table>"
        )


def _numbered(prefix: str, ids: np.ndarray[Any, Any], suffix: str = "") -> np.ndarray[Any, Any]:
    return np.char.add(np.char.add(prefix, ids.astype(str)), suffix)


def generate(scale: int, random_seed: int, password_hash: str) -> dict[str, pd.DataFrame]:
    """Every table's rows as DataFrames, in load order; pure function of its arguments."""
    rng = np.random.default_rng(random_seed)
    n_users, n_products, n_orders = max(20, scale // 10), max(50, scale // 5), scale
    tables: dict[str, pd.DataFrame] = {}

    tables["categories"] = pd.DataFrame(
        {
            "id": np.arange(1, len(CATEGORIES) + 1),
            "name": CATEGORIES,
            "slug": [name.lower() for name in CATEGORIES],
            "description": [f"Everything {name.lower()}" for name in CATEGORIES],
        }
    )

    user_ids = np.arange(1, n_users + 1)
    emails = _numbered("user", user_ids, "@shop.test")
    names = _numbered("Customer ", user_ids)
    roles = np.full(n_users, "customer", dtype=object)
    for i, (email, name, role) in enumerate(KNOWN_ACCOUNTS):
        emails[i], names[i], roles[i] = email, name, role
    user_created = np.sort(rng.integers(0, SECONDS_PER_YEAR // 2, n_users))
    tables["users"] = pd.DataFrame(
        {
            "id": user_ids,
            "email": emails,
            "full_name": names,
            "password_hash": password_hash,  # hashed once: argon2 per row would take minutes
            "role": roles,
            "is_active": True,
            "created_at": (user_created),
        }
    )

    product_ids = np.arange(1, n_products + 1)
    prices = np.round(np.exp(rng.normal(7.5, 0.9, n_products))).astype(np.int64).clip(99, 500_000)
    product_created = np.sort(rng.integers(0, SECONDS_PER_YEAR // 4, n_products))
    product_names = np.char.add(
        np.char.add(rng.choice(_ADJECTIVES, n_products), " "),
        np.char.add(np.char.add(rng.choice(_NOUNS, n_products), " "), product_ids.astype(str)),
    )
    tables["products"] = pd.DataFrame(
        {
            "id": product_ids,
            "category_id": rng.integers(1, len(CATEGORIES) + 1, n_products),
            "sku": np.char.add("SKU-", np.char.zfill(product_ids.astype(str), 7)),
            "name": product_names,
            "description": "",
            "price_cents": prices,
            "stock": rng.integers(0, 500, n_products),
            "version": 1,
            "created_at": product_created,
            "updated_at": product_created,
        }
    )

    # Items: 1 to 4 distinct products per order (stride < n/3 keeps them distinct), mean 2.5.
    order_ids = np.arange(1, n_orders + 1)
    per_order = rng.integers(1, 5, n_orders)
    item_order = np.repeat(order_ids, per_order)
    position = np.arange(len(item_order)) - np.repeat(np.cumsum(per_order) - per_order, per_order)
    base = np.repeat(rng.integers(0, n_products, n_orders), per_order)
    stride = np.repeat(rng.integers(1, n_products // 3, n_orders), per_order)
    item_product = (base + position * stride) % n_products + 1
    quantity = rng.integers(1, 4, len(item_order))
    unit_price = prices[item_product - 1]
    totals = np.bincount(item_order - 1, weights=quantity * unit_price, minlength=n_orders)
    order_seconds = np.sort(rng.integers(SECONDS_PER_YEAR // 4, SECONDS_PER_YEAR, n_orders))
    order_created = order_seconds
    tables["orders"] = pd.DataFrame(
        {
            "id": order_ids,
            "user_id": rng.integers(1, n_users + 1, n_orders),
            "status": rng.choice(
                ["placed", "paid", "shipped", "cancelled"], n_orders, p=[0.15, 0.55, 0.2, 0.1]
            ),
            "total_cents": totals.astype(np.int64),
            "created_at": order_created,
            "updated_at": order_created,
        }
    )
    tables["order_items"] = pd.DataFrame(
        {
            "id": np.arange(1, len(item_order) + 1),
            "order_id": item_order,
            "product_id": item_product,
            "quantity": quantity,
            "unit_price_cents": unit_price,
        }
    )

    # Reviews: distinct (user, product) pairs, ratings leaning positive.
    wanted = min(scale // 2, n_users * n_products)
    pairs = np.unique(rng.integers(0, n_users * n_products, wanted + wanted // 5 + 10))
    pairs = rng.permutation(pairs)[:wanted]
    tables["reviews"] = pd.DataFrame(
        {
            "id": np.arange(1, len(pairs) + 1),
            "user_id": pairs // n_products + 1,
            "product_id": pairs % n_products + 1,
            "rating": rng.choice([1, 2, 3, 4, 5], len(pairs), p=[0.05, 0.07, 0.15, 0.33, 0.4]),
            "body": "",
            "created_at": (rng.integers(SECONDS_PER_YEAR // 4, SECONDS_PER_YEAR, len(pairs))),
        }
    )

    # Replayable responses for a tenth of the orders (the keys a retrying client used).
    keyed = order_ids[:: max(1, 10)]
    keyed_users = tables["orders"]["user_id"].to_numpy()[keyed - 1]
    tables["idempotency_keys"] = pd.DataFrame(
        {
            "id": np.arange(1, len(keyed) + 1),
            "user_id": keyed_users,
            "key": _numbered("seed-order-", keyed),
            "request_hash": np.char.zfill(keyed.astype(str), 64),
            "status_code": 201,
            "response_body": np.char.add(np.char.add('{"id":', keyed.astype(str)), "}"),
            "resource_path": _numbered("/v1/orders/", keyed),
            "created_at": order_created[keyed - 1],
        }
    )

    # Checkout sagas: paid and shipped orders went through all three steps when placed.
    settled = order_ids[np.isin(tables["orders"]["status"].to_numpy(), ["paid", "shipped"])]
    steps = ["stock_reserved", "payment_authorized", "order_confirmed"]
    tables["saga_steps"] = pd.DataFrame(
        {
            "id": np.arange(1, len(steps) * len(settled) + 1),
            "order_id": np.repeat(settled, len(steps)),
            "step": np.tile(steps, len(settled)),
            "created_at": np.repeat(order_created[settled - 1], len(steps)),
        }
    )

    # Refresh tokens: one used, expired token per user (their digests are unguessable).
    issued = rng.integers(0, SECONDS_PER_YEAR, n_users)
    tables["refresh_tokens"] = pd.DataFrame(
        {
            "id": user_ids,
            "user_id": user_ids,
            "family_id": np.char.add(
                "00000000-0000-4000-8000-", np.char.zfill(user_ids.astype(str), 12)
            ),
            "token_hash": np.char.add("seed", np.char.zfill(user_ids.astype(str), 60)),
            "issued_at": (issued),
            "expires_at": (issued + 7 * 86_400),
            "used_at": (issued + 300),
        }
    )

    # Audit: every product's creation, by the staff account.
    tables["audit_log"] = pd.DataFrame(
        {
            "id": product_ids,
            "actor_id": 2,
            "action": "create",
            "entity": "product",
            "entity_id": product_ids.astype(str),
            "detail": "{}",
            "created_at": product_created,
        }
    )
    # Security: one revoked API key and one spent recovery code per user; their digests
    # match no key or code anyone holds.
    padded = np.char.zfill(user_ids.astype(str), 60)
    tables["api_keys"] = pd.DataFrame(
        {
            "id": user_ids,
            "user_id": user_ids,
            "name": "seed",
            "prefix": np.char.add("seed", np.char.zfill(user_ids.astype(str), 8)),
            "key_hash": np.char.add("seed", padded),
            "scope": "read",
            "created_at": issued,
            "revoked_at": issued + 86_400,
        }
    )
    tables["recovery_codes"] = pd.DataFrame(
        {
            "id": user_ids,
            "user_id": user_ids,
            "code_hash": np.char.add("seed", padded),
            "used_at": issued + 600,
        }
    )
    # The sales read model caught up with every seeded order (their events long delivered);
    # the queue tables start empty: a freshly seeded shop has no work in flight.
    live = tables["orders"]["status"].to_numpy()[item_order - 1] != "cancelled"
    sold = pd.DataFrame({"product_id": item_product[live], "quantity": quantity[live],
                         "at": order_created[item_order - 1][live]})  # fmt: skip
    sales = sold.groupby("product_id").agg(
        orders=("quantity", "size"), units=("quantity", "sum"), updated_at=("at", "max")
    )
    tables["product_sales"] = sales.reset_index()
    day = (np.datetime64(EPOCH.replace(tzinfo=None), "s") + sold["at"].to_numpy()).astype("M8[D]")
    sold["day"], sold["order"] = day.astype(str), item_order[live]
    sold["revenue"] = quantity[live] * unit_price[live]
    daily = sold.groupby("day").agg(
        orders=("order", "nunique"), units=("quantity", "sum"),
        revenue_cents=("revenue", "sum"), updated_at=("at", "max"),
    )  # fmt: skip
    tables["daily_sales"] = daily.reset_index()
    return tables


@functools.cache
def _known_password_hash() -> str:
    """One argon2 hash of ``KNOWN_PASSWORD`` per process: each hash costs a deliberate ~0.3 s."""
    return hash_password(KNOWN_PASSWORD)


def _reset_schema(engine: Engine, url: str) -> None:
    """Drop every table (lessons may have added their own), then migrate to head."""
    existing = MetaData()
    existing.reflect(engine)
    existing.drop_all(engine)
    migrations.upgrade(url, "head")


def _rendered(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> duckdb.DuckDBPyRelation:
    """The frame with ``*_at`` seconds rendered as timestamp text, vectorised by DuckDB.

    Text in SQLAlchemy's SQLite format (SQLite compares it as strings); PostgreSQL
    reads it as UTC because the loader sets the session time zone.
    """
    con.register("frame", frame)
    columns = [
        f"strftime(TIMESTAMP '{EPOCH:%Y-%m-%d}' + to_seconds({c}), '%Y-%m-%d %H:%M:%S.%f') AS {c}"
        if c.endswith("_at")
        else c
        for c in frame.columns
    ]
    return con.sql(f"SELECT {', '.join(columns)} FROM frame")


def _duckdb() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for rendering columns, silent (its progress bar would print)."""
    con = duckdb.connect()
    # In Jupyter without ipywidgets DuckDB draws no bar and refuses the setting.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    return con


def _load_sqlite(engine: Engine, tables: dict[str, pd.DataFrame]) -> None:
    """One transaction of multi-row ``INSERT``s, secondary indexes built at the end.

    Each statement carries as many rows as SQLite takes parameters, bound from a flat list
    built column by column: no Python tuple per row, and one statement step per batch.
    """
    indexes = [index for table in metadata.sorted_tables for index in table.indexes]
    raw: Any = engine.raw_connection()
    con = _duckdb()
    try:
        connection = raw.driver_connection
        connection.isolation_level = None
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")  # 256 MiB: index pages stay in memory
        connection.execute("BEGIN")
        # Secondary indexes are built once after the load, not updated row by row.
        for index in indexes:
            connection.execute(str(DropIndex(index).compile(dialect=engine.dialect)))
        for name, frame in tables.items():
            _insert_batches(connection, name, _rendered(con, frame).fetchnumpy())
        for index in indexes:
            connection.execute(str(CreateIndex(index).compile(dialect=engine.dialect)))
        connection.execute("COMMIT")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA analysis_limit=1000")  # sampled statistics: seconds, not minutes
        connection.execute("ANALYZE")
    finally:
        con.close()
        raw.close()


def _insert_batches(connection: Any, name: str, columns: dict[str, Any]) -> None:
    """Insert the columns into table ``name``, ``_SQLITE_PARAMETERS // width`` rows a statement."""
    width, count = len(columns), len(next(iter(columns.values())))
    cells = np.empty((count, width), dtype=object)
    for position, values in enumerate(columns.values()):
        cells[:, position] = values.tolist()  # Python ints and str, which sqlite3 binds
    per_batch = _SQLITE_PARAMETERS // width
    whole = count - count % per_batch
    row = f"({', '.join('?' * width)})"
    insert = f"INSERT INTO {name} ({', '.join(columns)}) VALUES "
    if whole:
        batches = cells[:whole].reshape(-1, per_batch * width).tolist()
        connection.executemany(insert + ", ".join([row] * per_batch), batches)
    if count > whole:
        connection.execute(
            insert + ", ".join([row] * (count - whole)), cells[whole:].ravel().tolist()
        )


def _load_postgres(engine: Engine, tables: dict[str, pd.DataFrame]) -> None:
    """COPY every table in one transaction, foreign keys and secondary indexes dropped meanwhile.

    A foreign key checks each copied row with its own lookup, an index takes each row one
    insert at a time; adding them back after the load validates all rows in one join and
    builds each index in one sort, many times faster for millions of rows.
    """
    foreign_keys = [fk for table in metadata.sorted_tables for fk in table.foreign_key_constraints]
    indexes = [index for table in metadata.sorted_tables for index in table.indexes]
    raw: Any = engine.raw_connection()
    con = _duckdb()
    try:
        with tempfile.TemporaryDirectory() as tmp, raw.driver_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
            cursor.execute("SET maintenance_work_mem = '256MB'")  # faster foreign-key validation
            for fk in foreign_keys:
                cursor.execute(str(DropConstraint(fk).compile(dialect=engine.dialect)))
            for index in indexes:
                cursor.execute(str(DropIndex(index).compile(dialect=engine.dialect)))
            for name, frame in tables.items():
                path = Path(tmp, f"{name}.csv")
                _rendered(con, frame).write_csv(str(path), header=False)
                columns = ", ".join(frame.columns)
                sql = f"COPY {name} ({columns}) FROM STDIN WITH (FORMAT csv)"
                with cursor.copy(sql) as copy, path.open("rb") as source:
                    while chunk := source.read(1 << 20):
                        copy.write(chunk)
                if "id" in frame.columns:  # a read model keyed by product has no sequence
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {name}))"
                    )
            for index in indexes:
                cursor.execute(str(CreateIndex(index).compile(dialect=engine.dialect)))
            for fk in foreign_keys:
                cursor.execute(str(AddConstraint(fk).compile(dialect=engine.dialect)))
        raw.commit()
        raw.driver_connection.autocommit = True
        raw.driver_connection.execute("ANALYZE")
    finally:
        con.close()
        raw.close()


def load_duckdb(
    con: duckdb.DuckDBPyConnection, *, scale: int, random_seed: int = 42
) -> dict[str, int]:
    """The same rows into DuckDB, each table made from its generated columns in one statement.

    DuckDB scans the DataFrames in place (no row leaves C++): no migrations there, so each
    table takes the model's columns, those the generator leaves empty as typed NULLs.
    Returns the rows per table.
    """
    tables = generate(scale, random_seed, _known_password_hash())
    rows = {}
    for name in LOAD_ORDER:
        frame = tables[name]
        con.register("frame", frame)
        columns = ", ".join(
            _duckdb_column(column.name, column.type, column.name in frame.columns)
            for column in metadata.tables[name].columns
        )
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT {columns} FROM frame')
        con.unregister("frame")
        rows[name] = len(frame)
    return rows


def _duckdb_column(name: str, sql_type: Any, generated: bool) -> str:
    """A column of the CREATE TABLE AS: ``*_at`` seconds as timestamps, a missing one as NULL."""
    if name.endswith("_at"):
        value = f"TIMESTAMP '{EPOCH:%Y-%m-%d}' + to_seconds({name})" if generated else "NULL"
        return f"CAST({value} AS TIMESTAMP) AS {name}"
    if generated:
        return name
    kind = "VARCHAR" if isinstance(sql_type, JSON) else sql_type.compile()
    return f"CAST(NULL AS {kind}) AS {name}"


_LOADERS: dict[str, Callable[[Engine, dict[str, pd.DataFrame]], None]] = {
    "sqlite": _load_sqlite,
    "postgresql": _load_postgres,
}


def seed(url: str, *, scale: int = 1_000, random_seed: int = 42) -> SeedReport:
    """Recreate the schema at ``url`` and load deterministic data; ``scale`` = number of orders.

    Other tables scale with it: users ~ scale/10 (min 20), products ~ scale/5 (min 50),
    12 categories, ~2.5 items per order, reviews ~ scale/2. The accounts admin@, staff@,
    alice@ and bob@shop.test (``KNOWN_ACCOUNTS``) always exist with password ``KNOWN_PASSWORD``.

    >>> seed("sqlite:///shop.db", scale=10_000)  # doctest: +SKIP
    SeedReport(… rows in 0.9 s = … rows/s; categories=12, users=1,000, …)
    """
    if scale < 1:
        msg = f"scale must be at least 1 order, got {scale}"
        raise ValueError(msg)
    backend = make_url(url).get_backend_name()
    if backend not in _LOADERS:
        msg = f"seeding supports sqlite and postgresql URLs, not {backend!r}"
        raise ValueError(msg)
    started = time.perf_counter()
    engine = create_engine(url)
    try:
        _reset_schema(engine, url)
        tables = generate(scale, random_seed, _known_password_hash())
        _LOADERS[backend](engine, {name: tables[name] for name in LOAD_ORDER})
        with engine.connect() as conn:
            rows = {
                name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
                for name in LOAD_ORDER
            }
    finally:
        engine.dispose()
    return SeedReport(
        url=make_url(url).render_as_string(hide_password=True),
        scale=scale,
        rows=rows,
        seconds=time.perf_counter() - started,
    )
