"""`count_queries` sees every statement, N+1 shows as repeats, and the header reader is strict."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.sql.base import ExecutableOption

from labkit.querylog import (
    QUERY_COUNT_HEADER,
    QueryLogError,
    count_queries,
    request_queries,
)
from labkit.service import LiveService
from sample_service.models import Base, Category, Product

CATEGORIES = 5


@pytest.fixture()
def engine() -> sa.Engine:
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        for n in range(CATEGORIES):
            category = Category(name=f"c{n}", slug=f"c{n}")
            category.products = [
                Product(sku=f"s{n}-{i}", name="p", price_cents=100, stock=1) for i in range(3)
            ]
            session.add(category)
        session.commit()
    return engine


def _touch_products(session: Session, *options: ExecutableOption) -> None:
    for category in session.scalars(sa.select(Category).options(*options)).unique():
        assert len(category.products) == 3


def test_lazy_loading_runs_one_query_per_parent(engine: sa.Engine) -> None:
    with Session(engine) as session, count_queries(session) as log:
        _touch_products(session)
    assert log.count == 1 + CATEGORIES
    (repeated,) = log.repeated().values()
    assert repeated == CATEGORIES


@pytest.mark.parametrize("option", [selectinload, joinedload])
def test_eager_loading_runs_a_fixed_number_of_queries(
    engine: sa.Engine, option: Callable[..., ExecutableOption]
) -> None:
    with Session(engine) as session, count_queries(engine) as log:
        _touch_products(session, option(Category.products))
    assert log.count == (2 if option is selectinload else 1)
    assert log.repeated() == {}


def test_statements_outside_the_block_are_not_counted(engine: sa.Engine) -> None:
    with count_queries(engine) as log, engine.connect() as conn:
        conn.execute(sa.text("SELECT   1"))
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 2"))
    assert log.statements == ["SELECT 1"]
    assert "1 statements" in repr(log)
    assert "<code>SELECT 1</code>" in log._repr_html_()


def test_something_without_an_engine_is_refused() -> None:
    with pytest.raises(QueryLogError, match="Engine"), count_queries("sqlite"):
        pass


def test_request_queries_reads_the_lab_header() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/v1/orders")
    response = httpx.Response(200, headers={QUERY_COUNT_HEADER: "21"}, request=request)
    assert request_queries(response) == 21


def test_request_queries_without_the_header_says_to_turn_on_lab_mode() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/v1/orders")
    with pytest.raises(QueryLogError, match="lab_mode"):
        request_queries(httpx.Response(200, request=request))


def test_async_engines_and_sessions_are_counted_through_their_sync_engine() -> None:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    async def run() -> tuple[int, int]:
        engine = create_async_engine("sqlite+aiosqlite://")
        try:
            with count_queries(engine) as by_engine:
                async with engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
            async with AsyncSession(engine) as session:
                with count_queries(session) as by_session:
                    await session.execute(sa.text("SELECT 1"))
                    await session.execute(sa.text("SELECT 2"))
            return by_engine.count, by_session.count
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == (1, 2)


def test_live_service_in_lab_mode_reports_statements_per_request() -> None:
    with (
        LiveService(db="sqlite", scale=20, settings={"lab_mode": True}) as svc,
        svc.client() as client,
    ):
        products = client.get("/v1/products", params={"limit": 5})
        assert products.status_code == 200
        assert request_queries(products) >= 1


def test_live_service_outside_lab_mode_sends_no_count() -> None:
    with LiveService(db="sqlite", scale=20) as svc, svc.client() as client:
        products = client.get("/v1/products", params={"limit": 5})
    with pytest.raises(QueryLogError, match="lab mode"):
        request_queries(products)
