"""API styles side by side: the shop over REST, GraphQL and gRPC, measured (notebook 13).

`lk.styles.graphql(client, query)` asks the GraphQL endpoint; `one_screen` fetches the
same screen three ways; `statements` counts SQL per GraphQL query with DataLoaders off
and on; `grpc_load` is the small gRPC load client; `graphql_changes` and `proto_changes`
are the evolution checks of each contract.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd

from labkit._protobuf import cross_decode, proto_changes, proto_messages
from labkit.errors import BadArgument

if TYPE_CHECKING:
    from labkit.service import LiveService

__all__ = [
    "AUTH_QUERY",
    "PAGE_QUERY",
    "PROTO",
    "SCENARIOS",
    "GraphQLAnswer",
    "alias_flood",
    "catalog_stub",
    "cross_decode",
    "deep_query",
    "field_access",
    "graphql",
    "graphql_changes",
    "grpc_load",
    "one_screen",
    "proto_changes",
    "proto_messages",
    "sdl",
    "statements",
]

#: The catalog's gRPC contract, as the service publishes it.
PROTO = Path(__file__).resolve().parent.parent / "sample_service" / "grpc" / "shop_catalog.proto"

SCREEN_QUERY = """query Screen($id: Int!) { product(id: $id) {
  id name priceCents category { name }
  reviews(first: 5) { edges { node { rating body author { fullName } } } } } }"""

PAGE_QUERY = """query Page($first: Int!) { products(first: $first) { edges { node {
  name category { name }
  reviews(first: 5) { edges { node { rating author { fullName } } } } } } } }"""


@dataclass(frozen=True)
class GraphQLAnswer:
    """A GraphQL response: its data, errors, extensions and what the HTTP layer said."""

    data: dict[str, Any] | None
    errors: list[dict[str, Any]]
    extensions: dict[str, Any]
    status_code: int
    headers: httpx.Headers
    size: int

    @property
    def codes(self) -> list[str]:
        """The ``extensions.code`` of each error, in order."""
        return [str((e.get("extensions") or {}).get("code")) for e in self.errors]

    @property
    def cost(self) -> int | None:
        """The query cost the service reported (None when refused before costing)."""
        cost = self.extensions.get("cost") or {}
        return cost.get("requested")

    def __repr__(self) -> str:
        return (
            f"GraphQLAnswer(status={self.status_code}, errors={self.codes}, "
            f"cost={self.cost}, bytes={self.size})"
        )


def graphql(
    client: httpx.Client,
    query: str | list[str],
    variables: dict[str, Any] | None = None,
    **headers: str,
) -> GraphQLAnswer:
    """POST a query (or a batch of queries) to ``/graphql`` and return the answer.

    Taught in 13_api_styles. Example: `lk.styles.graphql(client, "{ categories { name } }")`
    """
    if isinstance(query, list):
        body: Any = [{"query": q, "variables": variables or {}} for q in query]
    else:
        body = {"query": query, "variables": variables or {}}
    response = client.post("/graphql", json=body, headers=headers)
    parsed = response.json()
    if isinstance(parsed, list):  # a batch: errors and extensions of every operation
        errors = [e for part in parsed for e in part.get("errors") or []]
        return GraphQLAnswer(
            {"batch": [part.get("data") for part in parsed]},
            errors,
            {},
            response.status_code,
            response.headers,
            len(response.content),
        )
    errors = list(parsed.get("errors") or [])
    if "title" in parsed and "status" in parsed:  # a problem+json refusal from the HTTP layer
        errors = [{"message": parsed["detail"], "extensions": {"code": parsed["title"]}}]
    return GraphQLAnswer(
        parsed.get("data"),
        errors,
        parsed.get("extensions") or {},
        response.status_code,
        response.headers,
        len(response.content),
    )


# -- one screen, three ways --------------------------------------------------------------------


def one_screen(svc: LiveService, product_id: int = 1) -> pd.DataFrame:
    """A product with its category, its last 5 reviews and each reviewer's name, three ways.

    REST signs in as staff to read reviewers' names (``GET /v1/users/{id}`` is staff only).
    Bytes are response bodies (REST, GraphQL) and the serialized reply (gRPC), without
    HTTP headers or HTTP/2 framing. Needs ``LiveService(grpc=True)``. Taught in 13_api_styles.
    """
    rest_bytes, trips = 0, 0
    with svc.login("staff") as client:

        def get(path: str) -> Any:
            nonlocal rest_bytes, trips
            response = client.get(path)
            response.raise_for_status()
            rest_bytes, trips = rest_bytes + len(response.content), trips + 1
            return response.json()

        product = get(f"/v1/products/{product_id}")
        get(f"/v1/categories/{product['category_id']}")
        reviews = get(f"/v1/products/{product_id}/reviews?limit=5")["items"]
        rest_names = [get(f"/v1/users/{r['user_id']}")["full_name"] for r in reviews]
        answer = graphql(client, SCREEN_QUERY, {"id": product_id})
    gql = answer.data["product"] if answer.data else {}
    gql_names = [e["node"]["author"]["fullName"] for e in gql["reviews"]["edges"]]

    with catalog_stub(_grpc_target(svc)) as (stub, messages):
        screen = stub.GetProductScreen(messages.GetProductRequest(id=product_id), timeout=5)
    grpc_names = [r.author_name for r in screen.reviews]
    rows = [
        ("REST", trips, rest_bytes, rest_names),
        ("GraphQL", 1, answer.size, gql_names),
        ("gRPC", 1, screen.ByteSize(), grpc_names),
    ]
    return pd.DataFrame(rows, columns=["style", "round_trips", "bytes", "reviewers"]).set_index(
        "style"
    )


# -- N+1 in GraphQL ----------------------------------------------------------------------------


def statements(svc: LiveService, page_sizes: list[int]) -> pd.DataFrame:
    """SQL statements per GraphQL page query, DataLoaders off and on, for each page size.

    Reads the lab-mode ``X-DB-Queries`` header; toggles the ``no_dataloader`` switch through
    ``/lab/switches`` (signed in as admin) and leaves it off. Taught in 13_api_styles.
    """
    rows: list[dict[str, Any]] = []
    with svc.login("admin") as client:
        _count(client, page_sizes, rows)
    return pd.DataFrame(rows).pivot(index="page_size", columns="dataloader", values="statements")


def _count(client: httpx.Client, page_sizes: list[int], rows: list[dict[str, Any]]) -> None:
    """Fill ``rows`` with statement counts per page size, loaders off then on."""
    admin = dict(client.headers)
    try:
        for loaders in (False, True):
            switch = client.patch(
                "/lab/switches", json={"no_dataloader": not loaders}, headers=admin
            )
            switch.raise_for_status()
            for size in page_sizes:
                response = client.post(
                    "/graphql", json={"query": PAGE_QUERY, "variables": {"first": size}}
                )
                if response.status_code != 200 or response.json().get("errors"):
                    raise BadArgument(f"the page query failed: {response.text[:300]}")
                count = int(response.headers["x-db-queries"])
                rows.append({"dataloader": loaders, "page_size": size, "statements": count})
    finally:
        client.patch("/lab/switches", json={"no_dataloader": False}, headers=admin)


# -- abuse and field-level authorization ------------------------------------------------------


def deep_query(levels: int) -> str:
    """A query nesting product → category → products ``levels`` times (depth grows by 4 each).

    Taught in 13_api_styles.
    """
    inner = "id"
    for _ in range(levels):
        inner = f"category {{ products(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"
    return f"{{ product(id: 1) {{ {inner} }} }}"


def alias_flood(count: int) -> str:
    """One query asking for the categories ``count`` times under different aliases.

    Taught in 13_api_styles.
    """
    return "{ " + " ".join(f"a{i}: categories {{ id }}" for i in range(count)) + " }"


#: Fields each role may or may not see: the viewer's e-mail, reviewers' e-mails, order totals.
AUTH_QUERY = """{ me { email }
  product(id: 1) { reviews(first: 5) { edges { node { author { id email } } } } }
  orders(first: 5) { edges { node { totalCents } } } }"""


def field_access(svc: LiveService) -> pd.DataFrame:
    """``AUTH_QUERY`` as anonymous, customer and staff: which protected fields came back.

    Taught in 13_api_styles.
    """
    rows = []
    for who in ("anonymous", "customer", "staff"):
        client = svc.client() if who == "anonymous" else svc.login(who)
        with client:
            answer = graphql(client, AUTH_QUERY)
        data = answer.data or {}
        edges = ((data.get("product") or {}).get("reviews") or {}).get("edges") or []
        emails = [e["node"]["author"]["email"] for e in edges]
        totals = [e["node"]["totalCents"] for e in ((data.get("orders") or {}).get("edges") or [])]
        rows.append(
            {
                "caller": who,
                "own e-mail": (data.get("me") or {}).get("email"),
                "reviewer e-mails shown": sum(e is not None for e in emails),
                "reviewer e-mails hidden": sum(e is None for e in emails),
                "order totals shown": sum(t is not None for t in totals),
                "order totals hidden": sum(t is None for t in totals),
                "error codes": sorted(set(answer.codes)),
            }
        )
    return pd.DataFrame(rows).set_index("caller")


# -- gRPC ---------------------------------------------------------------------------------------


def _grpc_target(svc: LiveService) -> str:
    if svc.grpc_target is None:
        raise BadArgument("this service has no gRPC port; start it with LiveService(grpc=True)")
    return svc.grpc_target


@contextmanager
def catalog_stub(target: str, proto: Path = PROTO) -> Iterator[tuple[Any, Any]]:
    """A blocking stub of the catalog service and its message module, channel closed after."""
    import grpc

    messages, services = _generated(proto)
    with grpc.insecure_channel(target) as channel:
        yield services.CatalogStub(channel), messages


_GENERATED: dict[Path, tuple[Any, Any]] = {}


def _generated(proto: Path) -> tuple[Any, Any]:
    """The proto's message and service modules, compiled in memory once per process."""
    if proto not in _GENERATED:
        import grpc

        sys.path.insert(0, str(proto.parent))
        try:
            _GENERATED[proto] = grpc.protos_and_services(proto.name)
        finally:
            sys.path.remove(str(proto.parent))
    return _GENERATED[proto]


