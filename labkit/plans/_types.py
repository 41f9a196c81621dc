"""What the plan functions accept, named once for their signatures."""

from __future__ import annotations

from typing import Any, Protocol, TypeAlias

import sqlalchemy as sa
from sqlalchemy.sql.expression import ClauseElement


class _HasEngine(Protocol):
    """A labkit Database, or anything else that carries a SQLAlchemy engine."""

    @property
    def engine(self) -> sa.Engine: ...


DatabaseLike: TypeAlias = "_HasEngine | sa.Engine"
QueryLike: TypeAlias = "str | ClauseElement"
Params: TypeAlias = "dict[str, Any] | None"
