"""REST seen from the client: exchanges as table rows, paginated walks, links followed.

Taught in 04_rest_in_practice.

>>> walk = lk.rest.walk(client, "/v1/products", {"limit": 100})
>>> walk.duplicates, walk.missed(expected_ids)
>>> lk.rest.LinkClient(client).follow(order, "cancel")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd
import sqlalchemy as sa

from labkit.databases import Database
from labkit.errors import LabkitError

__all__ = ["LinkClient", "Walk", "exchange", "grow_catalog", "walk"]

PROBLEM_JSON = "application/problem+json"


def exchange(response: httpx.Response, why: str = "") -> dict[str, Any]:
    """One request and its answer as a table row: what was asked, the status, the problem.

    Taught in 04_rest_in_practice.
    """
    content_type = response.headers.get("content-type", "")
    problem: dict[str, Any] = response.json() if content_type == PROBLEM_JSON else {}
    return {
        "status": response.status_code,
        "request": f"{response.request.method} {response.request.url.raw_path.decode()}",
        "why": why,
        "content_type": content_type.split(";")[0],
        "problem_type": problem.get("type", ""),
        "detail": problem.get("detail", ""),
        "request_id": problem.get("request_id", ""),
        "x_request_id": response.headers.get("x-request-id", ""),
        "location": response.headers.get("location", ""),
    }


@dataclass
class Walk:
    """Every page a walk served: the rows in the order seen, and each page's depth and time."""

    items: list[dict[str, Any]] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        """The ids served, in order, repeats included."""
        return [item["id"] for item in self.items]

    @property
    def duplicates(self) -> int:
        """Rows served more than once (each extra serving counts)."""
        return len(self.ids) - len(set(self.ids))

    def missed(self, expected: Iterable[int]) -> int:
        """Rows in ``expected`` (there for the whole walk) that no page served."""
        return len(set(expected) - set(self.ids))

    def boundary_ties(self, key: str) -> int:
        """Page boundaries where the last row of a page and the first of the next share ``key``.

        Each one is a place where a sort without a tie-breaker could repeat or drop a row.
        """
        starts = [page["depth"] for page in self.pages[1:] if page["items"]]
        return sum(self.items[i - 1][key] == self.items[i][key] for i in starts)

    def frame(self) -> pd.DataFrame:
        """One row per page: its number, the depth it started at, items and milliseconds."""
        return pd.DataFrame(self.pages, columns=["page", "depth", "items", "ms"])

    def __repr__(self) -> str:
        return f"<Walk {len(self.pages)} pages, {len(self.ids)} rows, {self.duplicates} duplicates>"


def walk(
    client: httpx.Client,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    between: Callable[[Walk], object] | None = None,
    max_pages: int = 10_000,
) -> Walk:
    """Follow ``next`` links from the first page to the last, timing each page.

    Works for cursor and offset pagination alike (pass ``offset=0`` for offset): the walk
    never builds a URL, it follows what the service links. ``between(walk_so_far)`` runs
    after each page, e.g. to insert or delete rows while the walk is under way.

    Taught in 04_rest_in_practice.
    """
    result = Walk()
    url: str | None = path
    query: Mapping[str, Any] | None = params
    while url is not None:
        if len(result.pages) >= max_pages:
            raise LabkitError(
                f"the walk of {path} passed {max_pages} pages; narrow it with filters "
                "or raise max_pages="
            )
        start = time.perf_counter()
        response = client.get(url, params=query)
        elapsed_ms = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise LabkitError(
                f"page {len(result.pages) + 1} of {path} answered {response.status_code}: "
                f"{response.text[:200]}"
            )
        body = response.json()
        result.pages.append(
            {"page": len(result.pages) + 1, "depth": len(result.items),
             "items": len(body["items"]), "ms": elapsed_ms}
        )  # fmt: skip
        result.items += body["items"]
        url, query = body.get("next"), None
        if between is not None and url is not None:
            between(result)
    return result


_BULK_PRODUCTS = """
WITH RECURSIVE n(i) AS (SELECT 1 WHERE :count > 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count),
start(id) AS (SELECT coalesce(max(id), 0) FROM products)
INSERT INTO products (category_id, sku, name, description, price_cents, stock, version,
                      created_at, updated_at)
SELECT c.id, 'BULK-' || (start.id + n.i), 'Bulk item ' || n.i, '', 100 + (n.i * 7919) % 10000,
       10, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
FROM start, n JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM categories) c
  ON c.k = n.i % (SELECT count(*) FROM categories)
"""


def grow_catalog(db: Database, *, products: int) -> int:
    """Add ``products`` cheap rows to a seeded shop in one statement, so paging has depth.

    Prices repeat (10,000 distinct values), so sorting by price has many ties. Returns the
    number of live products afterwards.

    Taught in 04_rest_in_practice.
    """
    with db.engine.begin() as conn:
        conn.execute(sa.text(_BULK_PRODUCTS), {"count": products})
        total = conn.scalar(sa.text("SELECT count(*) FROM products WHERE deleted_at IS NULL"))
    return int(total or 0)


class LinkClient:
    """A client that only follows links a resource carries; it never builds a URL.

    >>> links = LinkClient(client)
    >>> order = links.follow(order, "self")
    >>> links.can(order, "cancel")

    Taught in 04_rest_in_practice.
    """

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.visited: list[str] = []

    @staticmethod
    def can(resource: Mapping[str, Any], rel: str) -> bool:
        """True when the resource offers the link ``rel`` (the server decides, per state)."""
        return rel in resource.get("links", {})

    def follow(self, resource: Mapping[str, Any], rel: str, **kwargs: Any) -> Any:
        """Request the link ``rel`` with its method; the JSON it answers."""
        links = resource.get("links", {})
        if rel not in links:
            raise LabkitError(
                f"the resource offers no {rel!r} link (it offers {sorted(links)}); "
                "a link is absent when the action is not allowed in this state"
            )
        link = links[rel]
        method = link.get("method", "GET")
        response = self.client.request(method, link["href"], **kwargs)
        self.visited.append(f"{method} {link['href']} → {response.status_code}")
        if response.is_error:
            raise LabkitError(
                f"{method} {link['href']} answered {response.status_code}: {response.text[:200]}"
            )
        return response.json()
