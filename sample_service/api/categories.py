"""Categories: a short list everyone reads, staff add to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from sample_service.api.deps import SessionDep, StaffUser, path_id
from sample_service.api.problems import created_responses, problem_responses
from sample_service.schemas.catalog import CategoryCreate, CategoryRead
from sample_service.services import catalog

router = APIRouter(prefix="/v1/categories", tags=["catalog"])

CategoryId = Annotated[int, path_id("Category", 1)]


@router.get("", summary="List every category", responses=problem_responses(429))
def list_categories(session: SessionDep) -> list[CategoryRead]:
    return [CategoryRead.model_validate(c) for c in catalog.list_categories(session=session)]


@router.get(
    "/{category_id}", summary="Read one category", responses=problem_responses(404, 422, 429)
)
def get_category(category_id: CategoryId, session: SessionDep) -> CategoryRead:
    return CategoryRead.model_validate(
        catalog.get_category(session=session, category_id=category_id)
    )


@router.post(
    "",
    status_code=201,
    summary="Create a category (staff)",
    responses=created_responses("category", 401, 403, 409, 413, 415, 422, 429),
)
async def create_category(
    data: CategoryCreate, _staff: StaffUser, session: SessionDep, response: Response
) -> CategoryRead:
    category = await run_in_threadpool(
        lambda: catalog.create_category(session=session, **data.model_dump())
    )
    response.headers["Location"] = f"{router.prefix}/{category.id}"
    return CategoryRead.model_validate(category)
