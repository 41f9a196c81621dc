"""Nothing a client sends makes a 5xx: forged cursors, odd ids, control characters, tokens.

Each case was a 500 (or a wrong answer) once; each is now a 4xx problem before any query.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import jwt
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from labkit import _process
from sample_service.config import Settings
from sample_service.main import create_app
from sample_service.security import create_access_token
from tests.service.conftest import ALICE_ID, Seeded, assert_problem


def _cursor(*parts: Any) -> str:
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED_POSITIONS = [
    ("id", 2**80, 5),
    ("id", 5, 2**80),
    ("id", True, True),
    ("id", None, 5),
    ("id", "5", 5),
    ("id", 5.5, 5),
    ("id", 5, -1),
    ("id", 5, None),
    ("name", 7, 5),
    ("name", "kettle\u0000", 5),
    ("price_cents", -(2**70), 5),
    ("price_cents", False, 5),
]


@pytest.mark.parametrize(("sort", "value", "last_id"), FORGED_POSITIONS)
def test_forged_product_cursor_is_a_400(
    client: TestClient, sort: str, value: Any, last_id: Any
) -> None:
    response = client.get(
        "/v1/products", params={"sort": sort, "cursor": _cursor(sort, value, last_id)}
    )
    assert_problem(response, 400)


@pytest.mark.parametrize("path", ["/v1/orders", "/v1/products/1/reviews"])
@pytest.mark.parametrize("position", [(2**80, 2**80), (True, True), (None, None), ("1", 1)])
def test_forged_cursor_of_other_collections_is_a_400(
    client: TestClient, seeded: Seeded, path: str, position: tuple[Any, Any]
) -> None:
    sort = "-id"
    response = client.get(
        path, params={"cursor": _cursor(sort, *position)}, headers=seeded.customer
    )
    assert_problem(response, 400)


@pytest.mark.parametrize("spelling", ["1_0", "+1", "%201", "01", "1%20", "99999999999999999999"])
def test_an_id_is_read_only_in_canonical_decimal(client: TestClient, spelling: str) -> None:
    assert_problem(client.get(f"/v1/products/{spelling}"), 422)


def test_a_canonical_id_still_reads(client: TestClient) -> None:
    assert client.get("/v1/products/1").status_code == 200


@pytest.mark.parametrize("query", ["q=%00", "q=a%00b", "q=%1b", "q=%7F", "sort=id%00"])
def test_control_characters_in_the_query_are_a_422(client: TestClient, query: str) -> None:
    assert_problem(client.get(f"/v1/products?{query}"), 422)


def test_a_tab_in_a_search_is_text(client: TestClient) -> None:
    assert client.get("/v1/products", params={"q": "a\tb"}).status_code == 200


@pytest.mark.parametrize("name", ["a\u0000b", "\u0007bell", "del\u007f"])
def test_control_characters_in_a_json_body_are_a_422(client: TestClient, name: str) -> None:
    body = {"email": "ctl@shop.test", "password": "long enough", "full_name": name}
    assert_problem(client.post("/v1/users", json=body), 422)


def test_an_escaped_backslash_before_u0000_is_plain_text(client: TestClient) -> None:
    body = {"email": "slash@shop.test", "password": "long enough", "full_name": "a\\u0000"}
    assert client.post("/v1/users", json=body).status_code == 201


def test_nul_in_a_form_body_is_a_422(client: TestClient) -> None:
    response = client.post(
        "/v1/auth/token",
        content=b"username=alice%40shop.test%00&password=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 422)


@pytest.mark.parametrize("subject", [str(2**80), "1_0", "+3", "0", "x"])
def test_token_with_a_subject_that_is_no_user_id_is_401(
    client: TestClient, seeded: Seeded, subject: str
) -> None:
    secret = seeded.settings().jwt_secret
    token = create_access_token(user_id=ALICE_ID, role="customer", secret=secret, ttl_seconds=60)
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    forged = jwt.encode({**claims, "sub": subject}, secret, algorithm="HS256")
    response = client.get("/v1/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert_problem(response, 401)


@pytest.mark.parametrize("row_id", [str(2**80), "\u00b2", "1_0", "-1", "0"])
def test_refresh_token_with_a_row_id_out_of_bounds_is_401(client: TestClient, row_id: str) -> None:
    data = {"grant_type": "refresh_token", "refresh_token": f"{row_id}.secret"}
    assert_problem(client.post("/v1/auth/token", data=data), 401)


# -- a crash still answers problem+json, and the connection stays usable --------------------


@pytest.fixture
def crashing_server(tmp_path: Path) -> Iterator[int]:
    """A real uvicorn serving the shop plus one route that raises, on a free loopback port."""
    app: FastAPI = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'shop.db'}", access_log=False)
    )

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("an unknown failure")

    port = _process.free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            threading.Event().wait(0.02)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_crash_is_a_problem_and_keeps_the_connection(crashing_server: int) -> None:
    connection = HTTPConnection("127.0.0.1", crashing_server, timeout=5)
    try:
        connection.request("GET", "/crash")
        crashed = connection.getresponse()
        body = json.loads(crashed.read())
        assert crashed.status == 500 and body["status"] == 500
        assert crashed.getheader("content-type") == "application/problem+json"
        assert body["request_id"] == crashed.getheader("x-request-id")
        socket_before = connection.sock
        connection.request("GET", "/health/live")
        after = connection.getresponse()
        after.read()
        assert after.status == 200 and connection.sock is socket_before
    finally:
        connection.close()
