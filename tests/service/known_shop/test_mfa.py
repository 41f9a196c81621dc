"""TOTP MFA: enrolment, sign-in with and without a code, single use, windows, recovery codes."""

from __future__ import annotations

import datetime as dt

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sample_service.config import Settings
from sample_service.encryption import cipher_from_settings
from sample_service.models import AuditLog, RecoveryCode, User
from sample_service.services import mfa
from tests.service.conftest import AppClient, assert_problem
from tests.service.known_shop.conftest import PASSWORD, Shop
from tests.service.known_shop.security_helpers import headers_for, new_account, only_action


def _enrol(client: TestClient, headers: dict[str, str]) -> tuple[pyotp.TOTP, list[str]]:
    """Turn MFA on with a code of the previous step, leaving the current step unspent."""
    started = client.post("/v1/users/me/mfa", headers=headers)
    assert started.status_code == 200, started.text
    totp = pyotp.TOTP(started.json()["secret"])
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/")
    previous = totp.at(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30))
    confirmed = client.post("/v1/users/me/mfa/confirm", json={"code": previous}, headers=headers)
    assert confirmed.status_code == 200, confirmed.text
    assert all("no-store" in r.headers["cache-control"] for r in (started, confirmed))
    return totp, confirmed.json()["recovery_codes"]


def _sign_in(client: TestClient, email: str, otp: str | None = None) -> int:
    form = {"username": email, "password": PASSWORD, **({"otp": otp} if otp else {})}
    return client.post("/v1/auth/token", data=form).status_code


def test_staff_with_mfa_needs_the_code_to_sign_in(client: TestClient, shop: Shop) -> None:
    email, _ = new_account(client, shop, role="staff")
    totp, _codes = _enrol(client, headers_for(client, email))
    missing = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    body = assert_problem(missing, 401)
    assert body["type"].endswith("/mfa-required")
    assert _sign_in(client, email, "000000" if totp.now() != "000000" else "111111") == 401
    assert _sign_in(client, email, totp.now()) == 200


def test_a_code_is_single_use_within_its_window(client: TestClient, shop: Shop) -> None:
    email, _ = new_account(client, shop, role="admin")
    totp, _codes = _enrol(client, headers_for(client, email))
    code = totp.now()
    assert _sign_in(client, email, code) == 200
    assert _sign_in(client, email, code) == 401


def test_codes_outside_the_window_are_refused(client: TestClient, shop: Shop) -> None:
    email, user_id = new_account(client, shop)
    totp, _codes = _enrol(client, headers_for(client, email))
    now = dt.datetime.now(dt.UTC)
    cipher = cipher_from_settings(Settings())
    with Session(shop.db.engine) as session:
        user = session.get(User, user_id)
        assert user is not None
        stale = totp.at(now - dt.timedelta(seconds=120))
        early = totp.at(now + dt.timedelta(seconds=120))
        for code in (stale, early):
            assert mfa.verify_second_factor(session=session, user=user, code=code, cipher=cipher,
                                            now=now) is None  # fmt: skip
        next_step = totp.at(now + dt.timedelta(seconds=30))
        assert mfa.verify_second_factor(session=session, user=user, code=next_step,
                                        cipher=cipher, now=now) == "totp"  # fmt: skip


def test_recovery_codes_are_stored_hashed_and_work_once(client: TestClient, shop: Shop) -> None:
    email, user_id = new_account(client, shop, role="staff")
    _totp, codes = _enrol(client, headers_for(client, email))
    assert len(codes) == len(set(codes)) == mfa.RECOVERY_CODES
    with Session(shop.db.engine) as session:
        stored = list(session.scalars(select(RecoveryCode.code_hash)
                                      .where(RecoveryCode.user_id == user_id)))  # fmt: skip
        user = session.get(User, user_id)
    assert len(stored) == len(codes) and not set(codes) & set(stored)
    assert user is not None and user.totp_secret_encrypted is not None
    assert user.totp_secret_encrypted.startswith("v1:")
    assert _sign_in(client, email, codes[0]) == 200
    assert _sign_in(client, email, codes[0]) == 401
    assert _sign_in(client, email, codes[1]) == 200
    with Session(shop.db.engine) as session:
        enabled = session.scalars(
            select(AuditLog.action).where(
                AuditLog.entity_id == str(user_id), AuditLog.action.like("mfa.%")
            )
        )
        assert list(enabled) == ["mfa.enabled"]  # fmt: skip


def test_turning_mfa_off_needs_a_code(client: TestClient, shop: Shop) -> None:
    email, _ = new_account(client, shop, role="staff")
    headers = headers_for(client, email)
    _totp, codes = _enrol(client, headers)
    refused = client.post("/v1/users/me/mfa/disable", json={"code": "123456"}, headers=headers)
    assert_problem(refused, 401)
    off = client.post("/v1/users/me/mfa/disable", json={"code": codes[0]}, headers=headers)
    assert off.status_code == 204
    assert only_action(shop, off) == "mfa.disabled"
    assert _sign_in(client, email) == 200
    assert client.get("/v1/users/me", headers=headers).json()["mfa_enabled"] is False


def test_an_enrolled_customer_may_add_the_code_and_a_wrong_one_is_refused(
    client: TestClient, shop: Shop
) -> None:
    email, _ = new_account(client, shop)  # a customer: not in mfa_required_roles by default
    totp, _codes = _enrol(client, headers_for(client, email))
    assert _sign_in(client, email) == 200
    assert _sign_in(client, email, "000000" if totp.now() != "000000" else "111111") == 401
    assert _sign_in(client, email, totp.now()) == 200


def test_the_roles_that_must_use_mfa_come_from_settings(api: AppClient, shop: Shop) -> None:
    client = api(mfa_required_roles={"customer", "staff", "admin"})
    email, _ = new_account(client, shop)
    totp, _codes = _enrol(client, headers_for(client, email))
    assert_problem(
        client.post("/v1/auth/token", data={"username": email, "password": PASSWORD}), 401
    )
    assert _sign_in(client, email, totp.now()) == 200


def test_enrolling_twice_is_a_conflict(client: TestClient, shop: Shop) -> None:
    email, _ = new_account(client, shop)
    totp, _codes = _enrol(client, headers_for(client, email))
    headers = headers_for(client, email, otp=totp.now())
    assert_problem(client.post("/v1/users/me/mfa", headers=headers), 409)
