"""Dependencies every router shares, as ``Annotated`` aliases, each written once.

Lookups that can fail (a token, a role, a product id) live here so handlers stay
ten lines and every route answers the same error the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import BeforeValidator
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sample_service.cache import Cache
from sample_service.config import Settings
from sample_service.db import Database
from sample_service.errors import Forbidden, Unauthorized
from sample_service.models import MAX_ID, Product, User
from sample_service.security import AccessClaims, InvalidToken, decode_access_token
from sample_service.services import catalog
from sample_service.text import parse_id

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


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


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
CacheDep = Annotated[Cache, Depends(get_cache)]


async def get_session(database: DatabaseDep) -> AsyncIterator[Session]:
    """A session per request, once a database slot is free (503 when none frees in time).

    The service functions own its transaction; it is closed in the threadpool because closing
    returns the connection to the pool, which may be a round trip.
    """
    async with database.admission.slot():
        session = database.sessionmaker()
        try:
            yield session
        finally:
            await run_in_threadpool(session.close)


SessionDep = Annotated[Session, Depends(get_session)]


async def get_claims(
    request: Request,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> AccessClaims:
    """The verified claims of the bearer token; 401 when missing, expired or forged."""
    if token is None:
        raise Unauthorized("no bearer token; get one from POST /v1/auth/token")
    try:
        claims = decode_access_token(token, secret=settings.jwt_secret)
    except InvalidToken as exc:
        raise Unauthorized(f"the access token is not valid: {exc}") from None
    request.state.user_id = claims.user_id  # for the access log
    return claims


ClaimsDep = Annotated[AccessClaims, Depends(get_claims)]


def get_current_user(claims: ClaimsDep, session: SessionDep) -> User:
    """The signed-in user; 401 when the account is gone or disabled since the token was issued."""
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("the account behind this token no longer exists or is disabled")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(*roles: str) -> object:
    """A dependency that lets only the given roles through (403 otherwise)."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(f"role {user.role!r} may not do this; needs one of {', '.join(roles)}")
        return user

    return Depends(check)


StaffUser = Annotated[User, require_role("staff", "admin")]
AdminUser = Annotated[User, require_role("admin")]


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
