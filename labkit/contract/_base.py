"""What every contract module shares: the error types, HTTP methods and JSON pointer escaping."""

from __future__ import annotations

from labkit.errors import LabkitError

__all__ = ["METHODS", "ContractError", "SpecLoadError", "escape", "unescape"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ContractError(LabkitError):
    """A contract-review step that cannot go on: the message says why and what to do."""


class SpecLoadError(ContractError):
    """An OpenAPI document that cannot be read or breaks the OpenAPI structure at `where`."""

    def __init__(self, message: str, *, where: str = "") -> None:
        super().__init__(message)
        self.where = where


def escape(token: str) -> str:
    """Escape one JSON pointer token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """Undo `escape`."""
    return token.replace("~1", "/").replace("~0", "~")
