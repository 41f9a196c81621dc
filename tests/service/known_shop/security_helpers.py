"""Helpers for the security tests: fresh accounts of their own, audit rows by request id."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sample_service.models import AuditLog, User
from tests.service.known_shop.conftest import PASSWORD, Shop, login


def new_account(client: TestClient, shop: Shop, role: str = "customer") -> tuple[str, int]:
    """Register an account of the test's own (then give it ``role``); returns email and id."""
    email = f"u{uuid.uuid4().hex[:10]}@shop.test"
    body = {"email": email, "password": PASSWORD, "full_name": "Test"}
    response = client.post("/v1/users", json=body)
    assert response.status_code == 201, response.text
    user_id = int(response.json()["id"])
    if role != "customer":
        with shop.db.engine.begin() as conn:
            conn.execute(update(User).where(User.id == user_id).values(role=role))
    return email, user_id


def headers_for(client: TestClient, email: str, **form: str) -> dict[str, str]:
    """Bearer headers after a password sign-in (with ``otp`` etc. when given)."""
    if form:
        response = client.post(
            "/v1/auth/token", data={"username": email, "password": PASSWORD, **form}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}
    return {"Authorization": f"Bearer {login(client, email)['access_token']}"}


def audit_rows(shop: Shop, request_id: str) -> list[AuditLog]:
    """The audit entries written under one request id."""
    with Session(shop.db.engine) as session:
        return list(session.scalars(select(AuditLog).where(AuditLog.request_id == request_id)))


def only_action(shop: Shop, response: Any) -> str:
    """The one audit action the response's request wrote (fails on none or several)."""
    rows = audit_rows(shop, response.headers["x-request-id"])
    assert len(rows) == 1, [r.action for r in rows]
    return rows[0].action
