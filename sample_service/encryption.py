"""Field encryption at rest: AES-256-GCM, one key id stored with every value.

A value is ``v1:<key id>:<base64url(nonce + ciphertext + tag)>``. The key id lets
several keys be live at once, so rotation re-encrypts rows in batches while reads
keep working; the associated data names the table, column and row, so a ciphertext
copied onto another row or column fails to decrypt instead of leaking there.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from sample_service.config import Settings

VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce; random per value
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class UndecryptableField(Exception):
    """A stored value that no configured key opens (unknown key id, tampered, wrong row)."""


class FieldCipher:
    """Encrypts with the current key; decrypts with whichever key a value names."""

    def __init__(self, keys: Mapping[str, bytes], *, current: str) -> None:
        for key_id, key in keys.items():
            if not KEY_ID.match(key_id) or len(key) != KEY_BYTES:
                msg = f"field key {key_id!r} needs an id like 'k2' and exactly 32 bytes"
                raise ValueError(msg)
        if current not in keys:
            msg = f"field key id {current!r} is not among the keys {sorted(keys)}"
            raise ValueError(msg)
        self._aead = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current = current

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Seal ``plaintext`` under the current key, bound to ``context`` (table.column:row)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.current].encrypt(nonce, plaintext.encode(), context.encode())
        payload = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{VERSION}:{self.current}:{payload}"

    def decrypt(self, stored: str, *, context: str) -> str:
        """Open a stored value; ``UndecryptableField`` when no key or context fits."""
        version, key_id, payload = _split(stored)
        aead = self._aead.get(key_id)
        if version != VERSION or aead is None:
            raise UndecryptableField(f"no configured key has id {key_id!r}")
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise UndecryptableField(f"value under key {key_id!r} does not open here") from None
        return plain.decode()

    def is_current(self, stored: str) -> bool:
        """True when the value is already sealed under the current key."""
        return _split(stored)[1] == self.current


def key_id_of(stored: str) -> str:
    """The key id a stored value names (what rotation progress counts)."""
    return _split(stored)[1]


def _split(stored: str) -> tuple[str, str, str]:
    version, _, rest = stored.partition(":")
    key_id, _, payload = rest.partition(":")
    return version, key_id, payload


def new_key() -> str:
    """A fresh random key, base64-encoded as settings hold it."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


@lru_cache(maxsize=8)
def cipher_for(keys: tuple[tuple[str, str], ...], current: str) -> FieldCipher:
    """The cipher for settings' base64 keys, built once per key set."""
    return FieldCipher({key_id: base64.b64decode(key) for key_id, key in keys}, current=current)


def cipher_from_settings(settings: Settings) -> FieldCipher:
    """The cipher for the service's configured keys."""
    return cipher_for(tuple(sorted(settings.field_keys.items())), settings.field_key_id)
