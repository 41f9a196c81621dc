"""A database by name: SQLite, PostgreSQL (embedded or yours) and DuckDB behind one small object.

>>> db = database("sqlite")          # a file in the per-user labkit folder
>>> db = database("postgres")        # LABKIT_POSTGRES_URL, else an embedded PostgreSQL
>>> db = database("duckdb", name="sales")
>>> db = database("mysql")           # the MySQL/MariaDB server in LABKIT_MYSQL_URL
>>> seed(db, scale=10_000)           # the shop's schema and rows, the same on every engine
>>> rep = replica("shop")            # a primary and its streaming replica: rep.primary, rep.url

The embedded PostgreSQL lives in `_embedded` (its clients' side) and `_keeper` (the process that
runs the server); what both need is in `_pgshared`. Its streaming standby is in `_replica`.
"""

from labkit.databases._database import Database, Kind, database, postgres_database_names
from labkit.databases._pgshared import bin_dir as postgres_bin_dir
from labkit.databases._replica import Lag, Replica, replica
from labkit.databases._seed import seed

__all__ = [
    "Database",
    "Kind",
    "Lag",
    "Replica",
    "database",
    "postgres_bin_dir",
    "postgres_database_names",
    "replica",
    "seed",
]
