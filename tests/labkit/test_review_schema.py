"""A schema from DDL, models, an Alembic folder or a live database, as the same `MetaData`."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import sample_service.models
from labkit.errors import ReviewError
from labkit.review import load_schema, transpile_ddl
from tests.conftest import fresh_database

DDL = """
CREATE TABLE authors (id SERIAL PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE);
CREATE TABLE books (
    id BIGINT PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors (id),
    price NUMERIC(8, 2) NOT NULL CHECK (price >= 0),
    published_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX ix_books_author_id ON books (author_id);
"""
SHOP_TABLES = set(sample_service.models.metadata.tables)


def _shape(metadata: sa.MetaData) -> dict[str, object]:
    books = metadata.tables["books"]
    return {
        "tables": sorted(metadata.tables),
        "fk": [(fk.parent.name, fk.column.table.name) for fk in books.foreign_keys],
        "price": (books.c.price.type.precision, books.c.price.type.scale),  # type: ignore[attr-defined]
        "tz": books.c.published_at.type.timezone,  # type: ignore[attr-defined]
        "indexes": sorted(i.name or "" for i in books.indexes),
        "checks": sum(isinstance(c, sa.CheckConstraint) for c in books.constraints),
    }


EXPECTED = {
    "tables": ["authors", "books"],
    "fk": [("author_id", "authors")],
    "price": (8, 2),
    "tz": True,
    "indexes": ["ix_books_author_id"],
    "checks": 1,
}


def test_ddl_text_reflected_on_sqlite_keeps_types_keys_and_checks() -> None:
    assert _shape(load_schema(DDL)) == EXPECTED


@pytest.mark.parametrize("kind", ["postgres-embedded"])
def test_ddl_transpiled_to_postgres_reflects_the_same(kind: str) -> None:
    with fresh_database(kind, "schema") as db:
        assert _shape(load_schema(DDL, engine=db)) == EXPECTED


def test_a_sql_file_and_a_database_url_give_the_same_schema(tmp_path: Path) -> None:
    path = tmp_path / "schema.sql"
    path.write_text(DDL)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert _shape(load_schema(path, engine=engine)) == EXPECTED
    engine.dispose()
    # Reflected alone, a SQLite file cannot say a timestamp had a zone: only the DDL does.
    assert _shape(load_schema(f"sqlite:///{tmp_path / 'x.db'}")) == {**EXPECTED, "tz": False}


def test_models_module_by_object_name_and_file() -> None:
    assert set(load_schema(sample_service.models).tables) == SHOP_TABLES
    assert set(load_schema("sample_service.models").tables) == SHOP_TABLES
    assert set(load_schema(Path(sample_service.models.__file__)).tables) == SHOP_TABLES


def test_an_alembic_folder_is_migrated_to_head_and_reflected() -> None:
    folder = Path(sample_service.models.__file__).parent / "migrations"
    assert set(load_schema(folder).tables) == SHOP_TABLES


def test_transpiling_to_each_engine_keeps_every_statement() -> None:
    for engine in ("sqlite", "postgres", "duckdb"):
        assert len(transpile_ddl(DDL, engine)) == 3


@pytest.mark.parametrize(
    "source", ["CREATE TABLE (", "not a schema at all", "CREATE TABLE t (a INT REFERENCES)"]
)
def test_what_is_not_a_schema_is_a_review_error(source: str) -> None:
    with pytest.raises(ReviewError):
        load_schema(source)


MYSQL_DUMP = """
CREATE TABLE `users` (
  `id` INT NOT NULL AUTO_INCREMENT,
  `email` VARCHAR(190) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_email` (`email`)
) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4;
CREATE TABLE `posts` (
  `id` INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  `user_id` INT NOT NULL,
  KEY `ix_posts_user` (`user_id`),
  CONSTRAINT `fk_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`)
) ENGINE=InnoDB;
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgres-embedded"])
def test_a_mysql_dump_becomes_the_same_schema_elsewhere(kind: str) -> None:
    with fresh_database(kind, "schema") as db:
        metadata = load_schema(MYSQL_DUMP, engine=db, read="mysql")
        posts, users = metadata.tables["posts"], metadata.tables["users"]
        assert [i.name for i in posts.indexes] == ["ix_posts_user"]
        assert [fk.column.table.name for fk in posts.foreign_keys] == ["users"]
        assert any(
            isinstance(u, sa.UniqueConstraint) and [c.name for c in u.columns] == ["email"]
            for u in users.constraints
        ) or any(i.unique for i in users.indexes)


def test_ddl_may_open_with_comment_lines() -> None:
    ddl = "-- the clinic's schema\n-- (PostgreSQL)\nCREATE TABLE doctors (id BIGINT PRIMARY KEY);"
    assert set(load_schema(ddl).tables) == {"doctors"}
