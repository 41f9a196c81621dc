"""Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from sample_service import metrics
from sample_service.api.deps import DatabaseDep

router = APIRouter(tags=["operations"])


# Not part of the API contract: it speaks Prometheus' text format, not JSON.
@router.get("/metrics", include_in_schema=False)
async def scrape_metrics(database: DatabaseDep) -> Response:
    metrics.record_pool(database.pool_stats())
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
