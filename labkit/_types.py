"""What labkit's public functions accept, named once so their signatures say it instead of `Any`.

The protocols are structural: a labkit `Database` is `HasEngine`, a running `LiveService` is
`HasUrl`, a declarative Base is `HasMetadata`, without those classes importing this module.
"""

from __future__ import annotations

from typing import Protocol, TypeAlias

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

__all__ = ["DatabaseLike", "HasEngine", "HasMetadata", "HasUrl", "SchemaSource", "ServiceTarget"]


class HasEngine(Protocol):
    """Anything holding a SQLAlchemy engine, e.g. `lk.database(...)`."""

    @property
    def engine(self) -> sa.Engine: ...


class HasMetadata(Protocol):
    """Anything holding SQLAlchemy MetaData, e.g. a declarative Base."""

    @property
    def metadata(self) -> sa.MetaData: ...


class HasUrl(Protocol):
    """Anything serving HTTP at a URL, e.g. a running `lk.LiveService`."""

    @property
    def url(self) -> str: ...


# A database by any handle its engine can be found from.
DatabaseLike: TypeAlias = (
    HasEngine | sa.Engine | sa.Connection | Session | AsyncEngine | AsyncSession
)
# What a schema can be read from: the models' MetaData, or a live database.
SchemaSource: TypeAlias = sa.MetaData | HasMetadata | HasEngine | sa.Engine
# A service to load-test: its base URL, or a running LiveService.
ServiceTarget: TypeAlias = str | HasUrl