#: Locust scenarios reading the same catalog page over REST and over GraphQL.
SCENARIOS = {
    "REST": Path(__file__).resolve().parent / "load" / "scenarios" / "catalog_rest.py",
    "GraphQL": Path(__file__).resolve().parent / "load" / "scenarios" / "catalog_graphql.py",
}


def grpc_load(
    target: str, *, duration: float = 5.0, users: int = 4, page_size: int = 20
) -> pd.Series:
    """Closed-loop gRPC load: ``users`` threads each calling ``ListProducts`` back to back.

    Returns requests, failures, requests/s and latency percentiles (ms). The counterpart
    of a Locust run over HTTP (also one request in flight per user, no think time).
    Taught in 13_api_styles.
    """
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    stop = time.perf_counter() + duration

    def user() -> None:
        nonlocal failures
        own: list[float] = []
        bad = 0
        with catalog_stub(target) as (stub, messages):
            request = messages.ListProductsRequest(page_size=page_size)
            while time.perf_counter() < stop:
                start = time.perf_counter()
                try:
                    stub.ListProducts(request, timeout=5)
                    own.append(time.perf_counter() - start)
                except Exception:  # a failed call is counted, not raised
                    bad += 1
        with lock:
            latencies.extend(own)
            failures += bad

    threads = [threading.Thread(target=user) for _ in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ms = pd.Series(latencies) * 1000
    return pd.Series(
        {
            "requests": len(latencies),
            "failures": failures,
            "rps": len(latencies) / duration,
            "p50_ms": ms.quantile(0.5) if len(ms) else float("nan"),
            "p95_ms": ms.quantile(0.95) if len(ms) else float("nan"),
        }
    )


# -- GraphQL evolution -------------------------------------------------------------------------


def sdl(client: httpx.Client) -> str:
    """The live schema as SDL, read by introspection (on only in lab mode).

    Taught in 13_api_styles.
    """
    from graphql import build_client_schema, get_introspection_query, print_schema

    answer = graphql(client, get_introspection_query())
    if answer.errors or answer.data is None:
        raise BadArgument(
            f"introspection was refused ({answer.codes}); start the service with lab_mode=True"
        )
    return print_schema(build_client_schema(answer.data))  # type: ignore[arg-type]


def graphql_changes(old_sdl: str, new_sdl: str) -> pd.DataFrame:
    """Breaking and dangerous changes from ``old_sdl`` to ``new_sdl`` (graphql-core's finder).

    Taught in 13_api_styles. Example: `lk.styles.graphql_changes(v1, v2)`
    """
    from graphql import build_schema, find_breaking_changes, find_dangerous_changes

    old, new = build_schema(old_sdl), build_schema(new_sdl)
    rows = [("breaking", c.type.name, c.description) for c in find_breaking_changes(old, new)]
    rows += [("dangerous", c.type.name, c.description) for c in find_dangerous_changes(old, new)]
    return pd.DataFrame(rows, columns=["verdict", "kind", "description"])
