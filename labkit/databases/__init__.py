"""A database by name: SQLite, PostgreSQL (embedded or yours) and DuckDB behind one small object.

>>> db = database("sqlite")          # a file in the per-user labkit folder
>>> db = database("postgres")        # LABKIT_POSTGRES_URL, else an embedded PostgreSQL
>>> db = database("duckdb", name="sales")
"""

from labkit.databases._database import Database, Kind, database, seed

__all__ = ["Database", "Kind", "database", "seed"]
