"""Prometheus metrics: requests and latency by route template, in-flight, DB pool, replica lag.

Route templates, never raw paths, label the series: ``/v1/products/{product_id}`` is one
series whatever the id, so cardinality stays bounded.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "shop_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "shop_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
IN_FLIGHT = Gauge("shop_http_requests_in_flight", "HTTP requests being handled now")
DB_POOL = Gauge("shop_db_pool_connections", "Connections of the sync pool by state", ["state"])
JOBS = Gauge("shop_jobs", "Jobs in the database queue by queue and status", ["queue", "status"])
OUTBOX_UNPUBLISHED = Gauge("shop_outbox_unpublished", "Outbox events not yet published")
DB_READS = Counter(
    "shop_db_reads_total",
    "Catalog reads by the server that answered (counted only with a read replica configured)",
    ["server"],
)
# Labelled by the replica's address, so a service without one exports no series at all.
REPLICA_LAG = Gauge(
    "shop_replica_lag_seconds",
    "Age of the replica's last replayed commit while WAL waits to replay (0: caught up)",
    ["replica"],
)
REPLICA_LAG_BYTES = Gauge(
    "shop_replica_lag_bytes",
    "WAL the primary has written that the replica has not replayed",
    ["replica"],
)
OUTBOX_LAG = Gauge(
    "shop_outbox_lag_seconds",
    "Age of the oldest unpublished outbox event: how far read models may trail the orders",
)

READ_MODEL_PENDING = Gauge(
    "shop_read_model_pending_events", "Order events the sales read models have not applied yet"
)
READ_MODEL_LAG = Gauge(
    "shop_read_model_lag_seconds",
    "Age of the oldest order event the sales read models have not applied (0: caught up)",
)
STREAM_DROPPED = Counter(
    "shop_stream_clients_dropped_total",
    "Live-view clients cut off for reading too slowly, by channel (sse, websocket)",
    ["channel"],
)
for _channel in ("sse", "websocket"):  # both series exist, at 0, before the first drop
    STREAM_DROPPED.labels(_channel)

# Labelled children by label values: ``labels()`` takes a lock and builds a key on
# every call, a measurable share of a fast request; the set of routes is bounded.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_reads: dict[str, Any] = {}


def observe(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and record its latency."""
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (
            REQUESTS.labels(method, route, str(status)),
            LATENCY.labels(method, route),
        )
    children[0].inc()
    children[1].observe(seconds)


def count_read(server: str) -> None:
    """Count one catalog read answered by ``server`` ("primary" or "replica")."""
    child = _reads.get(server)
    if child is None:
        child = _reads[server] = DB_READS.labels(server)
    child.inc()


def count_dropped(channel: str) -> None:
    """Count one live-view client cut off for being slow on ``channel``."""
    STREAM_DROPPED.labels(channel).inc()


def record_replica(replica: str, seconds: float, lag_bytes: float) -> None:
    """Copy the lag of ``replica`` (host:port) into gauges at scrape time."""
    REPLICA_LAG.labels(replica).set(seconds)
    REPLICA_LAG_BYTES.labels(replica).set(lag_bytes)


def record_pool(stats: dict[str, int]) -> None:
    """Copy the pool's counts into gauges at scrape time (they change on every checkout)."""
    for state, value in stats.items():
        DB_POOL.labels(state).set(value)


def record_backlog(jobs: dict[tuple[str, str], int], unpublished: int, lag_seconds: float) -> None:
    """Copy the async backlog into gauges at scrape time; statuses now empty drop out."""
    JOBS.clear()
    for (queue, status), count in jobs.items():
        JOBS.labels(queue, status).set(count)
    OUTBOX_UNPUBLISHED.set(unpublished)
    OUTBOX_LAG.set(lag_seconds)


def record_read_model(pending: int, lag_seconds: float) -> None:
    """Copy the read models' distance behind the orders into gauges at scrape time."""
    READ_MODEL_PENDING.set(pending)
    READ_MODEL_LAG.set(lag_seconds)
