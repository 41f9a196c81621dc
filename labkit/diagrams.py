"""Mermaid diagrams that JupyterLab draws offline: ER schemas and sequences.

Every diagram is a `Diagram` whose mime bundle carries `text/vnd.mermaid`, which
JupyterLab 4 renders in the browser without any web service; the plain-text
fallback is the same Mermaid source, so terminals and nbval see stable text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from mermaid.erdiagram import Entity, ERDiagram
from mermaid.erdiagram import Link as ERLink
from mermaid.sequence import ArrowTypes, Participant, SequenceDiagram
from mermaid.sequence import Link as SeqLink

from labkit._types import SchemaSource
from labkit.errors import DiagramError

__all__ = ["Diagram", "DiagramError", "er_diagram", "sequence_diagram"]

MERMAID_MIME = "text/vnd.mermaid"


@dataclass(frozen=True)
class Diagram:
    """Mermaid source plus how to show it; the text is the whole state.

    Taught in 00_welcome and 02_schema_design.
    """

    text: str
    kind: str

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {MERMAID_MIME: self.text, "text/plain": self.text}

    def __repr__(self) -> str:
        lines = self.text.count("\n") + 1
        return f"<Diagram {self.kind}: {lines} lines of Mermaid>"

    def __str__(self) -> str:
        return self.text

    def save(self, path: str | Path) -> Path:
        """Write the Mermaid source to `path` (.mmd), e.g. for a design review."""
        target = Path(path)
        target.write_text(self.text, encoding="utf-8")
        return target


def _label(text: str) -> str:
    """Mermaid labels break on double quotes; use the entity Mermaid understands."""
    return text.replace('"', "#quot;")


def _metadata_from(source: object) -> sa.MetaData:
    """Accept MetaData, a declarative Base, an Engine, or anything with `.engine`."""
    if isinstance(source, sa.MetaData):
        return source
    metadata = getattr(source, "metadata", None)
    if isinstance(metadata, sa.MetaData):
        return metadata
    engine = getattr(source, "engine", source)
    if isinstance(engine, sa.Engine) and engine.dialect.name == "duckdb":
        return _reflect_duckdb(engine)
    if isinstance(engine, sa.Engine):
        reflected = sa.MetaData()
        reflected.reflect(bind=engine)
        return reflected
    raise DiagramError(
        f"er_diagram() needs SQLAlchemy MetaData, a declarative Base, an Engine or a "
        f"labkit Database; got {type(source).__name__}. Pass e.g. `models.Base.metadata` "
        f"or `lk.database('sqlite')`."
    )


class _NamedType(sa.types.UserDefinedType[Any]):
    """A column type known only by the name the database reported."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **_kw: Any) -> str:
        return self.name


def _reflect_duckdb(engine: sa.Engine) -> sa.MetaData:
    """Read a DuckDB schema from its catalog functions (duckdb-engine cannot reflect it)."""
    metadata = sa.MetaData()
    with engine.connect() as conn:
        columns = conn.exec_driver_sql(
            "SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns() "
            "WHERE NOT internal AND schema_name = 'main' ORDER BY table_name, column_index"
        ).all()
        constraints = conn.exec_driver_sql(
            "SELECT table_name, constraint_type, constraint_column_names, referenced_table, "
            "referenced_column_names FROM duckdb_constraints() WHERE schema_name = 'main' "
            "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')"
        ).all()
    tables: dict[str, sa.Table] = {}
    for table, column, type_name, nullable in columns:
        if table not in tables:
            tables[table] = sa.Table(table, metadata)
        tables[table].append_column(
            sa.Column(column, _NamedType(str(type_name)), nullable=nullable)
        )
    for table, kind, names, referred, referred_names in constraints:
        if kind == "PRIMARY KEY":
            tables[table].append_constraint(sa.PrimaryKeyConstraint(*names))
        elif kind == "UNIQUE":
            tables[table].append_constraint(sa.UniqueConstraint(*names))
        elif referred in tables:
            targets = [f"{referred}.{name}" for name in referred_names]
            tables[table].append_constraint(sa.ForeignKeyConstraint(list(names), targets))
    return metadata


def _column_type(column: sa.Column[Any]) -> str:
    """A one-word type Mermaid accepts: `varchar`, not `VARCHAR(200) COLLATE ...`."""
    try:
        text = str(column.type)
    except Exception:  # some generic types cannot compile without a dialect
        text = type(column.type).__name__
    word = text.split("(")[0].strip().lower().replace(" ", "_")
    return word or "unknown"


def _unique_column_sets(table: sa.Table) -> list[frozenset[str]]:
    """Column sets the database guarantees unique (primary key, unique constraints/indexes)."""
    sets = [frozenset(c.name for c in table.primary_key.columns)]
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint):
            sets.append(frozenset(c.name for c in constraint.columns))
    for index in table.indexes:
        partial = any(index.dialect_options[d].get("where") for d in ("postgresql", "sqlite"))
        if index.unique and not partial:
            sets.append(frozenset(c.name for c in index.columns))
    return [s for s in sets if s]


_KEY_LISTS = {"PK", "FK", "UK", "PK, FK", "PK, UK", "FK, UK", "PK, FK, UK"}


