"""Alembic environment: runs migrations online against the URL given by ``config()``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from sample_service.models import metadata

url = context.config.attributes["url"]
engine = create_engine(url, poolclass=pool.NullPool)
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            # SQLite cannot ALTER most constraints; batch mode copies the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
