"""Per-request GraphQL context: the caller, one session, and the DataLoaders of every hop.

Resolvers are async (DataLoaders batch on the event loop) while the services are sync
``Session`` code: ``Context.run`` hands each service call to a worker thread, one at a
time per request (a ``Session`` is not thread-safe), so the loop never blocks on the
database and the rules stay where REST uses them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from sample_service.config import Settings
from sample_service.errors import Unauthorized
from sample_service.models import Product, Review, User
from sample_service.security import InvalidToken, decode_access_token
from sample_service.services import catalog, orders, reviews, users
from sample_service.services.users import STAFF_ROLES

T = TypeVar("T")
V = TypeVar("V")

# Page sizes are capped here; a client wanting more rows follows ``after``.
MAX_FIRST = 50


@dataclass(frozen=True)
class Hop:
    """A to-many hop's key: the parent's id and how many children the query asked for."""

    parent_id: int
    first: int


class Context(BaseContext):
    """What every resolver gets as ``info.context``."""

    def __init__(self, *, request: Request, response: Response, session: Session) -> None:
        super().__init__()
        # Not ``request``/``response``: strawberry types those loosely on ``BaseContext``.
        self.http_request = request
        self.http_response = response
        self.session = session
        self.settings: Settings = request.app.state.settings
        self.cost = 0
        self._lock = asyncio.Lock()
        self._viewer: User | None = None
        self._token = _bearer(request)
        self.loaders = Loaders(self)

    @property
    def batching(self) -> bool:
        """False while the lab switch ``no_dataloader`` is on."""
        return not self.settings.no_dataloader

    @property
    def request_id(self) -> str | None:
        """The id the request-context middleware gave this request."""
        return getattr(self.http_request.state, "request_id", None)

    async def run(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run a sync service call on a worker thread, one at a time for this session."""
        async with self._lock:
            return await asyncio.to_thread(fn, **kwargs)

    async def viewer(self) -> User | None:
        """The signed-in user, None when anonymous; 401 for a bad or revoked token."""
        if self._token is None:
            return None
        if self._viewer is None:
            try:
                claims = decode_access_token(self._token, secret=self.settings.jwt_secret)
            except InvalidToken as exc:
                raise Unauthorized(f"the access token is not valid: {exc}") from None
            self._viewer = await self.run(
                users.active_user, session=self.session, user_id=claims.user_id
            )
        return self._viewer

    async def require_viewer(self) -> User:
        """The signed-in user, or Unauthorized naming how to sign in."""
        user = await self.viewer()
        if user is None:
            raise Unauthorized("sign in first: send the REST access token as `Bearer` header")
        return user

    async def is_staff(self) -> bool:
        """True when the caller is staff or admin."""
        user = await self.viewer()
        return user is not None and user.role in STAFF_ROLES


def _bearer(request: Request) -> str | None:
    """The bearer token of the request, the same one REST reads."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token if scheme.lower() == "bearer" and token else None


class _ToOne(Generic[V]):
    """A to-one hop over a service batch ``{id: value}``: through a DataLoader, or one
    query per parent while the lab switch ``no_dataloader`` is on (the N+1 measured)."""

    def __init__(self, context: Context, batch: Callable[..., dict[int, V]], param: str) -> None:
        self._context, self._batch, self._param = context, batch, param
        self._loader: DataLoader[int, V | None] = DataLoader(load_fn=self._load)

    async def _load(self, keys: list[int]) -> list[V | None]:
        found = await self._context.run(
            self._batch, session=self._context.session, **{self._param: sorted(set(keys))}
        )
        return [found.get(key) for key in keys]

    async def load(self, key: int) -> V | None:
        """The value for ``key``, None when there is none."""
        if self._context.batching:
            return await self._loader.load(key)
        return (await self._load([key]))[0]


class _ToMany(Generic[V]):
    """A to-many hop: the first N children of each parent, one query per page of parents
    (a window function in the service), or the service's own list per parent when off."""

    def __init__(
        self,
        context: Context,
        batch: Callable[..., dict[int, list[V]]],
        single: Callable[[int, int], Awaitable[list[V]]],
        param: str,
    ) -> None:
        self._context, self._batch, self._single, self._param = context, batch, single, param
        self._loader: DataLoader[Hop, list[V]] = DataLoader(load_fn=self._load)

    async def _load(self, keys: list[Hop]) -> list[list[V]]:
        out: dict[Hop, list[V]] = {}
        for first in sorted({key.first for key in keys}):
            parents = sorted({key.parent_id for key in keys if key.first == first})
            found = await self._context.run(
                self._batch, session=self._context.session, limit=first, **{self._param: parents}
            )
            out.update({Hop(parent, first): found[parent] for parent in parents})
        return [out[key] for key in keys]

    async def load(self, parent_id: int, first: int) -> list[V]:
        """The first ``first`` children of the parent."""
        if self._context.batching:
            return await self._loader.load(Hop(parent_id, first))
        return await self._single(parent_id, first)


class Loaders:
    """Every hop of the graph, built fresh per request (a DataLoader caches per request)."""

    def __init__(self, context: Context) -> None:
        self.product = _ToOne(context, catalog.products_by_id, "product_ids")
        self.category = _ToOne(context, catalog.categories_by_id, "category_ids")
        self.user = _ToOne(context, users.users_by_id, "user_ids")
        self.items = _ToOne(context, orders.items_of_orders, "order_ids")

        async def reviews_of(product_id: int, first: int) -> list[Review]:
            page, _ = await context.run(
                reviews.list_reviews, session=context.session, product_id=product_id, limit=first
            )
            return page

        async def products_in(category_id: int, first: int) -> list[Product]:
            filters = catalog.ProductFilter(category_id=category_id)
            page = await context.run(
                catalog.list_products, session=context.session, filters=filters, limit=first
            )
            return page.items

        self.reviews = _ToMany(
            context, reviews.first_reviews_of_products, reviews_of, "product_ids"
        )
        self.products_of = _ToMany(
            context, catalog.first_products_of_categories, products_in, "category_ids"
        )
