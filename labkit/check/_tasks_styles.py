"""Module 13 (API styles): a DataLoader's batch function, and a GraphQL client within the cost
budget.

13.1 plugs the learner's batch function into a small strawberry schema over the seeded shop and
counts the SQL a query runs; 13.2 runs the learner's client against the live shop's `/graphql`
and reads what each response said.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import sqlalchemy as sa
import strawberry
from sqlalchemy.orm import Session
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from labkit.check._registry import Failed, task
from labkit.check._shop import live_shop, shop
from labkit.errors import LabkitError
from labkit.querylog import count_queries
from labkit.styles import graphql

BatchFunction = Callable[[Session, list[int]], Sequence[Any]]

# -- 13.1: the order history screen, its product hop through the learner's DataLoader ---------

_ORDERS = """
SELECT o.id AS order_id, i.quantity, i.product_id FROM orders o
JOIN order_items i ON i.order_id = o.id
WHERE o.id IN (SELECT id FROM orders ORDER BY id DESC LIMIT :first)
ORDER BY o.id DESC, i.id
"""
_TRUTH = """
SELECT p.name FROM orders o
JOIN order_items i ON i.order_id = o.id JOIN products p ON p.id = i.product_id
WHERE o.id IN (SELECT id FROM orders ORDER BY id DESC LIMIT :first)
ORDER BY o.id DESC, i.id
"""
HISTORY_QUERY = (
    "query($first: Int!) { orders(first: $first) { id items { quantity product { name } } } }"
)
_MISSING_QUERY = "{ product(id: 987654321) { name } }"
_SIZES = (2, 12)
_MAX_STATEMENTS = 2  # the orders with their items, then the products


@strawberry.type
class _Product:
    id: int
    name: str


def _as_product(found: Any) -> _Product | None:
    if found is None:
        return None
    if isinstance(found, dict):
        return _Product(id=found["id"], name=found["name"])
    return _Product(id=found.id, name=found.name)


@strawberry.type
class _Item:
    quantity: int
    product_id: strawberry.Private[int]

    @strawberry.field
    async def product(self, info: Info) -> _Product | None:
        return _as_product(await info.context["products"].load(self.product_id))


@strawberry.type
class _Order:
    id: int
    items: list[_Item]


@strawberry.type
class _Query:
    @strawberry.field
    def orders(self, info: Info, first: int) -> list[_Order]:
        rows = info.context["session"].execute(sa.text(_ORDERS), {"first": first})
        orders: dict[int, list[_Item]] = {}
        for order_id, quantity, product_id in rows:
            orders.setdefault(order_id, []).append(_Item(quantity=quantity, product_id=product_id))
        return [_Order(id=k, items=v) for k, v in orders.items()]

    @strawberry.field
    async def product(self, info: Info, id: int) -> _Product | None:
        return _as_product(await info.context["products"].load(id))


class _QuietSchema(strawberry.Schema):
    """Errors go back to the check in the result, not to the kernel's log."""

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        return None


_SCHEMA = _QuietSchema(query=_Query)


def _execute(batch: BatchFunction, query: str, variables: dict[str, Any]) -> tuple[Any, int]:
    """Run `query` with a DataLoader over `batch`; (the result, statements run)."""

    async def load(keys: list[int]) -> Sequence[Any]:
        found = batch(session, list(keys))
        return await found if inspect.isawaitable(found) else found

    async def run() -> Any:
        context = {"session": session, "products": DataLoader(load_fn=load)}
        return await _SCHEMA.execute(query, variable_values=variables, context_value=context)

    # A thread of its own: a notebook's kernel already runs an event loop.
    with (
        Session(shop().engine) as session,
        count_queries(session) as log,
        ThreadPoolExecutor(1) as pool,
    ):
        result = pool.submit(asyncio.run, run()).result()
    return result, log.count


def _first_error(result: Any) -> str:
    error = result.errors[0]
    cause = error.original_error or error
    return f"{type(cause).__name__}: {str(cause)[:160]}"


@task(
    "13.1",
    "product_loader",
    title="The order history's product hop in one query, whatever the page size",
    hints=(
        "The check runs the order history for 2 and for 12 orders and counts the SQL statements.",
        "A DataLoader hands your function every key a level of the query asked for: load them "
        "all with one `WHERE id IN (…)`.",
        "Return one value per key, in the keys' order, None for an id that is not there: the "
        "database answers in its own order, so index the rows by id and answer each key.",
    ),
    given={"query": HISTORY_QUERY},
)
def product_loader(batch: BatchFunction) -> None:
    """Right product names, a missing id as null, and the same statements for 2 and 12 orders."""
    if not callable(batch):
        raise Failed("pass the function itself: lk.check('13.1', load_products)")
    counts = {}
    for first in _SIZES:
        result, counts[first] = _execute(batch, HISTORY_QUERY, {"first": first})
        if result.errors:
            raise Failed(f"the query failed for {first} orders: {_first_error(result)}")
        got = [
            i["product"] and i["product"]["name"] for o in result.data["orders"] for i in o["items"]
        ]
        with shop().engine.connect() as conn:
            truth = list(conn.execute(sa.text(_TRUTH), {"first": first}).scalars())
        wrong = [(g, t) for g, t in zip(got, truth, strict=True) if g != t]
        if wrong:
            raise Failed(
                f"{len(wrong)} of {len(truth)} items show another product's name (e.g. "
                f"{wrong[0][0]!r} instead of {wrong[0][1]!r}): values must follow the keys' order"
            )
    missing, _ = _execute(batch, _MISSING_QUERY, {})
    if missing.errors or missing.data["product"] is not None:
        seen = _first_error(missing) if missing.errors else missing.data["product"]
        raise Failed(f"a product id that does not exist gave {seen}, not null")
    few, many = (counts[n] for n in _SIZES)
    if many != few or many > _MAX_STATEMENTS:
        raise Failed(
            f"{few} statements for {_SIZES[0]} orders, {many} for {_SIZES[1]}: the products "
            f"should cost one statement, whatever the page size (at most {_MAX_STATEMENTS} in all)"
        )


