"""Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.concurrency import run_in_threadpool

from sample_service import metrics
from sample_service.api.deps import DatabaseDep
from sample_service.db import Database, session_scope
from sample_service.messaging.consumers import read_model_lag
from sample_service.services import jobs

router = APIRouter(tags=["operations"])


# Not part of the API contract: it speaks Prometheus' text format, not JSON.
@router.get("/metrics", include_in_schema=False)
async def scrape_metrics(database: DatabaseDep) -> Response:
    metrics.record_pool(database.pool_stats())
    metrics.record_backlog(*await run_in_threadpool(_backlog, database))  # sync query: off the loop
    lag = await database.replica_lag()
    if lag is not None:
        metrics.record_replica(*lag)
    metrics.record_read_model(*await run_in_threadpool(_read_model_lag, database))
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _backlog(database: Database) -> tuple[dict[tuple[str, str], int], int, float]:
    with session_scope(database) as session:
        return jobs.backlog(session=session)


def _read_model_lag(database: Database) -> tuple[int, float]:
    with session_scope(database) as session:
        return read_model_lag(session.connection())
