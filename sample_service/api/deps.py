"""Dependencies every router shares, as ``Annotated`` aliases, each written once.

Lookups that can fail (a token, a role, a product id) live here so handlers stay
ten lines and every route answers the same error the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from sample_service.cache import Cache
from sample_service.config import Settings
from sample_service.db import Database, session_scope
from sample_service.errors import Forbidden, Unauthorized
from sample_service.models import MAX_ID, Product, User
from sample_service.security import AccessClaims, InvalidToken, decode_access_token
from sample_service.services import catalog, users

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


def get_session(database: DatabaseDep) -> Iterator[Session]:
    """A session per request; the service functions own its transaction."""
    with session_scope(database) as session:
        yield session


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
    return users.active_user(session=session, user_id=claims.user_id)


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


def path_id(what: str, example: int) -> Any:
    """A ``{…_id}`` path parameter: a positive BIGINT, documented with an example."""
    return Path(ge=1, le=MAX_ID, description=f"{what} id", examples=[example])


ProductId = Annotated[int, path_id("Product", 1)]


def get_product_or_404(product_id: ProductId, session: SessionDep) -> Product:
    """The live (not soft-deleted) product, or a 404 problem."""
    return catalog.get_product(session=session, product_id=product_id)


ProductDep = Annotated[Product, Depends(get_product_or_404)]
