"""A database outage on demand: PostgreSQL refuses new connections and drops open ones.

``ALTER DATABASE … ALLOW_CONNECTIONS false`` plus ``pg_terminate_backend`` is what a
service sees when its database goes away (connections cut, reconnects refused), limited
to one database, so nothing else on the server notices. Taught in 10_observability
(health during an outage); faults on the wire itself belong to `labkit.faults`.

>>> with lk.database_outage(svc.db):
...     client.get("/health/ready").status_code
503
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from labkit.databases import Database
from labkit.errors import LabkitError

__all__ = ["database_outage"]


@contextmanager
def database_outage(db: Database) -> Iterator[None]:
    """Make `db` unreachable inside the block, and reachable again when it ends.

    Taught in 10_observability.
    """
    if db.kind != "postgres":
        raise LabkitError(
            f"an outage needs a database server; {db.kind} runs inside the service's process. "
            "Start the service with db='postgres' (embedded or LABKIT_POSTGRES_URL)."
        )
    admin = sa.create_engine(
        make_url(db.url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{db.name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": db.name},
            )
        db.dispose()  # labkit's own pooled connections were cut too
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{db.name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
