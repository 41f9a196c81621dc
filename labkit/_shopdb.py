"""The shop's database behind a `LiveService`, a `Database` or a URL, as one engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import sqlalchemy as sa

from labkit.errors import BadArgument

if TYPE_CHECKING:
    from labkit.databases import Database
    from labkit.service import LiveService


@contextmanager
def shop_engine(target: LiveService | Database | str) -> Iterator[sa.Engine]:
    """The target's own engine, or one made from the URL and disposed of afterwards."""
    database = getattr(target, "db", target)
    engine = getattr(database, "engine", None)
    if isinstance(engine, sa.Engine):
        yield engine
        return
    if not isinstance(target, str):
        raise BadArgument(f"{target!r}: pass a running LiveService, a Database or a database URL")
    made = sa.create_engine(target)
    try:
        yield made
    finally:
        made.dispose()
