"""labkit.security: token forgery, statistics, matrices, secret scans and the OWASP table."""

from __future__ import annotations

import httpx
import pytest

from labkit import security
from labkit.errors import LabkitError
from sample_service.security import InvalidToken, create_access_token, decode_access_token

SECRET = "a-test-signing-secret-of-at-least-32-characters"


def _token() -> str:
    return create_access_token(user_id=3, role="customer", secret=SECRET, ttl_seconds=300)


def test_decode_jwt_reads_header_and_claims_without_the_key() -> None:
    parts = security.decode_jwt(_token())
    assert parts["header"] == {"alg": "HS256", "typ": "JWT"}
    assert parts["claims"]["sub"] == "3" and parts["claims"]["role"] == "customer"
    with pytest.raises(LabkitError):
        security.decode_jwt("not-a-jwt")


@pytest.mark.parametrize("name", ["alg: none", "tampered role", "wrong key", "expired"])
def test_every_forged_token_is_refused_by_the_service_check(name: str) -> None:
    forged = security.forged_tokens(_token(), secret=SECRET)[name]
    with pytest.raises(InvalidToken):
        decode_access_token(forged, secret=SECRET)


def test_mann_whitney_tells_separated_samples_from_shuffled_ones() -> None:
    low, high = [float(n) for n in range(10)], [float(n) + 100 for n in range(10)]
    assert security.mann_whitney_p(low, high) < 0.001
    evens, odds = [float(n) for n in range(0, 20, 2)], [float(n) for n in range(1, 20, 2)]
    assert security.mann_whitney_p(evens, odds) > 0.5
    with pytest.raises(LabkitError, match="8 samples"):
        security.mann_whitney_p([1.0], [2.0])


def test_timing_comparison_reports_ratio_and_p() -> None:
    timing = security.TimingComparison(known_ms=[50.0 + n for n in range(10)],
                                       unknown_ms=[5.0 + n / 10 for n in range(10)])  # fmt: skip
    assert timing.ratio > 5 and timing.summary()["p-value"] < 0.001


def _mock(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=handler, base_url="http://127.0.0.1")


def test_brute_force_records_each_attempt_and_the_retry_after() -> None:
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return (
            httpx.Response(401)
            if len(calls) < 3
            else httpx.Response(429, headers={"Retry-After": "2"})
        )

    table = security.brute_force(_mock(httpx.MockTransport(answer)), email="a@b.c",
                                 guesses=["a", "b", "c", "d"])  # fmt: skip
    assert list(table["status"]) == [401, 401, 429, 429]
    assert table["retry_after_s"].iloc[-1] == 2


def test_sign_in_timing_refuses_answers_other_than_401() -> None:
    client = _mock(httpx.MockTransport(lambda _request: httpx.Response(429)))
    with pytest.raises(LabkitError, match="rate limit"):
        security.sign_in_timing(client, known="a@b.c", unknown="z@b.c", samples=8)


def test_access_matrix_is_operations_by_roles() -> None:
    def as_role(role: str) -> httpx.Client:
        return _mock(httpx.MockTransport(lambda r: httpx.Response(200 if role == "admin" else 403)))

    ops = [security.Operation("audit", "GET", "/v1/admin/audit")]
    matrix = security.access_matrix(
        {"customer": as_role("customer"), "admin": as_role("admin")}, ops
    )
    assert matrix.loc["audit"].to_dict() == {"customer": 403, "admin": 200}


def test_missing_headers_and_secret_scan() -> None:
    response = httpx.Response(200, headers={"x-frame-options": "DENY"})
    assert "x-frame-options" not in security.missing_headers(response)
    assert "x-content-type-options" in security.missing_headers(response)
    assert security.find_secrets(["log sk_abc123_zzz here"], ["sk_abc123_zzz", "nope"]) == [
        "sk_abc…"
    ]


def test_owasp_table_needs_every_category() -> None:
    findings = {code: {"attack": "x"} for code in security.OWASP_API_2023}
    table = security.owasp_table(findings)
    assert len(table) == 10 and table.index[0].startswith("API1 ")
    del findings["API7"]
    with pytest.raises(LabkitError, match="API7"):
        security.owasp_table(findings)


def test_cost_tables_have_their_columns() -> None:
    assert list(security.hashing_cost([(1, 1024)], repeat=1).columns) == [
        "time_cost", "memory_MiB", "ms per hash"]  # fmt: skip
    digest = security.compare_timing(size=1_000, repeat=3)
    assert set(digest.index) == {"==", "compare_digest"}
    assert set(security.guess_rates(seconds=0.01).index) == {"sha256", "argon2id"}


def test_url_inputs_finds_request_fields_that_take_a_url() -> None:
    spec = {
        "paths": {"/hooks": {"post": {
            "parameters": [{"name": "limit", "schema": {"type": "integer"}}],
            "requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Hook"}}}},
        }}},
        "components": {"schemas": {
            "Hook": {"properties": {"callback_url": {"type": "string"}, "name": {}}},
            "Read": {"properties": {"otpauth_uri": {"type": "string"}}},  # a response: not input
        }},
    }  # fmt: skip
    assert security.url_inputs(spec) == ["POST /hooks callback_url"]
    assert security.url_inputs({}) == []
