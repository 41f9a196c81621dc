"""Dependencies every router shares, as ``Annotated`` aliases, each written once.

Lookups that can fail (a token, a role, a product id) live here so handlers stay
ten lines and every route answers the same error the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from pydantic import BeforeValidator
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sample_service.cache import Cache
from sample_service.config import Settings
from sample_service.db import Database
from sample_service.encryption import FieldCipher, cipher_from_settings
from sample_service.errors import BadRequest, Forbidden, Unauthorized
from sample_service.models import MAX_ID, Product, User
from sample_service.resilience.payments import PaymentsClient
from sample_service.security import AccessClaims, InvalidToken, decode_access_token
from sample_service.services import api_keys, audit, catalog, users
from sample_service.text import parse_id

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)
# Credentials in a URL end up in access logs, proxies and browser history: refused there.
QUERY_CREDENTIALS = frozenset({"api_key", "apikey", "key", "access_token", "token"})


async def get_app_settings(request: Request) -> Settings:
    """The app's live settings (lab switches change them at run time)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    """The app's database handle."""
    database: Database = request.app.state.db
    return database


async def get_cache(request: Request) -> Cache:
    """The app's cache-aside front (memory or Redis)."""
    cache: Cache = request.app.state.cache
    return cache


async def get_payments(request: Request) -> PaymentsClient | None:
    """The client of the payments provider; None when no provider is configured."""
    payments: PaymentsClient | None = request.app.state.payments
    return payments


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
CacheDep = Annotated[Cache, Depends(get_cache)]
PaymentsDep = Annotated[PaymentsClient | None, Depends(get_payments)]


@asynccontextmanager
async def session_slot(database: Database) -> AsyncIterator[Session]:
    """A session once a database slot is free (503 when none frees in time).

    The service functions own its transaction; it is closed in the threadpool because closing
    returns the connection to the pool, which may be a round trip.
    """
    async with database.admission.slot():
        session = database.sessionmaker()
        try:
            yield session
        finally:
            await run_in_threadpool(session.close)


async def get_session(database: DatabaseDep) -> AsyncIterator[Session]:
    """A session per request (``session_slot``)."""
    async with session_slot(database) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_claims(
    request: Request,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    key: Annotated[str | None, Depends(api_key_scheme)],
) -> AccessClaims | str:
    """The verified claims of the bearer token, or an API key for ``get_current_user`` to check.

    401 when missing, expired or forged; 400 when a credential rides in the query string.
    """
    named = sorted(QUERY_CREDENTIALS.intersection(request.query_params))
    if named:
        raise BadRequest(
            f"credentials are refused in the query string ({named[0]}): URLs are logged; "
            "send an Authorization or X-API-Key header"
        )
    credential = key or token
    if credential is None:
        raise Unauthorized("no bearer token; get one from POST /v1/auth/token")
    if api_keys.is_api_key(credential):
        return credential
    try:
        claims = decode_access_token(credential, secret=settings.jwt_secret)
    except InvalidToken as exc:
        raise Unauthorized(f"the access token is not valid: {exc}") from None
    request.state.user_id = claims.user_id  # for the access log
    return claims


ClaimsDep = Annotated[AccessClaims | str, Depends(get_claims)]


def get_current_user(request: Request, claims: ClaimsDep, session: SessionDep) -> User:
    """The signed-in user (or an API key's); 401 when the account is gone or disabled."""
    if isinstance(claims, str):
        owner = api_keys.authenticate(session=session, credential=claims, method=request.method)
        request.state.user_id = owner.id
        request.state.by_api_key = True
        return owner
    return users.active_user(session=session, user_id=claims.user_id)


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_signed_in_user(request: Request, user: CurrentUser) -> User:
    """A user who signed in with a password, not a machine client holding an API key.

    Keys and MFA are managed only this way, so a leaked key cannot mint more keys.
    """
    if getattr(request.state, "by_api_key", False):
        raise Forbidden("API keys cannot manage API keys or MFA; sign in with a password")
    return user


SignedInUser = Annotated[User, Depends(get_signed_in_user)]


def require_role(*roles: str) -> object:
    """A dependency that lets only the given roles through (403 otherwise)."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(f"role {user.role!r} may not do this; needs one of {', '.join(roles)}")
        return user

    return Depends(check)


StaffUser = Annotated[User, require_role("staff", "admin")]
AdminUser = Annotated[User, require_role("admin")]


def get_origin(request: Request) -> audit.Origin:
    """The request id and client address the audit trail records."""
    client = request.client
    return audit.Origin(
        request_id=request.scope.get("state", {}).get("request_id"),
        ip=client.host if client else None,
    )


def get_cipher(settings: SettingsDep) -> FieldCipher:
    """The field cipher for the configured keys."""
    return cipher_from_settings(settings)


OriginDep = Annotated[audit.Origin, Depends(get_origin)]
CipherDep = Annotated[FieldCipher, Depends(get_cipher)]


def _canonical_id(value: object) -> object:
    """Refuse ids int() would forgive (``1_0``, ``+1``, `` 1``, ``01``): one spelling per row."""
    if isinstance(value, str) and parse_id(value) is None:
        raise ValueError("an id is a positive integer in plain decimal digits")
    return value


def path_id(what: str, example: int) -> Any:
    """A ``{…_id}`` path parameter: a positive BIGINT in canonical decimal, with an example."""
    info = Path(ge=1, le=MAX_ID, description=f"{what} id", examples=[example])
    info.metadata.append(BeforeValidator(_canonical_id))
    return info


ProductId = Annotated[int, path_id("Product", 1)]


def get_product_or_404(product_id: ProductId, session: SessionDep) -> Product:
    """The live (not soft-deleted) product, or a 404 problem."""
    return catalog.get_product(session=session, product_id=product_id)


ProductDep = Annotated[Product, Depends(get_product_or_404)]
