"""Encryption at rest and key rotation, the ABAC review rule, the audit trail, two switches."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sample_service.config import DEV_FIELD_KEY, Settings
from sample_service.encryption import FieldCipher, UndecryptableField, new_key
from sample_service.labswitches import LabModeRequired
from sample_service.main import create_app
from sample_service.models import AuditLog, Review, User
from sample_service.services import audit, auth
from tests.service.conftest import AppClient, assert_problem
from tests.service.known_shop.conftest import PASSWORD, Shop, bearer
from tests.service.known_shop.security_helpers import headers_for, new_account, only_action

ADMIN = "admin@shop.test"


def _phone(client: TestClient, headers: dict[str, str], phone: str) -> dict[str, Any]:
    response = client.patch("/v1/users/me", json={"phone": phone}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _stored_phone(shop: Shop, user_id: int) -> str:
    with Session(shop.db.engine) as session:
        user = session.get(User, user_id)
        assert user is not None and user.phone_encrypted is not None
        return user.phone_encrypted


def test_the_database_holds_ciphertext_and_only_the_owner_reads_it(
    client: TestClient, shop: Shop
) -> None:
    email, user_id = new_account(client, shop)
    headers = headers_for(client, email)
    assert _phone(client, headers, "+44 20 7946 0001")["phone"] == "+44 20 7946 0001"
    stored = _stored_phone(shop, user_id)
    assert stored.startswith("v1:dev:") and "7946" not in stored
    assert client.get("/v1/users/me", headers=headers).json()["phone"] == "+44 20 7946 0001"
    staff_view = client.get(f"/v1/users/{user_id}", headers=bearer(client, "staff@shop.test"))
    assert staff_view.status_code == 200 and "phone" not in staff_view.json()


def test_a_ciphertext_opens_only_on_its_own_row() -> None:
    cipher = FieldCipher({"k1": bytes(32)}, current="k1")
    sealed = cipher.encrypt("+1 555 0100", context="users.phone:1")
    assert cipher.decrypt(sealed, context="users.phone:1") == "+1 555 0100"
    with pytest.raises(UndecryptableField):
        cipher.decrypt(sealed, context="users.phone:2")
    with pytest.raises(UndecryptableField):
        FieldCipher({"k2": bytes(32)}, current="k2").decrypt(sealed, context="users.phone:1")


def test_key_rotation_re_encrypts_in_batches_and_leaves_every_value_readable(
    api: AppClient, shop: Shop
) -> None:
    old, new = new_key(), new_key()
    before = api(field_keys={"k1": old}, field_key_id="k1")
    accounts = [new_account(before, shop) for _ in range(3)]
    for n, (email, _) in enumerate(accounts):
        _phone(before, headers_for(before, email), f"+1 555 010{n}")
    # Every key a stored value may name stays configured until the rotation is done.
    rotating = api(field_keys={"dev": DEV_FIELD_KEY, "k1": old, "k2": new}, field_key_id="k2")
    admin = bearer(rotating, ADMIN)
    report = rotating.post("/v1/admin/encryption/rotate", params={"batch_size": 2}, headers=admin)
    assert report.status_code == 200, report.text
    assert report.json()["rewritten"] >= 3 and report.json()["batches"] >= 2
    assert report.json()["unreadable"] == 0
    after = api(field_keys={"k2": new}, field_key_id="k2")  # the old key retired
    for n, (email, user_id) in enumerate(accounts):
        assert _stored_phone(shop, user_id).startswith("v1:k2:")
        me = after.get("/v1/users/me", headers=headers_for(after, email))
        assert me.json()["phone"] == f"+1 555 010{n}"
    again = rotating.post("/v1/admin/encryption/rotate", headers=admin).json()
    assert again["rewritten"] == 0


def _review(client: TestClient, headers: dict[str, str], shop: Shop) -> int:
    product = shop.add_product(stock=1)
    created = client.post(f"/v1/products/{product}/reviews", json={"rating": 3}, headers=headers)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def test_abac_the_author_edits_a_review_for_24_hours_and_nobody_else(
    client: TestClient, shop: Shop
) -> None:
    email, _ = new_account(client, shop)
    author = headers_for(client, email)
    review_id = _review(client, author, shop)
    edit = {"rating": 4}
    assert client.patch(f"/v1/reviews/{review_id}", json=edit, headers=author).status_code == 200
    for other in (bearer(client, "bob@shop.test"), bearer(client, "staff@shop.test")):
        assert_problem(client.patch(f"/v1/reviews/{review_id}", json=edit, headers=other), 403)
    with shop.db.engine.begin() as conn:
        day_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)
        conn.execute(update(Review).where(Review.id == review_id).values(created_at=day_ago))
    assert_problem(client.patch(f"/v1/reviews/{review_id}", json=edit, headers=author), 403)


def _order(client: TestClient, headers: dict[str, str], shop: Shop) -> int:
    product = shop.add_product(stock=5)
    response = client.post(
        "/v1/orders",
        json={"items": [{"product_id": product, "quantity": 1}]},
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_each_audited_action_is_written_exactly_once(client: TestClient, shop: Shop) -> None:
    email, user_id = new_account(client, shop)
    good = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    bad = client.post("/v1/auth/token", data={"username": email, "password": "wrong-guess"})
    headers = {"Authorization": f"Bearer {good.json()['access_token']}"}
    admin = bearer(client, ADMIN)
    key = client.post("/v1/api-keys", json={"name": "a", "scope": "read"}, headers=headers)
    rotate = client.post(f"/v1/api-keys/{key.json()['id']}/rotate", headers=headers)
    revoke = client.delete(f"/v1/api-keys/{key.json()['id']}", headers=headers)
    role = client.patch(f"/v1/admin/users/{user_id}/role", json={"role": "staff"}, headers=admin)
    order = _order(client, headers, shop)
    cancel = client.post(f"/v1/orders/{order}/cancel", headers=headers)
    switch = client.patch("/lab/switches", json={"bola": False}, headers=admin)
    expected = {
        "login.succeeded": good, "login.failed": bad, "api_key.created": key,
        "api_key.rotated": rotate, "api_key.revoked": revoke, "user.role_changed": role,
        "order.cancelled": cancel, "lab.switches_changed": switch,
    }  # fmt: skip
    assert {action: only_action(shop, r) for action, r in expected.items()} == {
        action: action for action in expected
    }
    with Session(shop.db.engine) as session:
        entry = session.scalar(select(AuditLog).where(
            AuditLog.request_id == role.headers["x-request-id"]))  # fmt: skip
    assert entry is not None and entry.detail == {"from": "customer", "to": "staff"}
    assert entry.ip is not None and entry.actor_id == shop.user_ids[ADMIN]


def test_the_audit_endpoint_is_admin_only_and_pages_by_cursor(
    client: TestClient, shop: Shop
) -> None:
    for _ in range(3):
        client.post("/v1/auth/token", data={"username": "bob@shop.test", "password": "nope"})
    assert_problem(client.get("/v1/admin/audit", headers=bearer(client, "bob@shop.test")), 403)
    admin = bearer(client, ADMIN)
    first = client.get("/v1/admin/audit", params={"limit": 2}, headers=admin)
    assert first.status_code == 200 and len(first.json()["items"]) == 2
    second = client.get(first.json()["next"], headers=admin).json()
    ids = [e["id"] for e in first.json()["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    failed = client.get("/v1/admin/audit", params={"action": "login.failed"}, headers=admin)
    assert {e["action"] for e in failed.json()["items"]} == {"login.failed"}


def test_no_secret_reaches_the_audit_trail(client: TestClient, shop: Shop) -> None:
    email, _ = new_account(client, shop)
    headers = headers_for(client, email)
    key = client.post("/v1/api-keys", json={"name": "b", "scope": "read"}, headers=headers).json()
    client.post("/v1/auth/token", data={"username": email, "password": "secret-guess-1"})
    with Session(shop.db.engine) as session:
        trail = json.dumps([e.detail for e in session.scalars(select(AuditLog))])
    assert key["prefix"] in trail
    for secret in (key["key"], PASSWORD, "secret-guess-1"):
        assert secret not in trail
    with pytest.raises(ValueError, match="secrets"):
        audit.record(session=Session(), action="login.failed", actor_id=None, entity="user",
                     entity_id=1, origin=audit.NO_ORIGIN, detail={"password": "x"})  # fmt: skip


@pytest.mark.parametrize("switch_on", [False, True])
def test_mass_assignment_switch_decides_whether_role_binds(
    api: AppClient, shop: Shop, switch_on: bool
) -> None:
    client = api(mass_assignment=switch_on)
    body = {"email": f"m{uuid.uuid4().hex[:8]}@shop.test", "password": PASSWORD,
            "full_name": "Mallory", "role": "admin"}  # fmt: skip
    registered = client.post("/v1/users", json=body)
    email, _ = new_account(client, shop)
    patched = client.patch(
        "/v1/users/me", json={"role": "admin"}, headers=headers_for(client, email)
    )
    if switch_on:
        assert registered.status_code == 201 and registered.json()["role"] == "admin"
        assert patched.status_code == 200 and patched.json()["role"] == "admin"
    else:
        assert assert_problem(registered, 422)["errors"][0]["field"] == "body.role"
        assert_problem(patched, 422)


@pytest.mark.parametrize(("leak", "hashes"), [(False, 1), (True, 0)])
def test_timing_switch_skips_the_dummy_hash_for_unknown_emails(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, leak: bool, hashes: int
) -> None:
    calls: list[str | None] = []
    real = auth.verify_password

    def counting(password: str, password_hash: str | None) -> bool:
        calls.append(password_hash)
        return real(password, password_hash)

    monkeypatch.setattr(auth, "verify_password", counting)
    settings = shop.settings(sign_in_timing_leak=leak)
    with Session(shop.db.engine) as session, pytest.raises(auth.Unauthorized):
        auth.login(session=session, email="nobody@shop.test", password="x", settings=settings)
    assert len(calls) == hashes


@pytest.mark.parametrize("switch", ["mass_assignment", "sign_in_timing_leak"])
def test_the_new_switches_are_refused_outside_lab_mode(switch: str) -> None:
    with pytest.raises(LabModeRequired, match=switch):
        create_app(Settings(database_url="sqlite://", lab_mode=False, **{switch: True}))


def test_no_secret_reaches_the_access_log(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(shop.settings().model_copy(update={"access_log": True}))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        email, _ = new_account(client, shop)
        headers = headers_for(client, email)
        key = client.post("/v1/api-keys", json={"name": "c", "scope": "read"}, headers=headers)
        value = key.json()["key"]
        assert client.get("/v1/users/me", params={"api_key": value}).status_code == 400
        assert client.get("/v1/users/me", headers={"X-API-Key": value}).status_code == 200
    log = capsys.readouterr().out
    assert log.count('"path":"/v1/users/me"') == 2
    for secret in (value, PASSWORD, headers["Authorization"].removeprefix("Bearer ")):
        assert secret not in log
