"""Reports for staff: aggregates, not resources."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from sample_service.api.deps import SessionDep, StaffUser
from sample_service.api.problems import problem_responses
from sample_service.schemas.catalog import SalesReport, SalesRow
from sample_service.services import reports

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.get(
    "/sales",
    summary="Sales by day or category in [from, to) (staff)",
    responses=problem_responses(400, 401, 403, 422, 429),
)
def sales_report(
    _staff: StaffUser,
    session: SessionDep,
    date_from: Annotated[dt.date, Query(alias="from", examples=["2025-01-01"])],
    date_to: Annotated[dt.date, Query(alias="to", examples=["2025-02-01"])],
    group_by: reports.GroupBy = "day",
) -> SalesReport:
    lines = reports.sales_report(
        session=session, date_from=date_from, date_to=date_to, group_by=group_by
    )
    rows = [SalesRow(**vars(line)) for line in lines]
    total = sum(row.revenue_cents for row in rows)
    return SalesReport(
        date_from=date_from,
        date_to=date_to,
        group_by=group_by,
        rows=rows,
        total_revenue_cents=total,
    )
