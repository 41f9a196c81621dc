"""Backups: a round trip on every engine gives back the same rows, proved by checksums."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from labkit.backup import backup, checksums, restore
from labkit.databases import Database, database, seed
from tests.conftest import DATABASE_KINDS, fresh_database, unique_name


@pytest.fixture(params=[*DATABASE_KINDS, "duckdb"])
def shop(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A small seeded shop on each engine, dropped afterwards."""
    if request.param == "duckdb":
        db = database("duckdb", name=unique_name("bk"), fresh=True)
        seed(db, scale=20)
        yield db
        db.drop()
        return
    with fresh_database(request.param, "bk") as db:
        seed(db, scale=20)
        yield db


def test_a_restore_after_the_database_is_dropped_gives_back_every_row(
    shop: Database, tmp_path: Path
) -> None:
    before = checksums(shop)
    taken = backup(shop, tmp_path / "shop.backup")
    assert taken.bytes > 0 and taken.path.exists()
    shop.drop()
    restored = restore(taken)
    assert restored.db == shop
    after = checksums(shop)
    assert before["rows"].sum() > 0
    assert after.equals(before)


def test_checksums_see_a_changed_row(shop: Database) -> None:
    before = checksums(shop)
    with shop.engine.begin() as conn:
        conn.execute(sa.text("UPDATE products SET stock = stock + 1 WHERE id = 1"))
    shop.dispose()
    after = checksums(shop).set_index("table")
    changed = after["sha256"] != before.set_index("table")["sha256"]
    assert list(after.index[changed]) == ["products"]
