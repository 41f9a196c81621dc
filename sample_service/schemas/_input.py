"""Request bodies read as the contract writes them: no JSON value coerced into another type.

pydantic's lax mode takes ``true`` as the number 1 and ``"2"`` as 2; a client that sends either
has a bug the API should report, not hide. Integral floats (``2.0``) stay accepted: JSON Schema
counts them as integers, and so does the contract.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationInfo, field_validator

_NUMBERS = {int, float, type(None)}
_BOOLS = {bool, type(None)}


def _accepted(annotation: Any) -> set[type]:
    """The JSON-facing Python types a field's annotation takes."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return set().union(*(_accepted(arg) for arg in get_args(annotation)))
    if origin is Annotated:
        return _accepted(get_args(annotation)[0])
    if origin is Literal:
        return {type(value) for value in get_args(annotation)}
    if origin is not None:  # list[...]
        return {origin}
    return {annotation}


class Input(BaseModel):
    """Base of request bodies: a boolean is only a boolean, a string only a string."""

    @field_validator("*", mode="before")
    @classmethod
    def _exact_json_types(cls, value: Any, info: ValidationInfo) -> Any:
        accepted = _accepted(cls.model_fields[info.field_name or ""].annotation)
        if isinstance(value, bool) and bool not in accepted:
            raise ValueError("a boolean is not accepted here")
        if isinstance(value, str) and accepted <= _NUMBERS:
            raise ValueError("a number is expected, not a string")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and accepted <= _BOOLS:
            raise ValueError("a boolean is expected, not a number")
        return value
