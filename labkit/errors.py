"""The one error type labkit raises, so a notebook can tell labkit's failures from its own."""

from __future__ import annotations

__all__ = ["LabkitError"]


class LabkitError(Exception):
    """A failure a person can act on: what happened, the value seen, and what to do next."""
