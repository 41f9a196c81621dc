"""Shared fixtures: databases of every kind the course runs on, each test with its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from labkit.databases import Database, database

#: SQLite, the embedded PostgreSQL, and the PostgreSQL server in LABKIT_POSTGRES_URL when set.
DATABASE_KINDS = ("sqlite", "postgres-embedded", "postgres-server")


def open_database(kind: str, name: str) -> Database:
    """Create an empty database `name` of `kind` (one of DATABASE_KINDS), or skip saying why."""
    if kind == "sqlite":
        return database("sqlite", name=name, fresh=True)
    if kind == "postgres-server":
        if not os.environ.get("LABKIT_POSTGRES_URL"):
            pytest.skip("LABKIT_POSTGRES_URL is not set; set it to test a PostgreSQL server too")
        return database("postgres", name=name, fresh=True)
    if kind == "postgres-embedded":
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("LABKIT_POSTGRES_URL", raising=False)
            return database("postgres", name=name, fresh=True)
    raise ValueError(f"unknown database kind {kind!r}")


def unique_name(prefix: str = "t") -> str:
    """A database name no other test or xdist worker uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextmanager
def fresh_database(kind: str, prefix: str = "t") -> Iterator[Database]:
    """An empty database of `kind` under a name of its own, dropped afterwards."""
    db = open_database(kind, unique_name(prefix))
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(params=DATABASE_KINDS)
def any_database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty database of each kind in turn, dropped afterwards."""
    with fresh_database(request.param) as db:
        yield db
