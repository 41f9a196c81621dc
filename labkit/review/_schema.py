"""A schema from wherever an architect keeps it, as SQLAlchemy `MetaData`.

DDL is transpiled by sqlglot into the dialect of the engine it is run on, then the engine
itself is asked what it made of it (reflection): the review then sees what the database
would see, not what a parser guessed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Literal, cast

import sqlalchemy as sa
import sqlglot
import sqlglot.errors
from sqlalchemy.engine import make_url
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite

from labkit.databases import Database
from labkit.errors import ReviewError

__all__ = ["SchemaSource", "load_schema", "transpile_ddl"]

#: What `load_schema` accepts: DDL text or a .sql file, a MetaData, a models module (object,
#: dotted name or .py file), an Alembic folder, a database URL or a `Database`.
SchemaSource = str | Path | sa.MetaData | ModuleType | Database | sa.Engine

_DIALECTS = {
    "sqlite": "sqlite",
    "postgres": "postgres",
    "postgresql": "postgres",
    "duckdb": "duckdb",
    "mysql": "mysql",
}
_URL_PREFIXES = ("sqlite:", "postgresql", "postgres:", "duckdb:", "mysql", "mariadb")


class _SQLiteKeepingTypes(SQLite):
    """SQLite keeps declared type names, so keep them: DECIMAL(5, 2) must not become REAL."""

    class Generator(SQLite.Generator):  # type: ignore[misc,valid-type]
        TYPE_MAPPING: ClassVar[dict[Any, str]] = {
            exp.DataType.Type.TIMESTAMPTZ: "TIMESTAMP",
            exp.DataType.Type.TIMESTAMPLTZ: "TIMESTAMP",
            exp.DataType.Type.JSONB: "JSON",
            exp.DataType.Type.UUID: "CHAR(32)",
            exp.DataType.Type.SERIAL: "INTEGER",
            exp.DataType.Type.BIGSERIAL: "INTEGER",
            exp.DataType.Type.SMALLSERIAL: "INTEGER",
        }


def transpile_ddl(ddl: str, engine: str, *, read: str = "postgres") -> list[str]:
    """`ddl` (statements separated by `;`, written in the `read` dialect) as `engine` speaks it."""
    dialect = _DIALECTS.get(engine)
    if dialect is None:
        raise ReviewError(
            f"cannot transpile DDL for engine {engine!r}; use one of {sorted(set(_DIALECTS))}."
        )
    write = _SQLiteKeepingTypes if dialect == "sqlite" else dialect
    trees = [part for tree in _parse(ddl, read) for part in _portable(tree, dialect)]
    return [tree.sql(dialect=write) for tree in trees]


#: MySQL table options (ENGINE=InnoDB, CHARSET=...) that other engines refuse.
_MYSQL_TABLE_OPTIONS = (
    exp.EngineProperty,
    exp.CharacterSetProperty,
    exp.CollateProperty,
    exp.AutoIncrementProperty,
    exp.SchemaCommentProperty,
)


def _portable(tree: exp.Expr, dialect: str) -> list[exp.Expr]:
    """MySQL's table-level `KEY name (cols)` as CREATE INDEX, `UNIQUE KEY name` unnamed, and
    no AUTOINCREMENT on SQLite (an INTEGER PRIMARY KEY numbers itself; other keys cannot)."""
    if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Schema):
        return [tree]
    table = tree.this.this
    indexes: list[exp.Expr] = []
    for index in list(tree.this.find_all(exp.IndexColumnConstraint)):
        columns = ", ".join(c.sql(dialect=dialect) for c in index.expressions)
        indexes.append(
            sqlglot.parse_one(
                f"CREATE INDEX {index.this.sql(dialect=dialect)} ON "
                f"{table.sql(dialect=dialect)} ({columns})",
                read=dialect,
            )
        )
        index.pop()
    for unique in tree.this.find_all(exp.UniqueColumnConstraint):
        if isinstance(unique.this, exp.Schema) and unique.this.this is not None:
            unique.this.set("this", None)
    for option in list(tree.find_all(*_MYSQL_TABLE_OPTIONS)):
        option.pop()
    if dialect == "sqlite":
        for auto in list(tree.find_all(exp.AutoIncrementColumnConstraint)):
            holder = auto.parent
            (holder if isinstance(holder, exp.ColumnConstraint) else auto).pop()
    return [tree, *indexes]


def _parse(ddl: str, read: str) -> list[exp.Expr]:
    try:
        trees = [tree for tree in sqlglot.parse(ddl, read=read) if tree is not None]
    except sqlglot.errors.ParseError as error:
        first = str(error).splitlines()[0]
        raise ReviewError(
            f"the DDL could not be parsed as {read} SQL ({first}); "
            "pass read='mysql' (or the dialect it is written in) to load_schema."
        ) from error
    return [_index_order_dropped(tree) for tree in trees]


def _index_order_dropped(tree: exp.Expr) -> exp.Expr:
    """An index column's NULLS order only matters for ORDER BY; SQLite rejects it in DDL."""
    for ordered in list(tree.find_all(exp.Ordered)):
        if not ordered.args.get("desc"):
            ordered.replace(ordered.this)
    return tree


