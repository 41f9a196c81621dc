"""API keys: shown once and stored hashed, scoped, rotated with overlap, revoked, rate-limited."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sample_service.models import ApiKey
from tests.service.conftest import AppClient, assert_problem
from tests.service.known_shop.conftest import Shop
from tests.service.known_shop.security_helpers import headers_for, new_account


def _key(client: TestClient, headers: dict[str, str], scope: str) -> dict[str, Any]:
    response = client.post("/v1/api-keys", json={"name": "sync", "scope": scope}, headers=headers)
    assert response.status_code == 201, response.text
    assert "no-store" in response.headers["cache-control"]  # the value is a secret
    issued: dict[str, Any] = response.json()
    return issued


def _me(client: TestClient, key: str, method: str = "GET", **kwargs: Any) -> int:
    headers = {"X-API-Key": key}
    return client.request(method, "/v1/users/me", headers=headers, **kwargs).status_code


@pytest.fixture
def owner(client: TestClient, shop: Shop) -> dict[str, str]:
    email, _ = new_account(client, shop)
    return headers_for(client, email)


def test_a_key_is_shown_once_and_stored_as_a_digest(
    client: TestClient, shop: Shop, owner: dict[str, str]
) -> None:
    issued = _key(client, owner, "read")
    assert issued["key"].startswith(f"sk_{issued['prefix']}_")
    with Session(shop.db.engine) as session:
        row = session.scalar(select(ApiKey).where(ApiKey.prefix == issued["prefix"]))
    assert row is not None and issued["key"] not in (row.key_hash, row.prefix, row.name)
    listed = client.get("/v1/api-keys", headers=owner).json()
    assert [k["prefix"] for k in listed] == [issued["prefix"]] and "key" not in listed[0]


def test_a_key_works_as_header_or_bearer_never_in_the_query(
    client: TestClient, owner: dict[str, str]
) -> None:
    key = _key(client, owner, "read")["key"]
    assert _me(client, key) == 200
    bearer = client.get("/v1/users/me", headers={"Authorization": f"Bearer {key}"})
    assert bearer.status_code == 200
    assert_problem(client.get("/v1/users/me", params={"api_key": key}), 400)
    assert_problem(client.get("/v1/users/me", headers={"X-API-Key": key + "x"}), 401)


def test_a_read_key_cannot_write_and_a_write_key_can(
    client: TestClient, owner: dict[str, str]
) -> None:
    change = {"json": {"full_name": "Renamed"}}
    read = _key(client, owner, "read")["key"]
    write = _key(client, owner, "write")["key"]
    assert_problem(client.patch("/v1/users/me", headers={"X-API-Key": read}, **change), 403)
    assert _me(client, write, "PATCH", **change) == 200


def test_rotation_keeps_the_old_key_for_the_overlap(api: AppClient, owner: dict[str, str]) -> None:
    client = api()
    old = _key(client, owner, "read")
    rotated = client.post(f"/v1/api-keys/{old['id']}/rotate", headers=owner)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["prefix"] != old["prefix"] and new["scope"] == "read"
    assert _me(client, old["key"]) == 200 and _me(client, new["key"]) == 200

    no_overlap = api(api_key_overlap_seconds=0)
    newer = no_overlap.post(f"/v1/api-keys/{new['id']}/rotate", headers=owner).json()
    assert _me(no_overlap, new["key"]) == 401 and _me(no_overlap, newer["key"]) == 200


def test_a_revoked_key_is_refused(client: TestClient, owner: dict[str, str]) -> None:
    issued = _key(client, owner, "write")
    assert client.delete(f"/v1/api-keys/{issued['id']}", headers=owner).status_code == 204
    assert client.delete(f"/v1/api-keys/{issued['id']}", headers=owner).status_code == 204
    assert_problem(client.get("/v1/users/me", headers={"X-API-Key": issued["key"]}), 401)


def test_someone_elses_key_is_not_found(
    client: TestClient, shop: Shop, owner: dict[str, str]
) -> None:
    issued = _key(client, owner, "read")
    other_email, _ = new_account(client, shop)
    other = headers_for(client, other_email)
    assert_problem(client.post(f"/v1/api-keys/{issued['id']}/rotate", headers=other), 404)
    assert_problem(client.delete(f"/v1/api-keys/{issued['id']}", headers=other), 404)


def test_keys_have_their_own_rate_limit_bucket(api: AppClient, owner: dict[str, str]) -> None:
    client = api(rate_limit_enabled=True, api_key_rate_limit_capacity=2,
                         api_key_rate_limit_refill_per_second=0.001)  # fmt: skip
    key = _key(client, owner, "read")["key"]
    statuses = [_me(client, key) for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = client.get("/v1/users/me", headers={"X-API-Key": key})
    assert limited.headers["ratelimit-limit"] == "2"
    assert client.get("/v1/users/me", headers=owner).status_code == 200  # the user's own bucket


def test_a_key_cannot_manage_keys_or_mfa(client: TestClient, owner: dict[str, str]) -> None:
    write = {"X-API-Key": _key(client, owner, "write")["key"]}
    new_key = {"json": {"name": "more", "scope": "write"}, "headers": write}
    assert_problem(client.post("/v1/api-keys", **new_key), 403)
    assert_problem(client.post("/v1/users/me/mfa", headers=write), 403)
