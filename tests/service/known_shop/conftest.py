"""The known shop: fixtures for the account, order, review, limit, cache and lab-switch tests.

A small, exact data set (known users, products with known stock) on a migrated database of
each kind. `api(**settings)` and `client` are the same family as in tests/service/conftest.py,
built here on the known shop instead of the seeded one; the tests in this folder get them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from labkit.databases import Database
from sample_service.config import Settings
from sample_service.migrations import upgrade
from sample_service.models import Category, Product, User
from sample_service.seed import KNOWN_ACCOUNTS, KNOWN_PASSWORD
from tests.conftest import DATABASE_KINDS, fresh_database
from tests.service.conftest import AppClient, app_clients

PASSWORD = KNOWN_PASSWORD
ACCOUNTS = {email: role for email, _name, role in KNOWN_ACCOUNTS}
# Product id -> (price in cents, stock): the last one is the scarce item races fight over.
PRODUCTS = {1: (1299, 100), 2: (450, 100), 3: (9900, 10)}
# Generous limits so tests that are not about rate limiting never meet one.
RELAXED = {"rate_limit_capacity": 10_000, "auth_rate_limit_capacity": 10_000}
# For a service in a child process: memory backends even when REDIS_URL is set.
CHILD_SETTINGS = {"environment": "test", "access_log": False, "redis_url": ""}


@cache
def _password_hash() -> str:
    """One cheap argon2 hash for every known account.

    Verification reads its cost from the hash, so low parameters here keep
    sign-ins in tests fast while the service's own hashes keep the defaults.
    """
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


@dataclass
class Shop:
    """A migrated database holding the known accounts and products."""

    db: Database
    user_ids: dict[str, int]

    def settings(self, **overrides: Any) -> Settings:
        """Settings for an app on this database: test environment, lab mode, relaxed limits."""
        values: dict[str, Any] = {
            "environment": "test",
            "lab_mode": True,
            "redis_url": None,  # memory backends unless a test asks for Redis
            **RELAXED,
        }
        values.update(overrides)
        return Settings(database_url=self.db.url, access_log=False, **values)

    def add_product(self, *, stock: int, price_cents: int = 1000) -> int:
        """A new product of its own for one test; returns its id."""
        sku = f"T-{uuid.uuid4().hex[:12]}"
        with self.db.engine.begin() as conn:
            category = conn.scalar(select(Category.id).limit(1))
            product_id: int = conn.execute(
                insert(Product)
                .values(category_id=category, sku=sku, name=sku, price_cents=price_cents,
                        stock=stock)
                .returning(Product.id)
            ).scalar_one()  # fmt: skip
        return product_id

    def stock(self, product_id: int) -> int:
        """The stock in the database right now."""
        with self.db.engine.connect() as conn:
            value = conn.scalar(Product.__table__.select().with_only_columns(Product.stock)
                                .where(Product.id == product_id))  # fmt: skip
        assert value is not None
        return int(value)


def build_shop(db: Database) -> Shop:
    """Migrate ``db`` to head and insert the known data."""
    upgrade(db.url)
    with db.engine.begin() as conn:
        user_ids = {}
        for email, role in ACCOUNTS.items():
            user_ids[email] = conn.execute(
                insert(User)
                .values(email=email, full_name=email.split("@")[0].title(), role=role,
                        password_hash=_password_hash())
                .returning(User.id)
            ).scalar_one()  # fmt: skip
        category = conn.execute(
            insert(Category).values(name="Tools", slug="tools").returning(Category.id)
        ).scalar_one()
        for product_id, (price, stock) in PRODUCTS.items():
            conn.execute(
                insert(Product).values(id=product_id, category_id=category, sku=f"SKU-{product_id}",
                                       name=f"Product {product_id}", price_cents=price, stock=stock)
            )  # fmt: skip
    if db.kind == "postgres":  # explicit ids leave the identity behind
        with db.engine.begin() as conn:
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('products', 'id'), 100)")
    return Shop(db=db, user_ids=user_ids)


@pytest.fixture(params=DATABASE_KINDS, scope="module")
def shop(request: pytest.FixtureRequest) -> Iterator[Shop]:
    """The known data on SQLite, embedded PostgreSQL and (when set) the PostgreSQL server.

    One database per test module and kind; tests that change stock make their own
    products with ``shop.add_product``.
    """
    with fresh_database(request.param, "shop") as db:
        yield build_shop(db)


@pytest.fixture
def api(shop: Shop) -> Iterator[AppClient]:
    """Build an app from ``shop.settings(**overrides)`` and return an in-process client."""
    with app_clients(shop.settings) as make:
        yield make


@pytest.fixture
def client(api: AppClient) -> TestClient:
    """A client of an app with the default test settings."""
    return api()


def login(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """The token response for a known account."""
    response = client.post("/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(client: TestClient, email: str) -> dict[str, str]:
    """Authorization headers for a known account."""
    return {"Authorization": f"Bearer {login(client, email)['access_token']}"}