class _Entity(Entity):  # type: ignore[misc]  # mermaid-py ships no types
    """mermaid-py's entity, rendering key lists like `PK, FK` and bare types correctly."""

    def build_attributes(self) -> str:
        lines = []
        for name, definition in self.attributes.items():
            type_, *rest = [definition] if isinstance(definition, str) else definition
            keys = [part for part in rest if part in _KEY_LISTS]
            comments = [f'"{part}"' for part in rest if part not in _KEY_LISTS]
            lines.append("\t" + " ".join([type_, name, *keys, *comments]) + "\n")
        return "".join(lines)


def _entity(table: sa.Table) -> _Entity:
    entity = _Entity(table.name)
    single_unique = {next(iter(s)) for s in _unique_column_sets(table) if len(s) == 1}
    fk_columns = {fk.parent.name for fk in table.foreign_keys}
    for column in table.columns:
        keys = []
        if column.primary_key:
            keys.append("PK")
        if column.name in fk_columns:
            keys.append("FK")
        if column.name in single_unique and not column.primary_key:
            keys.append("UK")
        comment = "nullable" if column.nullable and not column.primary_key else None
        entity.add_attribute(column.name, _column_type(column), ", ".join(keys) or None, comment)
    return entity


def _relationship(
    child: sa.Table, fk: sa.ForeignKeyConstraint, entities: dict[str, _Entity]
) -> ERLink | None:
    parent = fk.referred_table
    if parent.name not in entities or child.name not in entities:
        return None
    columns = frozenset(c.name for c in fk.columns)
    optional = any(c.nullable for c in fk.columns)
    one_child = columns in _unique_column_sets(child)
    identifying = columns <= frozenset(c.name for c in child.primary_key.columns)
    return ERLink(
        entities[parent.name],
        entities[child.name],
        "zero-or-one" if optional else "exactly-one",
        "zero-or-one" if one_child else "zero-or-more",
        label=", ".join(sorted(columns)),
        dotted=not identifying,
    )


def er_diagram(
    source: SchemaSource, *, tables: Iterable[str] | None = None, title: str = "schema"
) -> Diagram:
    """Draw the entity-relationship diagram of a schema, keys and cardinality included.

    Taught in 00_welcome and 02_schema_design.

    `source` is SQLAlchemy MetaData, a declarative Base, an Engine, or a labkit
    `Database` (its live schema is reflected). Crow's feet come from the foreign
    keys: a nullable key makes the parent optional, a unique key makes it 1:1;
    solid lines are identifying (the key is part of the child's primary key).

    >>> er_diagram(models.Base.metadata, tables=["orders", "order_items"])
    """
    metadata = _metadata_from(source)
    wanted = set(tables) if tables is not None else None
    chosen = sorted(
        (t for t in metadata.tables.values() if wanted is None or t.name in wanted),
        key=lambda t: t.name,
    )
    if wanted is not None and len(chosen) < len(wanted):
        missing = sorted(wanted - {t.name for t in chosen})
        raise DiagramError(
            f"er_diagram(): no table named {missing} in the schema (it has "
            f"{sorted(metadata.tables)}). Check the spelling or seed the database first."
        )
    entities = {t.name: _entity(t) for t in chosen}
    links = [
        link
        for table in chosen
        for fk in sorted(
            (c for c in table.constraints if isinstance(c, sa.ForeignKeyConstraint)),
            key=lambda c: (c.referred_table.name, [col.name for col in c.columns]),
        )
        if (link := _relationship(table, fk, entities)) is not None
    ]
    diagram = ERDiagram(title, list(entities.values()), links)
    return Diagram(diagram.script, "er")


def sequence_diagram(
    steps: Sequence[tuple[str, str, str] | tuple[str, str, str, str]],
    *,
    title: str = "sequence",
    autonumber: bool = True,
) -> Diagram:
    """Draw who calls whom, in order: `(source, target, message[, "reply"])` per step.

    Taught in 05_orm_and_n_plus_one.

    A fourth element `"reply"` draws a dashed return arrow.

    >>> sequence_diagram([("client", "api", "GET /v1/orders"), ("api", "db", "SELECT orders"),
    ...                   ("db", "api", "12 rows", "reply"), ("api", "client", "200", "reply")])
    """
    participants: dict[str, Participant] = {}
    links: list[SeqLink] = []
    for step in steps:
        if len(step) not in (3, 4) or (len(step) == 4 and step[3] != "reply"):
            raise DiagramError(
                f"sequence_diagram(): a step is (source, target, message[, 'reply']); got "
                f"{step!r}. Use a 3-tuple for a call and add 'reply' for a response."
            )
        source, target, message = step[0], step[1], step[2]
        for name in (source, target):
            participants.setdefault(name, Participant(name))
        arrow = ArrowTypes.DOTTED_ARROW if len(step) == 4 else ArrowTypes.SOLID_ARROW
        links.append(
            SeqLink(participants[source], participants[target], arrow, message.replace(";", ","))
        )
    diagram = SequenceDiagram(title, [*participants.values(), *links], auto_number=autonumber)
    return Diagram(diagram.script, "sequence")
