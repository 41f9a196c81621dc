"""Service fixtures: a seeded database of each kind and in-process clients of apps on it.

Each module gets its own seeded database per kind (SQLite, embedded PostgreSQL, and
the server in LABKIT_POSTGRES_URL when set); tests that change rows make their own
products so they never depend on each other's writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labkit.databases import Database
from sample_service.config import Settings
from sample_service.main import create_app
from sample_service.security import create_access_token
from sample_service.seed import seed
from tests.conftest import DATABASE_KINDS, fresh_database

SEED_SCALE = 200
# Ids the seed gives its known accounts.
ADMIN_ID, STAFF_ID, ALICE_ID, BOB_ID = 1, 2, 3, 4


@dataclass
class Seeded:
    """A database seeded at ``SEED_SCALE``, and how to build apps and tokens for it."""

    db: Database

    def settings(self, **overrides: Any) -> Settings:
        """Test settings: no access log, no rate limit unless the test turns them on."""
        values: dict[str, Any] = {
            "environment": "test",
            "access_log": False,
            "rate_limit_enabled": False,
            # Memory backends even when REDIS_URL is set: a Redis cache under one prefix
            # would serve one database's products to tests on another.
            "redis_url": None,
            **overrides,
        }
        return Settings(database_url=self.db.url, **values)

    def token(self, user_id: int, role: str) -> dict[str, str]:
        """Authorization headers for a seeded account, minted directly (no argon2 per test)."""
        secret = self.settings().jwt_secret
        token = create_access_token(user_id=user_id, role=role, secret=secret, ttl_seconds=300)
        return {"Authorization": f"Bearer {token}"}

    @property
    def staff(self) -> dict[str, str]:
        return self.token(STAFF_ID, "staff")

    @property
    def customer(self) -> dict[str, str]:
        return self.token(ALICE_ID, "customer")


@pytest.fixture(params=DATABASE_KINDS, scope="module")
def seeded(request: pytest.FixtureRequest) -> Iterator[Seeded]:
    """A freshly seeded database of each kind, one per test module, dropped afterwards."""
    with fresh_database(request.param, "svc") as db:
        seed(db.url, scale=SEED_SCALE)
        yield Seeded(db)


AppClient = Callable[..., TestClient]


@contextmanager
def app_clients(settings_for: Callable[..., Settings]) -> Iterator[AppClient]:
    """Yield ``make(**settings)`` → an in-process client of an app built from those settings.

    Loopback base URL (the lab switches require it); every app is shut down at the end.
    """
    clients: list[TestClient] = []

    def make(raise_server_exceptions: bool = True, **overrides: Any) -> TestClient:
        app = create_app(settings_for(**overrides))
        client = TestClient(
            app, base_url="http://127.0.0.1", raise_server_exceptions=raise_server_exceptions
        )
        clients.append(client.__enter__())
        return client

    try:
        yield make
    finally:
        for client in clients:
            client.__exit__(None, None, None)


@pytest.fixture
def api(seeded: Seeded) -> Iterator[AppClient]:
    """``api(**settings)`` → an in-process client of an app on the seeded database."""
    with app_clients(seeded.settings) as make:
        yield make


@pytest.fixture
def client(api: AppClient) -> TestClient:
    """A client of an app with the default test settings."""
    return api()


def new_product(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    """Create a product of the test's own through the API; returns its JSON."""
    body = {
        "category_id": 1,
        "sku": f"T-{uuid.uuid4().hex[:10].upper()}",
        "name": "Test kettle",
        "price_cents": 1500,
        "stock": 5,
        **fields,
    }
    response = client.post("/v1/products", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "instance", "request_id"} <= body.keys()
    assert body["request_id"] == response.headers["x-request-id"]
    return body
