"""Representations with strong ETags, and the conditional-request checks on them.

The ETag is a digest of the exact bytes served, so it changes whenever anything in
the representation does (a price, or stock sold by an order), whoever wrote it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sample_service.errors import PreconditionFailed, PreconditionRequired
from sample_service.schemas.catalog import ProductRead


@dataclass(frozen=True)
class Representation:
    """Serialized JSON and its strong ETag."""

    body: bytes
    etag: str

    def pack(self) -> bytes:
        """One value for the cache: the ETag line, then the body."""
        return self.etag.encode() + b"\n" + self.body

    @classmethod
    def unpack(cls, packed: bytes) -> Representation:
        """Inverse of ``pack``."""
        etag, _, body = packed.partition(b"\n")
        return cls(body=body, etag=etag.decode())


def product_representation(product: Mapping[str, Any] | object) -> Representation:
    """The bytes clients get for a product (from an ORM object or a Core row)."""
    body = ProductRead.model_validate(product).model_dump_json().encode()
    return Representation(body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def none_match(if_none_match: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` already names this version (answer 304); weak comparison."""
    if not if_none_match:
        return False
    tags = _tags(if_none_match)
    return "*" in tags or etag in (tag.removeprefix("W/") for tag in tags)


def check_if_match(if_match: str | None, etag: str, *, required: bool) -> None:
    """Refuse a write made against a stale version: 428 when missing (if required), 412 when stale.

    Strong comparison: a weak tag never matches (RFC 9110 §13.1.1).
    """
    if if_match is None:
        if required:
            raise PreconditionRequired(
                "send If-Match with the ETag from your last GET of this product"
            )
        return
    tags = _tags(if_match)
    if "*" not in tags and etag not in tags:
        raise PreconditionFailed(
            f"If-Match {if_match} is not the current ETag {etag}; GET the product again"
        )
