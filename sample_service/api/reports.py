"""Reports for staff: aggregates, not resources; JSON or CSV by ``Accept``."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from sample_service.api.deps import SessionDep, SettingsDep, StaffUser
from sample_service.api.negotiation import choose
from sample_service.api.problems import problem_responses
from sample_service.errors import BadRequest
from sample_service.messaging import sales
from sample_service.schemas.catalog import SalesReport, SalesRow
from sample_service.services import reports

router = APIRouter(prefix="/v1/reports", tags=["reports"])

JSON, CSV = "application/json", "text/csv"
_CSV_EXAMPLE = "key,orders,units,revenue_cents\n2025-01-01,12,30,45900\n"


def _csv(rows: list[SalesRow]) -> str:
    """One header line, then one line per group: what a spreadsheet opens."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(SalesRow.model_fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(row.model_dump() for row in rows)
    return out.getvalue()


@router.get(
    "/sales",
    summary="Sales by day or category in [from, to) (staff), as JSON or CSV",
    response_model=SalesReport,
    responses={
        200: {"content": {CSV: {"schema": {"type": "string"}, "example": _CSV_EXAMPLE}}},
        **problem_responses(400, 401, 403, 406, 409, 422, 429),
    },
)
def sales_report(
    _staff: StaffUser,
    session: SessionDep,
    date_from: Annotated[dt.date, Query(alias="from", examples=["2025-01-01"])],
    date_to: Annotated[dt.date, Query(alias="to", examples=["2025-02-01"])],
    settings: SettingsDep,
    group_by: reports.GroupBy = "day",
    source: Annotated[
        Literal["orders", "stream", "batch"],
        Query(description="orders (live), stream (the events' read model) or batch (the ETL)"),
    ] = "orders",
    accept: Annotated[str | None, Header(description=f"{JSON} (default) or {CSV}")] = None,
) -> Response:
    media_type = choose(accept, (JSON, CSV))  # before the query: a 406 costs nothing
    if source != "orders" and date_from >= date_to:
        raise BadRequest(f"`from` ({date_from}) must be before `to` ({date_to})")
    if source != "orders" and group_by != "day":
        raise BadRequest(f"source={source} keeps sales by day only; use group_by=day")
    if source == "stream":
        lines = sales.from_stream(session=session, date_from=date_from, date_to=date_to)
    elif source == "batch":
        lines = sales.from_batch(lake=settings.sales_lake, date_from=date_from, date_to=date_to)
    else:
        lines = reports.sales_report(
            session=session, date_from=date_from, date_to=date_to, group_by=group_by
        )
    rows = [SalesRow(**vars(line)) for line in lines]
    headers = {"Vary": "Accept"}
    if media_type == CSV:
        return Response(_csv(rows), media_type=CSV, headers=headers)
    report = SalesReport(
        date_from=date_from,
        date_to=date_to,
        group_by=group_by,
        rows=rows,
        total_revenue_cents=sum(row.revenue_cents for row in rows),
    )
    return Response(report.model_dump_json(), media_type=JSON, headers=headers)
