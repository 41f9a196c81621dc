"""Security primitives: argon2 passwords, signed access tokens, opaque refresh tokens.

Pure functions with no database or HTTP so the auth lesson can call them one by
one; ``services/auth.py`` builds login, rotation and logout on top of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from functools import cache, lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sample_service.text import parse_id

# One algorithm, pinned: decoding never trusts the token's own "alg" header,
# which is how "alg": "none" and key-confusion tokens get rejected.
ALGORITHM = "HS256"
ACCESS = "access"

_hasher = PasswordHasher()


class InvalidToken(Exception):
    """An access token that is expired, tampered with, unsigned or malformed."""


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says about its bearer."""

    user_id: int
    role: str
    expires_at: dt.datetime
    token_id: str


def hash_password(password: str) -> str:
    """Hash a password with argon2id (salted, memory-hard; parameters live in the hash)."""
    return _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the account does not exist."""
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; an unknown account (``None``) costs the same time as a known one.

    Spending one argon2 verification either way keeps response time from
    telling an attacker which emails have accounts.
    """
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def constant_time_equals(a: str, b: str) -> bool:
    """Compare secrets without leaking, through timing, how many leading characters match."""
    return hmac.compare_digest(a.encode(), b.encode())


def create_access_token(
    *,
    user_id: int,
    role: str,
    secret: str,
    ttl_seconds: int,
    now: dt.datetime | None = None,
) -> str:
    """Sign a short-lived access token; short so a stolen one is worth little."""
    issued = now or dt.datetime.now(dt.UTC)
    claims = {
        "sub": str(user_id),
        "role": role,
        "type": ACCESS,
        "iat": issued,
        "exp": issued + dt.timedelta(seconds=ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> AccessClaims:
    """Verify signature, algorithm, expiry and type; raise ``InvalidToken`` otherwise."""
    return _decode_cached(token, secret).checked()


@dataclass(frozen=True)
class _Verified:
    claims: AccessClaims

    def checked(self) -> AccessClaims:
        # The cache remembers the signature check, never the expiry check.
        if self.claims.expires_at <= dt.datetime.now(dt.UTC):
            raise InvalidToken("token expired")
        return self.claims


@lru_cache(maxsize=4096)
def _decode_cached(token: str, secret: str) -> _Verified:
    """Verify a token once; the rate limiter and the route both ask about the same token."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "iat", "type"]},
        )
        if payload["type"] != ACCESS:
            raise InvalidToken("not an access token")
        user_id = parse_id(payload["sub"]) if isinstance(payload["sub"], str) else None
        if user_id is None:
            raise InvalidToken("the subject is not a user id")
        return _Verified(
            AccessClaims(
                user_id=user_id,
                role=str(payload.get("role", "")),
                expires_at=dt.datetime.fromtimestamp(payload["exp"], dt.UTC),
                token_id=str(payload.get("jti", "")),
            )
        )
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc


def new_refresh_token() -> str:
    """An unguessable refresh-token secret (256 bits); only its digest is stored."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """SHA-256 of a refresh-token secret: a leaked table cannot be replayed as tokens."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_family_id() -> str:
    """Identifier shared by every token of one rotation chain."""
    return str(uuid.uuid4())
