"""Reviews of products: one per user and product."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from sample_service.api.deps import CacheDep, CurrentUser, ProductDep, SessionDep, path_id
from sample_service.api.problems import created_responses, problem_responses
from sample_service.cache import product_key
from sample_service.models import Review
from sample_service.pagination import next_link
from sample_service.schemas.reviews import ReviewCreate, ReviewPage, ReviewRead, ReviewUpdate
from sample_service.services import reviews

router = APIRouter(prefix="/v1", tags=["reviews"])

ReviewId = Annotated[int, path_id("Review", 3)]


@router.post(
    "/products/{product_id}/reviews",
    response_model=ReviewRead,
    status_code=status.HTTP_201_CREATED,
    summary="Review a product (once per user)",
    responses=created_responses("review", 401, 404, 409, 422, 429),
)
def create_review(
    product: ProductDep,
    session: SessionDep,
    user: CurrentUser,
    body: ReviewCreate,
    cache: CacheDep,
    response: Response,
) -> Review:
    """A second review of the same product by the same user is a 409."""
    review = reviews.create_review(
        session=session, user_id=user.id, product_id=product.id, rating=body.rating, body=body.body
    )
    # Kept in step with every write, whatever the product representation shows.
    cache.invalidate_from_thread(product_key(product.id))
    response.headers["Location"] = f"/v1/reviews/{review.id}"
    return review


@router.get(
    "/products/{product_id}/reviews",
    response_model=ReviewPage,
    summary="A product's reviews, newest first",
    responses=problem_responses(400, 404, 422, 429),
)
def list_reviews(
    product: ProductDep,
    session: SessionDep,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ReviewPage:
    """Cursor pagination: follow `next` (also in the `Link` header) until it is null."""
    page, after = reviews.list_reviews(
        session=session, product_id=product.id, limit=limit, cursor=cursor
    )
    next_url = next_link(request, response, cursor=after)
    return ReviewPage(items=[ReviewRead.model_validate(r) for r in page], next=next_url)


@router.get(
    "/reviews/{review_id}",
    response_model=ReviewRead,
    summary="One review",
    responses=problem_responses(404, 422, 429),
)
def read_review(review_id: ReviewId, session: SessionDep) -> Review:
    """Reviews are public."""
    return reviews.get_review(session=session, review_id=review_id)


@router.patch(
    "/reviews/{review_id}",
    response_model=ReviewRead,
    summary="Correct your review (its author, within 24 hours)",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def update_review(
    review_id: ReviewId, body: ReviewUpdate, session: SessionDep, user: CurrentUser, cache: CacheDep
) -> Review:
    """An attribute rule, not a role: staff cannot edit a customer's words either (403)."""
    review = reviews.update_review(
        session=session, review_id=review_id, user=user, rating=body.rating, body=body.body
    )
    cache.invalidate_from_thread(product_key(review.product_id))
    return review


@router.delete(
    "/reviews/{review_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a review (its author or staff)",
    responses=problem_responses(401, 404, 422, 429),
)
def delete_review(
    review_id: ReviewId, session: SessionDep, user: CurrentUser, cache: CacheDep
) -> None:
    """Someone else's review is a 404 for customers."""
    product_id = reviews.delete_review(session=session, review_id=review_id, user=user)
    cache.invalidate_from_thread(product_key(product_id))
