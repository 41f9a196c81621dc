"""Catalog rules: categories and products, their listing, and optimistic concurrency.

Plain functions with keyword-only arguments; each write is one transaction that
commits here, so a caller (a route, a test, a notebook) cannot leave it half done.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from sample_service.db import Database
from sample_service.errors import NotFound, PreconditionFailed
from sample_service.models import Category, Product
from sample_service.pagination import Cursor, after, first_per_parent
from sample_service.services.transactions import commit_or_conflict, start_write

ProductSort = Literal["id", "-id", "price_cents", "-price_cents", "name", "-name"]
_SORT_COLUMNS = {"id": Product.id, "price_cents": Product.price_cents, "name": Product.name}
_PRODUCT_COLUMNS = [c for c in Product.__table__.c if c.name != "deleted_at"]
_LIVE = Product.deleted_at.is_(None)
_PRODUCT_BY_ID = select(*_PRODUCT_COLUMNS).where(Product.id == bindparam("product_id"), _LIVE)


@dataclass(frozen=True)
class ProductFilter:
    """What a product listing may be narrowed by; None means no filter."""

    category_id: int | None = None
    min_price_cents: int | None = None
    max_price_cents: int | None = None
    q: str | None = None


@dataclass(frozen=True)
class ProductPage:
    """One page of products and how to ask for the next one."""

    items: list[Product]
    next_cursor: str | None = None
    next_offset: int | None = None  # only when paging by offset

    def next_query(self) -> dict[str, str | int | None]:
        """What the ``next`` link carries: the offset when paging by offset, else the cursor."""
        if self.next_offset is not None:
            return {"offset": self.next_offset}
        return {"cursor": self.next_cursor}


def list_categories(*, session: Session) -> list[Category]:
    """Every category, by name."""
    return list(session.scalars(select(Category).order_by(Category.name, Category.id)))


def get_category(*, session: Session, category_id: int) -> Category:
    """One category, or NotFound."""
    category = session.get(Category, category_id)
    if category is None:
        raise NotFound(f"category {category_id} does not exist")
    return category


def create_category(*, session: Session, name: str, slug: str, description: str = "") -> Category:
    """Add a category; Conflict when the name or slug is taken."""
    start_write(session)
    category = Category(name=name, slug=slug, description=description)
    session.add(category)
    commit_or_conflict(session, f"a category named {name!r} or with slug {slug!r} already exists")
    return category


def _filtered(stmt: Select[Any], filters: ProductFilter, *, unsafe_search: bool) -> Select[Any]:
    if filters.category_id is not None:
        stmt = stmt.where(Product.category_id == filters.category_id)
    if filters.min_price_cents is not None:
        stmt = stmt.where(Product.price_cents >= filters.min_price_cents)
    if filters.max_price_cents is not None:
        stmt = stmt.where(Product.price_cents <= filters.max_price_cents)
    if filters.q:
        if unsafe_search:
            # DELIBERATELY VULNERABLE (lesson switch `injectable_search`): the search
            # text is pasted into the SQL, so a quote in it rewrites the query.
            # (Colons are escaped only so SQLAlchemy does not read them as parameters.)
            unsafe = f"products.name LIKE '%{filters.q}%'".replace(":", "\\:")
            stmt = stmt.where(text(unsafe))
        else:
            stmt = stmt.where(Product.name.ilike(f"%{_escape_like(filters.q)}%", escape="\\"))
    return stmt


def _escape_like(term: str) -> str:
    """Make % and _ in the search text match themselves."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_products(
    *,
    session: Session,
    filters: ProductFilter = ProductFilter(),
    sort: ProductSort = "id",
    limit: int = 20,
    cursor: str | None = None,
    offset: int | None = None,
    unsafe_search: bool = False,
) -> ProductPage:
    """A page of live products, filtered and sorted, id breaking ties.

    Keyset pagination by ``cursor``; ``offset`` is the slower alternative kept for
    the pagination lesson (the route accepts it only while that switch is on).
    """
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    column = _SORT_COLUMNS[key]
    order = [column.desc(), Product.id.desc()] if descending else [column, Product.id]
    if key == "id":
        order = order[:1]
    stmt = _filtered(select(Product).where(_LIVE), filters, unsafe_search=unsafe_search)
    if cursor is not None:
        position = Cursor.decode(cursor, sort=sort, value_type=str if key == "name" else int)
        stmt = stmt.where(after(column, Product.id, position, descending=descending))
    if offset is not None:
        stmt = stmt.offset(offset)
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    items, more = rows[:limit], len(rows) > limit
    if not more:
        return ProductPage(items=items)
    last = items[-1]
    # Offset pages also carry the cursor of the same next page, so a lesson can time both.
    next_cursor = Cursor(sort, getattr(last, key), last.id).encode()
    return ProductPage(
        items=items,
        next_cursor=next_cursor,
        next_offset=offset + limit if offset is not None else None,
    )


