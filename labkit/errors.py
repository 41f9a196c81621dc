"""The one error type labkit raises, so a notebook can tell labkit's failures from its own."""

from __future__ import annotations

__all__ = ["ExplainError", "IndexExists", "LabkitError"]


class LabkitError(Exception):
    """A failure a person can act on: what happened, the value seen, and what to do next."""


class ExplainError(LabkitError):
    """EXPLAIN could not run or its output could not be read."""


class IndexExists(ExplainError):
    """An index of the name a trial would create is already there; trying it would drop yours."""
