"""Reviews: one per user and product, listed newest first."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from sample_service.errors import NotFound
from sample_service.models import Review, User
from sample_service.pagination import Cursor, after, first_per_parent
from sample_service.policy import authorize, may_edit_review
from sample_service.services.transactions import commit_or_conflict, start_write
from sample_service.services.users import STAFF_ROLES

REVIEW_SORT = "-id"


def create_review(
    *, session: Session, user_id: int, product_id: int, rating: int, body: str
) -> Review:
    """Add the user's review of a product; 409 when they already reviewed it.

    The unique constraint decides, not a prior SELECT, so two concurrent
    submissions cannot both land.
    """
    start_write(session)
    review = Review(user_id=user_id, product_id=product_id, rating=rating, body=body)
    session.add(review)
    commit_or_conflict(
        session, f"user {user_id} already reviewed product {product_id}; delete that review first"
    )
    return review


def list_reviews(
    *, session: Session, product_id: int, limit: int, cursor: str | None = None
) -> tuple[list[Review], str | None]:
    """A page of a product's reviews, newest first, and the next page's cursor."""
    query = (
        select(Review)
        .where(Review.product_id == product_id)
        .order_by(Review.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        position = Cursor.decode(cursor, sort=REVIEW_SORT)
        query = query.where(after(Review.id, Review.id, position, descending=True))
    reviews = list(session.scalars(query))
    page = reviews[:limit]
    if len(reviews) <= limit:
        return page, None
    return page, Cursor(sort=REVIEW_SORT, value=page[-1].id, last_id=page[-1].id).encode()


def first_reviews_of_products(
    *, session: Session, product_ids: list[int], limit: int
) -> dict[int, list[Review]]:
    """The newest ``limit`` reviews of each product, in one query (GraphQL's DataLoader)."""
    query = first_per_parent(
        select(Review), Review.product_id, Review.id.desc(), parent_ids=product_ids, limit=limit
    )
    found: dict[int, list[Review]] = {product_id: [] for product_id in product_ids}
    for review in session.scalars(query):
        found[review.product_id].append(review)
    return found


def get_review(*, session: Session, review_id: int) -> Review:
    """A review by id, or ``NotFound``."""
    review = session.get(Review, review_id)
    if review is None:
        raise NotFound(f"review {review_id} does not exist")
    return review


def update_review(
    *,
    session: Session,
    review_id: int,
    user: User,
    rating: int | None = None,
    body: str | None = None,
    now: dt.datetime | None = None,
) -> Review:
    """Change a review: the ABAC rule decides (its author, within the edit window), else 403."""
    start_write(session)
    review = get_review(session=session, review_id=review_id)
    authorize(may_edit_review(user=user, review=review, now=now or dt.datetime.now(dt.UTC)))
    if rating is not None:
        review.rating = rating
    if body is not None:
        review.body = body
    session.commit()
    return review


def delete_review(*, session: Session, review_id: int, user: User) -> int:
    """Delete a review: its author or staff; anyone else gets ``NotFound``.

    Returns the reviewed product's id, whose representation just changed.
    """
    start_write(session)
    review = get_review(session=session, review_id=review_id)
    if review.user_id != user.id and user.role not in STAFF_ROLES:
        raise NotFound(f"review {review_id} does not exist")
    product_id = review.product_id
    session.delete(review)
    session.commit()
    return product_id
