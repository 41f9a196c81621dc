"""Sign-in, token checks, refresh rotation with reuse detection, roles, registration."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sample_service.config import process_secret
from sample_service.models import User
from sample_service.security import constant_time_equals, create_access_token, verify_password
from tests.service.conftest import AppClient
from tests.service.known_shop.conftest import PASSWORD, Shop, bearer, login


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def test_login_returns_unstorable_token_pair(client: TestClient) -> None:
    response = client.post(
        "/v1/auth/token", data={"username": "alice@shop.test", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer" and body["refresh_token"] and body["expires_in"] > 0
    me = client.get("/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["email"] == "alice@shop.test"


def test_wrong_password_and_unknown_email_get_the_same_401(client: TestClient) -> None:
    wrong = client.post("/v1/auth/token", data={"username": "alice@shop.test", "password": "x"})
    unknown = client.post("/v1/auth/token", data={"username": "zed@shop.test", "password": "x"})
    assert _problem(wrong, 401)["detail"] == _problem(unknown, 401)["detail"]


def test_missing_token_is_401_with_bearer_challenge(client: TestClient) -> None:
    response = client.get("/v1/users/me")
    _problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def _me(client: TestClient, token: str) -> int:
    return int(client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code)


def test_expired_token_is_401(client: TestClient, shop: Shop) -> None:
    token = create_access_token(
        user_id=shop.user_ids["alice@shop.test"],
        role="customer",
        secret=process_secret(),
        ttl_seconds=60,
        now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
    )
    assert _me(client, token) == 401


# The development secret this project once published in its code.
_FORMERLY_PUBLISHED_SECRET = "dev-only-secret-change-me-0123456789abcdef"


def test_token_signed_with_a_published_secret_is_401(client: TestClient, shop: Shop) -> None:
    forged = create_access_token(
        user_id=shop.user_ids["admin@shop.test"],
        role="admin",
        secret=_FORMERLY_PUBLISHED_SECRET,
        ttl_seconds=60,
    )
    assert _me(client, forged) == 401


def test_tampered_token_is_401(client: TestClient, shop: Shop) -> None:
    token = login(client, "bob@shop.test")["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(shop.user_ids["admin@shop.test"])
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert _me(client, f"{header}.{payload}.{signature}") == 200
    assert _me(client, f"{header}.{forged}.{signature}") == 401


def test_unsigned_alg_none_token_is_401(client: TestClient, shop: Shop) -> None:
    claims = {
        "sub": str(shop.user_ids["admin@shop.test"]),
        "role": "admin",
        "type": "access",
        "iat": dt.datetime.now(dt.UTC),
        "exp": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
    }
    assert _me(client, jwt.encode(claims, None, algorithm="none")) == 401


def test_token_signed_with_another_secret_is_401(client: TestClient, shop: Shop) -> None:
    token = create_access_token(
        user_id=shop.user_ids["alice@shop.test"],
        role="customer",
        secret="another-secret-of-at-least-thirty-two-bytes",
        ttl_seconds=60,
    )
    assert _me(client, token) == 401


def _refresh(client: TestClient, token: str) -> httpx.Response:
    response: httpx.Response = client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )
    return response


def test_refresh_rotates_the_refresh_token(client: TestClient) -> None:
    first = login(client, "alice@shop.test")
    response = _refresh(client, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert _me(client, second["access_token"]) == 200


def test_reused_refresh_token_revokes_its_whole_family(client: TestClient) -> None:
    first = login(client, "alice@shop.test")
    second = _refresh(client, first["refresh_token"]).json()
    _problem(_refresh(client, first["refresh_token"]), 401)  # the copy is replayed
    _problem(_refresh(client, second["refresh_token"]), 401)  # the legitimate one died too
    other = login(client, "alice@shop.test")  # other sign-ins are untouched
    assert _refresh(client, other["refresh_token"]).status_code == 200


def test_logout_ends_the_sign_in_and_is_idempotent(client: TestClient) -> None:
    tokens = login(client, "bob@shop.test")
    body = {"refresh_token": tokens["refresh_token"]}
    assert client.post("/v1/auth/logout", json=body).status_code == 204
    assert client.post("/v1/auth/logout", json=body).status_code == 204
    _problem(_refresh(client, tokens["refresh_token"]), 401)


def test_expired_refresh_token_is_401(api: AppClient) -> None:
    client = api(refresh_token_ttl_seconds=0)
    tokens = login(client, "alice@shop.test")
    assert "expired" in _problem(_refresh(client, tokens["refresh_token"]), 401)["detail"]


def test_unknown_refresh_token_is_401(client: TestClient) -> None:
    _problem(_refresh(client, "not-a-token"), 401)


def test_guessed_refresh_secret_is_401_and_harmless(client: TestClient) -> None:
    tokens = login(client, "alice@shop.test")
    row_id, _, secret = tokens["refresh_token"].partition(".")
    _problem(_refresh(client, f"{row_id}.{'0' * len(secret)}"), 401)
    assert _refresh(client, tokens["refresh_token"]).status_code == 200


def test_password_grant_without_password_is_400(client: TestClient) -> None:
    _problem(client.post("/v1/auth/token", data={"username": "alice@shop.test"}), 400)


@pytest.mark.parametrize(
    ("email", "status"),
    [("alice@shop.test", 403), ("staff@shop.test", 200), ("admin@shop.test", 200)],
)
def test_reading_accounts_by_id_needs_staff(
    client: TestClient, shop: Shop, email: str, status: int
) -> None:
    bob = shop.user_ids["bob@shop.test"]
    response = client.get(f"/v1/users/{bob}", headers=bearer(client, email))
    assert response.status_code == status


def test_register_stores_an_argon2_hash_and_never_returns_it(
    client: TestClient, shop: Shop
) -> None:
    body = {"email": "Carol@Shop.test", "password": "correct horse", "full_name": "Carol"}
    response = client.post("/v1/users", json=body)
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/v1/users/{created['id']}"
    assert created["role"] == "customer" and "password" not in json.dumps(created)
    with shop.db.engine.connect() as conn:
        stored = conn.scalar(select(User.password_hash).where(User.id == created["id"]))
    assert stored is not None and stored.startswith("$argon2id$")
    assert verify_password("correct horse", stored)
    assert login(client, "carol@shop.test", "correct horse")["access_token"]


def test_register_twice_with_the_same_email_is_409(client: TestClient) -> None:
    body = {"email": "dave@shop.test", "password": "long enough", "full_name": "Dave"}
    assert client.post("/v1/users", json=body).status_code == 201
    _problem(client.post("/v1/users", json={**body, "email": "DAVE@shop.test"}), 409)


def test_register_validation_names_the_failing_fields(client: TestClient) -> None:
    response = client.post("/v1/users", json={"email": "nope", "password": "short"})
    fields = {error["field"] for error in _problem(response, 422)["errors"]}
    assert {"body.email", "body.password", "body.full_name"} <= fields


def test_constant_time_equals_compares_values() -> None:
    assert constant_time_equals("abc", "abc")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals("abc", "ab")
