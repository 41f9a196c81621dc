"""The Chinook sample schema (a digital media store), its data made up at scale, and a workload.

Schema: Chinook by Luis Rocha, MIT licence (github.com/lerocha/chinook-database), with the
snake_case names of its PostgreSQL edition and its foreign-key indexes; address and phone
columns are left out, and `ix_customer_email` is added so a function on an indexed column
can be shown. The rows are not Chinook's: `generate` makes them from a seed, a few hundred
thousand of them, the same on every engine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from labkit.databases import Database

metadata = sa.MetaData()
_id = {"autoincrement": False, "primary_key": True}

artist = sa.Table(
    "artist", metadata, sa.Column("artist_id", sa.Integer, **_id), sa.Column("name", sa.String(120))
)
album = sa.Table(
    "album",
    metadata,
    sa.Column("album_id", sa.Integer, **_id),
    sa.Column("title", sa.String(160), nullable=False),
    sa.Column("artist_id", sa.ForeignKey("artist.artist_id"), nullable=False, index=True),
)
genre = sa.Table(
    "genre", metadata, sa.Column("genre_id", sa.Integer, **_id), sa.Column("name", sa.String(120))
)
media_type = sa.Table(
    "media_type",
    metadata,
    sa.Column("media_type_id", sa.Integer, **_id),
    sa.Column("name", sa.String(120)),
)
track = sa.Table(
    "track",
    metadata,
    sa.Column("track_id", sa.Integer, **_id),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("album_id", sa.ForeignKey("album.album_id"), index=True),
    sa.Column(
        "media_type_id", sa.ForeignKey("media_type.media_type_id"), nullable=False, index=True
    ),
    sa.Column("genre_id", sa.ForeignKey("genre.genre_id"), index=True),
    sa.Column("composer", sa.String(220)),
    sa.Column("milliseconds", sa.Integer, nullable=False),
    sa.Column("bytes", sa.Integer),
    sa.Column("unit_price", sa.Numeric(10, 2, asdecimal=False), nullable=False),
)
playlist = sa.Table(
    "playlist",
    metadata,
    sa.Column("playlist_id", sa.Integer, **_id),
    sa.Column("name", sa.String(120)),
)
playlist_track = sa.Table(
    "playlist_track",
    metadata,
    sa.Column("playlist_id", sa.ForeignKey("playlist.playlist_id"), primary_key=True),
    sa.Column("track_id", sa.ForeignKey("track.track_id"), primary_key=True, index=True),
)
employee = sa.Table(
    "employee",
    metadata,
    sa.Column("employee_id", sa.Integer, **_id),
    sa.Column("last_name", sa.String(20), nullable=False),
    sa.Column("first_name", sa.String(20), nullable=False),
    sa.Column("title", sa.String(30)),
    sa.Column("reports_to", sa.ForeignKey("employee.employee_id"), index=True),
    sa.Column("hire_date", sa.DateTime),
    sa.Column("email", sa.String(60)),
)
customer = sa.Table(
    "customer",
    metadata,
    sa.Column("customer_id", sa.Integer, **_id),
    sa.Column("first_name", sa.String(40), nullable=False),
    sa.Column("last_name", sa.String(20), nullable=False),
    sa.Column("city", sa.String(40)),
    sa.Column("country", sa.String(40)),
    sa.Column("email", sa.String(60), nullable=False),
    sa.Column("support_rep_id", sa.ForeignKey("employee.employee_id"), index=True),
    sa.Index("ix_customer_email", "email"),
)
invoice = sa.Table(
    "invoice",
    metadata,
    sa.Column("invoice_id", sa.Integer, **_id),
    sa.Column("customer_id", sa.ForeignKey("customer.customer_id"), nullable=False, index=True),
    sa.Column("invoice_date", sa.DateTime, nullable=False),
    sa.Column("billing_country", sa.String(40)),
    sa.Column("total", sa.Numeric(10, 2, asdecimal=False), nullable=False),
)
invoice_line = sa.Table(
    "invoice_line",
    metadata,
    sa.Column("invoice_line_id", sa.Integer, **_id),
    sa.Column("invoice_id", sa.ForeignKey("invoice.invoice_id"), nullable=False, index=True),
    sa.Column("track_id", sa.ForeignKey("track.track_id"), nullable=False, index=True),
    sa.Column("unit_price", sa.Numeric(10, 2, asdecimal=False), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
)

#: Rows per table at scale 1: about 300,000 in all.
SIZES = {
    "artist": 2_000,
    "album": 6_000,
    "genre": 25,
    "media_type": 5,
    "track": 60_000,
    "playlist": 20,
    "playlist_track": 60_000,
    "employee": 50,
    "customer": 6_000,
    "invoice": 40_000,
    "invoice_line": 120_000,
}
COUNTRIES = ["USA", "Canada", "Brazil", "France", "Germany", "India", "Chile", "Portugal"]
_WORDS = ["Love", "Night", "Rock", "Blue", "Road", "Fire", "Dream", "Light", "Rain", "Gold"]


def _name(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)) + f" {rng.randrange(10_000)}"


def generate(seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, parents before children, the same for the same seed."""
    rng = random.Random(seed)
    n = SIZES
    start = datetime(2021, 1, 1)
    rows: dict[str, list[dict[str, Any]]] = {
        "artist": [{"artist_id": i, "name": _name(rng, 2)} for i in range(1, n["artist"] + 1)],
        "genre": [{"genre_id": i, "name": f"Genre {i}"} for i in range(1, n["genre"] + 1)],
        "media_type": [
            {"media_type_id": i, "name": f"Media {i}"} for i in range(1, n["media_type"] + 1)
        ],
        "playlist": [
            {"playlist_id": i, "name": f"Playlist {i}"} for i in range(1, n["playlist"] + 1)
        ],
    }
    rows["album"] = [
        {"album_id": i, "title": _name(rng, 3), "artist_id": rng.randint(1, n["artist"] - 200)}
        for i in range(1, n["album"] + 1)
    ]  # the last 200 artists have no album
    rows["track"] = [
        {
            "track_id": i,
            "name": _name(rng, 2),
            "album_id": rng.randint(1, n["album"]),
            "media_type_id": rng.randint(1, n["media_type"]),
            "genre_id": min(int(rng.expovariate(0.25)) + 1, n["genre"]),  # a few genres dominate
            "composer": f"Composer {rng.randrange(3_000)}" if rng.random() < 0.7 else None,
            "milliseconds": rng.randint(30_000, 600_000),
            "bytes": rng.randint(1_000_000, 20_000_000),
            "unit_price": rng.choice([0.99, 1.99]),
        }
        for i in range(1, n["track"] + 1)
    ]
    pairs = {
        (rng.randint(1, n["playlist"]), rng.randint(1, n["track"]))
        for _ in range(n["playlist_track"])
    }
    rows["playlist_track"] = [{"playlist_id": p, "track_id": t} for p, t in sorted(pairs)]
    rows["employee"] = [
        {
            "employee_id": i,
            "last_name": f"Last{i}",
            "first_name": f"First{i}",
            "title": "General Manager" if i == 1 else "Sales Support Agent",
            "reports_to": None if i == 1 else rng.randint(1, i - 1),
            "hire_date": start - timedelta(days=rng.randrange(3_000)),
            "email": f"employee{i}@chinookcorp.com",
        }
        for i in range(1, n["employee"] + 1)
    ]
    rows["customer"] = [
        {
            "customer_id": i,
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "city": f"City {rng.randrange(300)}",
            "country": rng.choice(COUNTRIES),
            "email": f"Customer{i}@Example.com",
            "support_rep_id": rng.randint(2, n["employee"]),
        }
        for i in range(1, n["customer"] + 1)
    ]
    rows["invoice"] = [
        {
            "invoice_id": i,
            "customer_id": rng.randint(1, n["customer"]),
            "invoice_date": start + timedelta(minutes=rng.randrange(3 * 365 * 24 * 60)),
            "billing_country": rng.choice(COUNTRIES),
            "total": round(rng.uniform(0.99, 25.0), 2),
        }
        for i in range(1, n["invoice"] + 1)
    ]
    rows["invoice_line"] = [
        {
            "invoice_line_id": i,
            "invoice_id": rng.randint(1, n["invoice"]),
            "track_id": rng.randint(1, n["track"] - 5_000),  # the last 5,000 tracks never sold
            "unit_price": rng.choice([0.99, 1.99]),
            "quantity": rng.randint(1, 3),
        }
        for i in range(1, n["invoice_line"] + 1)
    ]
    return rows


