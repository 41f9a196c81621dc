"""The HTTP items: the ceilings (helper apps) and the shop's key endpoints, served alike."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labkit.bench._generators import Target, run_locust, run_wrk
from labkit.bench._report import BenchItem
from labkit.errors import BenchError

if TYPE_CHECKING:
    from labkit.service import LiveService

__all__ = ["HTTP_ITEMS", "bench_http", "settings_for"]

HTTP_ITEMS = (
    "ceiling", "fastapi_hello", "product", "product_traced", "product_uncached", "product_page",
    "product_page_postgres", "order", "order_postgres",
)  # fmt: skip
_SERVICE_SETTINGS = {"rate_limit_enabled": False}
# The database path: a zero TTL turns the product cache off without lab mode's extra work.
_UNCACHED_SETTINGS = {**_SERVICE_SETTINGS, "cache_ttl_seconds": 0}
# Items served from PostgreSQL (`LABKIT_POSTGRES_URL`, else the embedded server); the rest: SQLite.
_POSTGRES_ITEMS = {"product_page_postgres", "order_postgres"}
_ORDER_ITEMS = {"order", "order_postgres"}
# Orders draw on products of the bench's own, stocked so no run sells them out (a 409 is an
# error to the generators): 20 products of the schema's maximum stock.
_ORDER_PRODUCTS, _ORDER_STOCK = 20, 1_000_000
# Items served with OpenTelemetry on (spans exported to labkit's in-process OTLP receiver): the
# price of tracing on the hot read, beside `product`, where tracing off installs nothing.
_TRACED_ITEMS = {"product_traced"}
_CEILING_APPS = {
    "ceiling": "labkit.bench._hello:app",
    "fastapi_hello": "labkit.bench._hello_fastapi:app",
}
_PATHS = {
    "ceiling": "/",
    "fastapi_hello": "/",
    "product": "/v1/products/{id}",
    "product_traced": "/v1/products/{id}",
    "product_uncached": "/v1/products/{id}",
    "product_page": "/v1/products?limit=20",
    "product_page_postgres": "/v1/products?limit=20",
    "order": "/v1/orders",
    "order_postgres": "/v1/orders",
}
_WHAT = {
    "ceiling": "bare ASGI app (uvicorn, 1 worker)",
    "fastapi_hello": "FastAPI hello-world (uvicorn, 1 worker)",
    "product": "GET a product by id, cache warm",
    "product_traced": "GET a product by id, cache warm, every request traced (OpenTelemetry)",
    "product_uncached": "GET a product by id, cache off (the database path)",
    "product_page": "GET a page of 20 products",
    "product_page_postgres": "GET a page of 20 products, PostgreSQL",
    "order": "POST an order (Idempotency-Key)",
    "order_postgres": "POST an order (Idempotency-Key), PostgreSQL",
}


def bench_http(
    names: list[str],
    tool: str,
    duration: float,
    connections: int,
    done: Callable[[BenchItem], None],
) -> None:
    """Serve the ceiling and the shop the same way, then load each endpoint in turn."""
    from labkit.service import LiveService

    for name in [name for name in names if name in _CEILING_APPS]:
        with LiveService(app=_CEILING_APPS[name], ready_path="/") as hello:
            done(_measure(Target(hello.url, _PATHS[name]), name, tool, duration, connections))
    shops: list[tuple[dict[str, Any], str, bool]] = [
        (_SERVICE_SETTINGS, "sqlite", False),
        (_SERVICE_SETTINGS, "sqlite", True),
        (_UNCACHED_SETTINGS, "sqlite", False),
        (_SERVICE_SETTINGS, "postgres", False),
    ]
    for settings, db, traced in shops:
        shop_items = [
            n
            for n in names
            if (settings_for(n), _database_for(n), n in _TRACED_ITEMS) == (settings, db, traced)
        ]
        if not shop_items:
            continue
        with LiveService(db=db, scale=1_000, settings=settings, tracing=traced) as svc:
            shop = _ShopSession.open(svc, orders=bool(_ORDER_ITEMS & set(shop_items)))
            for name in shop_items:
                done(_measure(shop.target(name), name, tool, duration, connections))


def settings_for(name: str) -> dict[str, Any] | None:
    """The shop's settings for an HTTP item (None for the ceilings and the data items)."""
    if name not in HTTP_ITEMS or name in _CEILING_APPS:
        return None
    return _UNCACHED_SETTINGS if name == "product_uncached" else _SERVICE_SETTINGS


def _database_for(name: str) -> str:
    return "postgres" if name in _POSTGRES_ITEMS else "sqlite"


@dataclass(frozen=True)
class _ShopSession:
    """What the shop endpoints need: product ids with stock to spare, and a bearer token."""

    url: str
    product_ids: tuple[int, ...]
    authorization: str

    @classmethod
    def open(cls, svc: LiveService, *, orders: bool = False) -> _ShopSession:
        """Sign in as the seeded customer (`svc.login`); pick products in stock, or, for
        orders, add the bench's own (`_stocked_products`)."""
        with svc.login("customer") as client:
            page = client.get("/v1/products", params={"limit": 100}).json()
            authorization = client.headers["Authorization"]
        ids = tuple(p["id"] for p in page["items"] if p.get("stock", 0) >= 100)
        if orders:
            ids = _stocked_products(svc)
        if not ids:
            raise BenchError(
                f"the shop at {svc.url} has no products with 100 in stock; reseed it with "
                "`labkit seed`."
            )
        return cls(url=svc.url, product_ids=ids, authorization=authorization)

    def target(self, name: str) -> Target:
        """The request of item `name` against this shop."""
        return Target(
            self.url, _PATHS[name], name in _ORDER_ITEMS, self.authorization, self.product_ids
        )


def _stocked_products(svc: LiveService) -> tuple[int, ...]:
    """Products only the bench orders, each with the most stock the schema allows."""
    run = uuid.uuid4().hex[:8].upper()
    with svc.login("staff") as staff:
        category = staff.get("/v1/categories").json()[0]["id"]
        ids = []
        for n in range(_ORDER_PRODUCTS):
            body = {"category_id": category, "sku": f"BENCH-{run}-{n}", "name": f"Bench {n}",
                    "price_cents": 100, "stock": _ORDER_STOCK}  # fmt: skip
            response = staff.post("/v1/products", json=body)
            if response.status_code != 201:
                raise BenchError(f"the bench could not add a product: {response.text[:200]}")
            ids.append(int(response.json()["id"]))
    return tuple(ids)


def _measure(target: Target, name: str, tool: str, duration: float, connections: int) -> BenchItem:
    """Load one endpoint for `duration` seconds with the chosen generator."""
    if tool == "wrk":
        numbers = run_wrk(target, duration, connections)
    else:
        numbers = run_locust(target, duration, connections)
    return BenchItem(name=name, what=_WHAT[name], generator=tool, **numbers)