def first_products_of_categories(
    *, session: Session, category_ids: list[int], limit: int
) -> dict[int, list[Product]]:
    """The first ``limit`` live products of each category by id, in one query (DataLoader)."""
    live = select(Product).where(_LIVE)
    query = first_per_parent(
        live, Product.category_id, Product.id, parent_ids=category_ids, limit=limit
    )
    found: dict[int, list[Product]] = {category_id: [] for category_id in category_ids}
    for product in session.scalars(query):
        found[product.category_id].append(product)
    return found


def products_by_id(*, session: Session, product_ids: list[int]) -> dict[int, Product]:
    """Live products by id, in one query; missing ids are absent (a DataLoader's batch)."""
    rows = session.scalars(select(Product).where(Product.id.in_(product_ids), _LIVE))
    return {product.id: product for product in rows}


def categories_by_id(*, session: Session, category_ids: list[int]) -> dict[int, Category]:
    """Categories by id, in one query."""
    rows = session.scalars(select(Category).where(Category.id.in_(category_ids)))
    return {category.id: category for category in rows}


def get_product(*, session: Session, product_id: int) -> Product:
    """A live product, or NotFound (soft-deleted products are gone to clients)."""
    product = session.scalar(select(Product).where(Product.id == product_id, _LIVE))
    if product is None:
        raise NotFound(f"product {product_id} does not exist")
    return product


async def fetch_product_row(*, database: Database, product_id: int) -> dict[str, Any]:
    """The hot read: one primary-key query on the bare driver, no ORM unit of work."""
    row = await database.fast_read(_PRODUCT_BY_ID).one(product_id=product_id)
    if row is None:
        raise NotFound(f"product {product_id} does not exist")
    return dict(row)


def create_product(*, session: Session, **fields: Any) -> Product:
    """Add a product; NotFound for an unknown category, Conflict for a taken SKU."""
    start_write(session)
    get_category(session=session, category_id=fields["category_id"])
    product = Product(**fields)
    session.add(product)
    commit_or_conflict(session, f"SKU {fields['sku']!r} is already in use")
    session.refresh(product)  # load the database-set timestamps while the session is here
    return product


def update_product(
    *, session: Session, product_id: int, expected_version: int, changes: dict[str, Any]
) -> Product:
    """Apply a partial update only if the product is still at ``expected_version``.

    The ``WHERE version = :expected`` makes the check and the write one atomic
    step: of two clients that read version 3, only the first write lands.
    """
    start_write(session)
    if "category_id" in changes:
        get_category(session=session, category_id=changes["category_id"])
    result = session.execute(
        update(Product)
        .where(Product.id == product_id, Product.version == expected_version, _LIVE)
        .values(**changes, version=Product.version + 1, updated_at=func.now())
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.rollback()
        raise PreconditionFailed(
            f"product {product_id} changed since version {expected_version}; "
            "GET it again and retry with the new ETag"
        )
    session.commit()
    session.expire_all()  # the identity map still holds the pre-update row
    return get_product(session=session, product_id=product_id)


def delete_product(*, session: Session, product_id: int) -> None:
    """Soft delete: the row stays for old orders and reports, clients see a 404."""
    start_write(session)
    product = get_product(session=session, product_id=product_id)
    product.deleted_at = dt.datetime.now(dt.UTC)
    product.version += 1
    session.commit()
