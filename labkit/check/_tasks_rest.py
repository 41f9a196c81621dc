"""Module 04 (REST in practice): conditional reads, and a client that follows `next` links."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from labkit.check._registry import Failed, task
from labkit.check._shop import live_shop

_READS = 5
_PRODUCT = 7


class _Recorder(httpx.HTTPTransport):
    """Passes requests on and keeps each response's status and body size."""

    def __init__(self, *, page_size: int | None = None) -> None:
        super().__init__()
        self.seen: list[tuple[str, int, int]] = []
        self.page_size = page_size

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (
            self.page_size
            and request.url.path == "/v1/orders"
            and "limit" not in request.url.params
        ):
            request.url = request.url.copy_merge_params({"limit": self.page_size})
        response = super().handle_request(request)
        response.read()
        self.seen.append((request.url.path, response.status_code, len(response.content)))
        return response


def _client(recorder: _Recorder, who: str = "customer") -> httpx.Client:
    headers = dict(live_shop().login(who).headers)
    return httpx.Client(base_url=live_shop().url, transport=recorder, headers=headers)


@task(
    "04.1",
    "conditional_product_read",
    title="Re-reading a product costs no body when it has not changed",
    hints=(
        "The first read's response carries an ETag header; keep it with the body.",
        "Send it back as If-None-Match; a 304 has no body, so answer from what you kept.",
        "Key your cache by product id and store both the ETag and the JSON.",
    ),
)
def conditional_product_read(read: Callable[[httpx.Client, int, dict[Any, Any]], Any]) -> None:
    """Five reads through one cache: one 200 with a body, then 304s, the same product each time."""
    if not callable(read):
        raise Failed("pass the function itself: lk.check('04.1', read_product)")
    recorder = _Recorder()
    cache: dict[Any, Any] = {}
    with _client(recorder) as client:
        expected = client.get(f"/v1/products/{_PRODUCT}").json()
        recorder.seen.clear()
        answers = [read(client, _PRODUCT, cache) for _ in range(_READS)]
    if any(answer != expected for answer in answers):
        raise Failed(f"a read returned something else than product {_PRODUCT}'s JSON")
    statuses = [status for _path, status, _size in recorder.seen]
    if statuses != [200] + [304] * (_READS - 1):
        raise Failed(f"the service answered {statuses}; after the first read each should be 304")


@task(
    "04.2",
    "every_order_by_links",
    title="Every order, by following `next` until there is none",
    hints=(
        "A page tells you where the next one is; a client that builds URLs breaks when they change.",
        "Loop while the page has a next link; the last page has none (null, and no Link header).",
        "page['next'] (or the Link header's rel=\"next\") is the whole URL of the next page.",
    ),
)
def every_order_by_links(fetch_all: Callable[[httpx.Client], list[int]]) -> None:
    """All of the customer's order ids, once each, in several pages (limit=2 forces them)."""
    if not callable(fetch_all):
        raise Failed("pass the function itself: lk.check('04.2', all_order_ids)")
    recorder = _Recorder(page_size=2)  # small pages, so that there are several
    with _client(recorder) as client:
        expected = [order["id"] for order in client.get("/v1/orders?limit=100").json()["items"]]
        recorder.seen.clear()
        got = list(fetch_all(client))
    pages = sum(1 for path, _status, _size in recorder.seen if path == "/v1/orders")
    if sorted(got) != sorted(expected):
        missing = sorted(set(expected) - set(got))
        raise Failed(f"got {len(got)} ids for {len(expected)} orders (missing e.g. {missing[:3]})")
    if len(got) != len(set(got)):
        raise Failed("some order ids came twice")
    if pages < 2:
        raise Failed("all orders came in one request; follow the pages the service gives you")
