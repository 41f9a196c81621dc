"""The design review (notebook 14): an architect's own schema, read from wherever it lives.

>>> metadata = lk.review.load_schema("schema.sql")          # DDL, models, Alembic, a URL
"""

from __future__ import annotations

from labkit.review._schema import SchemaSource, load_schema, reflect, transpile_ddl

__all__ = ["SchemaSource", "load_schema", "reflect", "transpile_ddl"]