def load(db: Database, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Create the schema in `db` and insert `rows`, then give the planner fresh statistics."""
    metadata.create_all(db.engine)
    with db.engine.begin() as conn:
        for table in metadata.sorted_tables:
            columns = list(table.c.keys())
            if db.kind == "duckdb":  # DuckDB takes a DataFrame far faster than row inserts
                _duckdb_insert(conn, table, rows[table.name])
            elif db.kind == "postgres":  # COPY: the bulk path PostgreSQL has for this
                driver: Any = conn.connection.driver_connection
                driver.execute("SET session_replication_role = replica")  # no per-row FK checks
                with driver.cursor().copy(
                    f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
                ) as copy:
                    for row in rows[table.name]:
                        copy.write_row([row[c] for c in columns])
            elif db.kind == "mysql":
                _mysql_insert(db, table, rows[table.name])
            else:
                conn.execute(table.insert(), rows[table.name])
    if db.kind == "postgres":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    elif db.kind == "sqlite":
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    elif db.kind == "mysql":
        with db.engine.begin() as conn:
            for table in metadata.sorted_tables:
                conn.exec_driver_sql(f"ANALYZE TABLE {table.name}").all()


def _mysql_insert(db: Database, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """LOAD DATA LOCAL INFILE from a CSV file: the bulk path MySQL has for this."""
    import csv
    import tempfile

    columns = list(table.c.keys())
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="") as file:
        writer = csv.writer(file)
        writer.writerows([["\\N" if r[c] is None else r[c] for c in columns] for r in rows])
        file.flush()
        engine = sa.create_engine(db.url, connect_args={"local_infile": True})
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("SET foreign_key_checks = 0, unique_checks = 0")
                conn.exec_driver_sql(
                    f"LOAD DATA LOCAL INFILE '{file.name}' INTO TABLE {table.name} "
                    f"FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' "
                    f"({', '.join(columns)})"
                )
        finally:
            engine.dispose()


def _duckdb_insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert from a DataFrame; a table referring to itself goes in one level at a time,
    since DuckDB checks a foreign key against rows already there, not the same statement's."""
    import pandas as pd

    duck: Any = conn.connection.driver_connection
    selfref = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
    batches = [rows]
    if selfref:
        batches = [[r for r in rows if r[selfref[0]] is None], [r for r in rows if r[selfref[0]]]]
        batches[1:] = [[r] for r in batches[1]]
    for batch in batches:
        frame = pd.DataFrame(batch, columns=list(table.c.keys())).convert_dtypes()
        duck.register("frame", frame)  # nullable dtypes keep NULLs in integer columns
        duck.execute(f"INSERT INTO {table.name} SELECT * FROM frame")
        duck.unregister("frame")


@dataclass(frozen=True)
class Query:
    """One query of the workload: its kind, its SQL, its parameters, and names that are not
    tables (CTEs, derived tables), which a plan may scan without reading a table."""

    kind: str
    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    virtual: frozenset[str] = frozenset()


WORKLOAD = [
    Query("3-table join", "SELECT t.name, al.title FROM track t JOIN album al ON al.album_id = "
          "t.album_id JOIN artist ar ON ar.artist_id = al.artist_id WHERE ar.name = :artist",
          {"artist": "Rock Love 42"}),
    Query("4-table join, top n", "SELECT ar.name, sum(il.unit_price * il.quantity) AS revenue "
          "FROM invoice_line il JOIN track t ON t.track_id = il.track_id JOIN album al ON "
          "al.album_id = t.album_id JOIN artist ar ON ar.artist_id = al.artist_id "
          "GROUP BY ar.name ORDER BY revenue DESC LIMIT 5"),
    Query("5-table join", "SELECT c.country, count(*) AS n FROM customer c JOIN invoice i ON "
          "i.customer_id = c.customer_id JOIN invoice_line il ON il.invoice_id = i.invoice_id "
          "JOIN track t ON t.track_id = il.track_id JOIN genre g ON g.genre_id = t.genre_id "
          "WHERE g.name = :genre GROUP BY c.country ORDER BY c.country", {"genre": "Genre 9"}),
    Query("group by having", "SELECT customer_id, count(*) AS n, sum(total) AS spent FROM invoice "
          "GROUP BY customer_id HAVING count(*) > :n ORDER BY n DESC, customer_id", {"n": 12}),
    Query("correlated subquery", "SELECT t.track_id FROM track t WHERE t.genre_id = :g AND "
          "t.milliseconds > (SELECT avg(t2.milliseconds) FROM track t2 WHERE t2.album_id = "
          "t.album_id)", {"g": 12}),
    Query("uncorrelated IN subquery", "SELECT count(*) FROM customer WHERE customer_id IN "
          "(SELECT customer_id FROM invoice WHERE total > :t)", {"t": 24.5}),
    Query("exists", "SELECT c.customer_id FROM customer c WHERE c.country = :country AND EXISTS "
          "(SELECT 1 FROM invoice i WHERE i.customer_id = c.customer_id AND i.total > :t)",
          {"country": "Chile", "t": 24.0}),
    Query("not exists", "SELECT count(*) FROM track t WHERE NOT EXISTS (SELECT 1 FROM "
          "invoice_line il WHERE il.track_id = t.track_id)"),
    Query("cte", "WITH spend AS (SELECT customer_id, sum(total) AS s FROM invoice GROUP BY "
          "customer_id) SELECT c.country, avg(sp.s) AS average FROM spend sp JOIN customer c ON "
          "c.customer_id = sp.customer_id GROUP BY c.country ORDER BY c.country",
          virtual=frozenset({"spend", "sp"})),
    Query("recursive cte", "WITH RECURSIVE chain(employee_id, depth) AS (SELECT employee_id, 0 "
          "FROM employee WHERE reports_to IS NULL UNION ALL SELECT e.employee_id, c.depth + 1 "
          "FROM employee e JOIN chain c ON e.reports_to = c.employee_id) SELECT depth, count(*) "
          "AS n FROM chain GROUP BY depth ORDER BY depth", virtual=frozenset({"chain", "c"})),
    Query("window", "SELECT customer_id, invoice_id, row_number() OVER (PARTITION BY customer_id "
          "ORDER BY invoice_date DESC) AS rn FROM invoice WHERE billing_country = :country",
          {"country": "India"}),
    Query("window in derived table", "SELECT x.genre_id, x.track_id FROM (SELECT genre_id, "
          "track_id, rank() OVER (PARTITION BY genre_id ORDER BY milliseconds DESC) AS r "
          "FROM track) x WHERE x.r <= 3", virtual=frozenset({"x"})),
    Query("order by limit", "SELECT invoice_id, total FROM invoice WHERE billing_country = "
          ":country ORDER BY invoice_date DESC LIMIT 10", {"country": "Brazil"}),
    Query("like prefix", "SELECT track_id, name FROM track WHERE name LIKE :prefix",
          {"prefix": "Gold Rain%"}),
    Query("like infix", "SELECT count(*) FROM album WHERE title LIKE :part", {"part": "%Fire Fire%"}),
    Query("or", "SELECT track_id FROM track WHERE composer = :composer OR album_id = :album",
          {"composer": "Composer 17", "album": 99}),
    Query("in list", "SELECT count(*) FROM track WHERE genre_id IN (20, 21, 22)"),
    Query("union", "SELECT email FROM customer WHERE country = :country UNION "
          "SELECT email FROM employee", {"country": "Portugal"}),
    Query("union all, order, limit", "SELECT name FROM artist WHERE name LIKE :a UNION ALL "
          "SELECT name FROM genre ORDER BY name LIMIT 20", {"a": "Blue%"}),
    Query("distinct", "SELECT DISTINCT billing_country FROM invoice WHERE total > :t", {"t": 20.0}),
    Query("function on an indexed column", "SELECT customer_id FROM customer WHERE lower(email) "
          "= :email", {"email": "customer77@example.com"}),
    Query("string bound against a timestamp", "SELECT count(*) FROM invoice WHERE invoice_date "
          ">= :since AND invoice_date < :until", {"since": "2022-03-01", "until": "2022-03-08"}),
    Query("derived table", "SELECT x.album_id, x.n FROM (SELECT album_id, count(*) AS n FROM "
          "track GROUP BY album_id) x WHERE x.n > :n", {"n": 19}, frozenset({"x"})),
    Query("comma join", "SELECT al.title FROM album al, artist ar WHERE al.artist_id = "
          "ar.artist_id AND ar.name LIKE :prefix", {"prefix": "Night Dream%"}),
    Query("left join, anti", "SELECT ar.artist_id FROM artist ar LEFT JOIN album al ON "
          "al.artist_id = ar.artist_id WHERE al.album_id IS NULL"),
    Query("scalar subquery in select", "SELECT c.customer_id, (SELECT max(i.invoice_date) FROM "
          "invoice i WHERE i.customer_id = c.customer_id) AS last FROM customer c WHERE "
          "c.city = :city", {"city": "City 7"}),
    Query("between", "SELECT count(*) FROM track WHERE milliseconds BETWEEN :lo AND :hi",
          {"lo": 200_000, "hi": 201_000}),
    Query("bare count", "SELECT count(*) FROM invoice_line"),
    Query("playlist join", "SELECT p.name, count(*) AS n FROM playlist p JOIN playlist_track pt "
          "ON pt.playlist_id = p.playlist_id GROUP BY p.name ORDER BY p.name"),
]  # fmt: skip