def load_schema(
    source: SchemaSource,
    *,
    engine: Database | sa.Engine | None = None,
    read: str = "postgres",
) -> sa.MetaData:
    """The tables of `source` as a `MetaData` (notebook 14 reviews a schema from any of these).

    Args:
        source: DDL text or a `.sql` file; a `MetaData`; a models module (the module, its dotted
            name or a `.py` file) holding `metadata` or a declarative `Base`; an Alembic folder
            (migrated to head); a database URL, `Database` or engine to reflect.
        engine: where DDL and migrations run before reflection; an in-memory SQLite when None.
            Pass a PostgreSQL database to see PostgreSQL's types (time zones, numerics).
        read: the SQL dialect the DDL is written in.
    """
    if isinstance(source, sa.MetaData):
        return source
    if isinstance(source, ModuleType):
        return _metadata_of_module(source)
    if isinstance(source, Database):
        return reflect(source.engine)
    if isinstance(source, sa.Engine):
        return reflect(source)
    if isinstance(source, Path):
        return _load_path(source, engine, read)
    text = source.strip()
    if _looks_like_ddl(text):
        return _from_ddl(text, engine, read)
    if text.startswith(_URL_PREFIXES) and "\n" not in text:
        scratch = sa.create_engine(make_url(text))
        try:
            return reflect(scratch)
        finally:
            scratch.dispose()
    if "\n" not in text and Path(text).exists():
        return _load_path(Path(text), engine, read)
    if ("\n" not in text and "." in text) or text.isidentifier():
        return _metadata_of_module(_import(text))
    raise ReviewError(
        f"cannot tell what schema {text[:60]!r} is: pass DDL text, a .sql or .py file, an "
        "Alembic folder, a database URL, a MetaData or a models module."
    )


def reflect(engine: sa.Engine) -> sa.MetaData:
    """Everything `engine`'s database holds (tables, keys, indexes, checks) as a `MetaData`."""
    metadata = sa.MetaData()
    metadata.reflect(bind=engine)
    if engine.dialect.name == "sqlite":
        _add_sqlite_inline_uniques(engine, metadata)
    return metadata


