"""Catalog rules: categories and products, their listing, and optimistic concurrency.

Plain functions with keyword-only arguments; each write is one transaction that
commits here, so a caller (a route, a test, a notebook) cannot leave it half done.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Integer, Select, String, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from sample_service.db import Database
from sample_service.errors import BadRequest, NotFound, PreconditionFailed
from sample_service.models import MAX_ID, Category, Product
from sample_service.pagination import Cursor, after, first_per_parent
from sample_service.services.transactions import commit_or_conflict, start_write

ProductSort = Literal["id", "-id", "price_cents", "-price_cents", "name", "-name"]
_SORT_COLUMNS = {"id": Product.id, "price_cents": Product.price_cents, "name": Product.name}
_PRODUCT_COLUMNS = [c for c in Product.__table__.c if c.name != "deleted_at"]
_LIVE = Product.deleted_at.is_(None)
_MAX_PRICE = 2**31 - 1  # price_cents is a 32-bit INTEGER
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
    """One page of products (ORM objects, or rows as dicts from ``fetch_product_page``)."""

    items: list[Any]
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
    return _page(rows, sort=sort, limit=limit, offset=offset, value=getattr)


def _page(
    rows: list[Any],
    *,
    sort: ProductSort,
    limit: int,
    offset: int | None = None,
    value: Any = dict.__getitem__,
) -> ProductPage:
    """``limit`` of the ``limit + 1`` rows read, and the next page's cursor when there is one.

    ``value(row, name)`` reads a column: ``getattr`` for ORM objects, item access for dicts.
    """
    items, more = rows[:limit], len(rows) > limit
    if not more:
        return ProductPage(items=items)
    last = items[-1]
    # Offset pages also carry the cursor of the same next page, so a lesson can time both.
    next_cursor = Cursor(sort, value(last, sort.lstrip("-")), value(last, "id")).encode()
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


async def fetch_product_page(
    *,
    database: Database,
    filters: ProductFilter = ProductFilter(),
    sort: ProductSort = "id",
    limit: int = 20,
    cursor: str | None = None,
) -> ProductPage:
    """``list_products``'s page on the hot path: no session, no ORM object per row.

    One SELECT per shape of request (which filters, whether a cursor), compiled once and
    run on the bare driver like ``fetch_product_row``; the values travel as parameters.
    """
    params = {name: value for name, value in _filter_values(filters).items() if value is not None}
    shape = frozenset(params)
    params["limit"] = limit + 1
    if cursor is not None:
        value_type = str if sort.lstrip("-") == "name" else int
        start = Cursor.decode(cursor, sort=sort, value_type=value_type)
        params |= {"after_value": _cursor_value(start, sort), "after_id": start.last_id}
    rows = await database.fast_read(_page_query(sort, cursor is not None, shape)).all(**params)
    return _page(rows, sort=sort, limit=limit)


def _filter_values(filters: ProductFilter) -> dict[str, Any]:
    """The filters as query parameters, the search text escaped for LIKE."""
    return {
        "category_id": filters.category_id,
        "min_price_cents": filters.min_price_cents,
        "max_price_cents": filters.max_price_cents,
        "q": f"%{_escape_like(filters.q)}%" if filters.q else None,
    }


def _cursor_value(cursor: Cursor, sort: ProductSort) -> Any:
    """The cursor's sort value, refused (400) unless it fits the sort column (and the id its own)."""
    value, key = cursor.value, sort.lstrip("-")
    if key == "name":
        fits = isinstance(value, str)
    else:
        fits = type(value) is int and 0 <= value <= (MAX_ID if key == "id" else _MAX_PRICE)
    if not fits or not 0 <= cursor.last_id <= MAX_ID:
        raise BadRequest(f"cursor does not fit sort={sort!r}; restart from the first page")
    return value


@functools.cache
def _page_query(sort: ProductSort, after_cursor: bool, filtered: frozenset[str]) -> Select[Any]:
    """The page SELECT for one request shape, with placeholders; cached, so compiled once."""
    descending = sort.startswith("-")
    column = _SORT_COLUMNS[sort.lstrip("-")]
    stmt = select(*_PRODUCT_COLUMNS).where(_LIVE)
    if "category_id" in filtered:
        stmt = stmt.where(Product.category_id == bindparam("category_id"))
    if "min_price_cents" in filtered:
        stmt = stmt.where(Product.price_cents >= bindparam("min_price_cents"))
    if "max_price_cents" in filtered:
        stmt = stmt.where(Product.price_cents <= bindparam("max_price_cents"))
    if "q" in filtered:
        stmt = stmt.where(Product.name.ilike(bindparam("q", type_=String()), escape="\\"))
    if after_cursor:
        # `after` reads the cursor's value and id; here both are placeholders.
        last_id: Any = bindparam("after_id", type_=Integer())
        bound = Cursor(sort, bindparam("after_value", type_=column.type), last_id)
        stmt = stmt.where(after(column, Product.id, bound, descending=descending))
    order = [column.desc(), Product.id.desc()] if descending else [column, Product.id]
    return stmt.order_by(*order[: 1 if column is Product.id else 2]).limit(bindparam("limit"))


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