# -- 13.2: every product for a list screen, in pages the cost budget accepts --------------------

_TRUTH_QUERY = """query($after: String) { products(first: 10, after: $after) {
  edges { node { id name category { name } reviews(first: 1) { edges { node { rating } } } } }
  pageInfo { hasNextPage endCursor } } }"""
_MIN_PAGE = 20  # products per request the budget allows for this screen is about 35


def _truth() -> dict[int, dict[str, Any]]:
    """Every product as the screen needs it, read by the check in small pages."""
    products: dict[int, dict[str, Any]] = {}
    after = None
    with live_shop().client() as client:
        while True:
            answer = graphql(client, _TRUTH_QUERY, {"after": after})
            if answer.data is None:
                raise LabkitError(f"the shop refused the check's own catalogue query: {answer}")
            page = answer.data["products"]
            for edge in page["edges"]:
                node = edge["node"]
                reviews = node["reviews"]["edges"]
                products[node["id"]] = {
                    "name": node["name"],
                    "category": node["category"]["name"],
                    "rating": reviews[0]["node"]["rating"] if reviews else None,
                }
            if not page["pageInfo"]["hasNextPage"]:
                return products
            after = page["pageInfo"]["endCursor"]


@contextmanager
def _watched() -> Iterator[tuple[httpx.Client, list[list[str]]]]:
    """A client to the live shop that keeps the error codes of every GraphQL response."""
    codes: list[list[str]] = []

    def keep(response: httpx.Response) -> None:
        if response.request.url.path == "/graphql":
            response.read()
            body = response.json()
            parts = body if isinstance(body, list) else [body]
            errors = [e for p in parts if isinstance(p, dict) for e in p.get("errors") or []]
            codes.append([str((e.get("extensions") or {}).get("code")) for e in errors])

    with httpx.Client(base_url=live_shop().url, event_hooks={"response": [keep]}) as client:
        yield client, codes


@task(
    "13.2",
    "catalogue_within_budget",
    title="Every product for a list screen, in pages the cost budget accepts",
    hints=(
        "Run your query once with a small `first` and read `extensions.cost`: what does one "
        "more product add?",
        "The budget is 500 and pages cannot be asked for all at once: pick the largest `first` "
        "the budget allows and follow `pageInfo.endCursor` as `after` until `hasNextPage` is "
        "false.",
        "Each product adds about 14 to this query's cost: size the page from what the budget "
        "leaves. A refused page answers 200 with a COST_LIMIT error and no data: read `errors`.",
    ),
    given={"budget": 500},
)
def catalogue_within_budget(catalogue: Callable[[httpx.Client], dict[int, dict[str, Any]]]) -> None:
    """All products with category and newest rating; no refused request; pages near the budget."""
    if not callable(catalogue):
        raise Failed("pass the function itself: lk.check('13.2', catalogue)")
    truth = _truth()
    with _watched() as (client, codes):
        try:
            got = catalogue(client)
        except Exception as exc:
            raise Failed(f"the function raised {type(exc).__name__}: {str(exc)[:160]}") from None
    refused = sorted({code for errors in codes for code in errors})
    if refused:
        raise Failed(
            f"{sum(bool(e) for e in codes)} of {len(codes)} GraphQL requests came back with "
            f"errors ({', '.join(refused)}): a refused page is data you did not get"
        )
    got = dict(got or {})
    if set(got) != set(truth):
        raise Failed(f"{len(got)} products returned, the shop has {len(truth)}: follow the pages")
    wrong = [pid for pid, want in truth.items() if dict(got[pid]) != want]
    if wrong:
        raise Failed(
            f"{len(wrong)} products differ, e.g. {wrong[0]}: {dict(got[wrong[0]])} instead of "
            f"{truth[wrong[0]]}"
        )
    most = math.ceil(len(truth) / _MIN_PAGE)
    if len(codes) > most:
        raise Failed(
            f"{len(codes)} requests for {len(truth)} products: pages the budget accepts need at "
            f"most {most}"
        )