def _add_sqlite_inline_uniques(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """SQLAlchemy misses `col TYPE UNIQUE` on SQLite; SQLite's own index list has it."""
    with engine.connect() as connection:
        for table in metadata.tables.values():
            known = [
                {c.name for c in u.columns}
                for u in table.constraints
                if isinstance(u, sa.UniqueConstraint)
            ]
            rows = connection.exec_driver_sql(f"PRAGMA index_list('{table.name}')").all()
            for row in rows:
                if row[3] != "u":
                    continue
                info = connection.exec_driver_sql(f"PRAGMA index_info('{row[1]}')").all()
                names = [r[2] for r in info]
                if set(names) not in known:
                    table.append_constraint(sa.UniqueConstraint(*names))


def _load_path(path: Path, engine: Database | sa.Engine | None, read: str) -> sa.MetaData:
    if path.is_dir():
        if (path / "env.py").exists():
            return _from_alembic(path, engine)
        raise ReviewError(f"{path} is a folder without env.py; pass an Alembic migrations folder.")
    if path.suffix == ".sql":
        return _from_ddl(path.read_text(encoding="utf-8"), engine, read)
    if path.suffix == ".py":
        spec = importlib.util.spec_from_file_location(f"_review_models_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ReviewError(f"cannot import {path}; is it a Python module?")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # annotations resolve through sys.modules
        spec.loader.exec_module(module)
        return _metadata_of_module(module)
    raise ReviewError(f"{path}: expected a .sql file, a .py models module or an Alembic folder.")


def _looks_like_ddl(text: str) -> bool:
    """DDL starts with CREATE or ALTER once its leading `--` comment lines are set aside."""
    code = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(code).lstrip("( \n").upper().startswith(("CREATE", "ALTER"))


def _from_ddl(ddl: str, engine: Database | sa.Engine | None, read: str) -> sa.MetaData:
    target = _engine_of(engine)
    try:
        statements = transpile_ddl(ddl, _kind(target), read=read)
        with target.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
        metadata = reflect(target)
        if target.dialect.name == "sqlite":
            _restore_types(metadata, _parse(ddl, read))
        return metadata
    except sa.exc.DBAPIError as error:
        first = str(error.orig).splitlines()[0]
        raise ReviewError(
            f"{_kind(target)} refused the DDL ({first}); fix the statement it names."
        ) from error
    finally:
        if engine is None:
            target.dispose()


def _restore_types(metadata: sa.MetaData, trees: list[exp.Expr]) -> None:
    """Put back what SQLite cannot declare: time zones and UUIDs, as the DDL wrote them."""
    restored: dict[Any, Callable[[], sa.types.TypeEngine[Any]]] = {
        exp.DataType.Type.TIMESTAMPTZ: lambda: sa.DateTime(timezone=True),
        exp.DataType.Type.TIMESTAMPLTZ: lambda: sa.DateTime(timezone=True),
        exp.DataType.Type.UUID: sa.Uuid,
    }
    for tree in trees:
        table = tree.find(exp.Table)
        if not isinstance(tree, exp.Create) or table is None or table.name not in metadata.tables:
            continue
        for column in tree.find_all(exp.ColumnDef):
            kind = column.args.get("kind")
            make = restored.get(kind.this) if isinstance(kind, exp.DataType) else None
            if make is not None and column.name in metadata.tables[table.name].columns:
                metadata.tables[table.name].columns[column.name].type = make()


def _from_alembic(folder: Path, engine: Database | sa.Engine | None) -> sa.MetaData:
    from alembic import command
    from alembic.config import Config

    with tempfile.TemporaryDirectory(prefix="labkit-review-") as scratch:
        target = (
            _engine_of(engine)
            if engine is not None
            else sa.create_engine(f"sqlite:///{Path(scratch) / 'migrated.db'}")
        )
        url = target.url.render_as_string(hide_password=False)
        config = Config()
        config.set_main_option("script_location", str(folder))
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        config.attributes["url"] = url
        command.upgrade(config, "head")
        metadata = reflect(target)
        metadata.remove(metadata.tables["alembic_version"])
        if engine is None:
            target.dispose()
        return metadata


def _engine_of(engine: Database | sa.Engine | None) -> sa.Engine:
    if engine is None:
        return sa.create_engine("sqlite://")
    return engine.engine if isinstance(engine, Database) else engine


def _kind(engine: sa.Engine) -> Literal["sqlite", "postgres", "duckdb", "mysql"]:
    name = engine.dialect.name
    if name == "postgresql":
        return "postgres"
    if name in ("sqlite", "duckdb", "mysql"):  # MariaDB speaks through the mysql dialect
        return name  # type: ignore[return-value]
    raise ReviewError(
        f"the review runs DDL on SQLite, PostgreSQL, DuckDB or MySQL/MariaDB, not {name!r}."
    )


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ReviewError(f"cannot import models module {name!r} ({error}).") from error


def _metadata_of_module(module: ModuleType) -> sa.MetaData:
    metadata = getattr(module, "metadata", None)
    if isinstance(metadata, sa.MetaData):
        return metadata
    base = getattr(module, "Base", None)
    if isinstance(getattr(base, "metadata", None), sa.MetaData):
        return cast(sa.MetaData, base.metadata)  # type: ignore[union-attr]
    raise ReviewError(
        f"module {module.__name__} has neither `metadata` (a MetaData) nor a declarative `Base`."
    )
