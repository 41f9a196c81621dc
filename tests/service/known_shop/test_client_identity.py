"""Who a limit counts: the socket's peer, forwarded headers only from trusted proxies.

Before, any client could send ``X-Forwarded-For`` and get a fresh bucket per guess (the
sign-in limit went on answering 401, then 200 for the right password).
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from labkit.service import LiveService
from sample_service.main import create_app
from sample_service.ratelimit import client_address
from tests.conftest import fresh_database
from tests.service.conftest import AppClient
from tests.service.known_shop.conftest import CHILD_SETTINGS, Shop, build_shop

SLOW = 0.001  # no token comes back during a test
PROXY = ip_network("10.0.0.0/8")


def _scope(peer: str, *headers: tuple[str, str]) -> dict[str, Any]:
    return {
        "client": (peer, 40000),
        "headers": [(name.encode(), value.encode()) for name, value in headers],
    }


def test_forwarded_headers_from_an_untrusted_peer_are_ignored() -> None:
    scope = _scope("203.0.113.9", ("x-forwarded-for", "198.51.100.1"), ("forwarded", "for=1.2.3.4"))
    assert client_address(scope, (PROXY,)) == "203.0.113.9"
    assert client_address(scope) == "203.0.113.9"


def test_a_trusted_proxy_names_the_rightmost_untrusted_hop() -> None:
    # The client wrote "6.6.6.6" itself; the proxy appended the address it saw.
    scope = _scope("10.0.0.2", ("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.5"))
    assert client_address(scope, (PROXY,)) == "198.51.100.7"


def test_forwarded_is_read_per_rfc_7239_with_ports_and_ipv6() -> None:
    header = 'for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for=10.1.2.3'
    scope = _scope("10.0.0.2", ("forwarded", header), ("x-forwarded-for", "7.7.7.7"))
    assert client_address(scope, (PROXY,)) == "2001:db8:cafe::17"


@pytest.mark.parametrize("hop", ["unknown", "_hidden", "not an address"])
def test_an_unreadable_hop_counts_as_the_proxy_itself(hop: str) -> None:
    scope = _scope("10.0.0.2", ("x-forwarded-for", f"6.6.6.6, {hop}"))
    assert client_address(scope, (PROXY,)) == "10.0.0.2"


def _guess(client: TestClient, spoof: str) -> int:
    data = {"username": "alice@shop.test", "password": "guess"}
    return client.post("/v1/auth/token", data=data, headers={"X-Forwarded-For": spoof}).status_code


def test_spoofed_forwarded_for_gets_no_fresh_sign_in_bucket(api: AppClient) -> None:
    client = api(auth_rate_limit_capacity=2, auth_rate_limit_refill_per_second=SLOW)
    statuses = [_guess(client, f"198.51.100.{n}") for n in range(6)]
    assert statuses == [401, 401, 429, 429, 429, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(shop: Shop) -> None:
    settings = shop.settings(
        auth_rate_limit_capacity=1,
        auth_rate_limit_refill_per_second=SLOW,
        rate_limit_enabled=True,
        trusted_proxies=["10.0.0.0/8"],
    )
    with TestClient(create_app(settings), client=("10.0.0.2", 40000)) as client:
        assert [_guess(client, "198.51.100.1") for _ in range(2)] == [401, 429]
        assert _guess(client, "198.51.100.2") == 401  # another client behind the proxy
        assert _guess(client, "6.6.6.6, 198.51.100.1") == 429  # prefixing a lie changes nothing


def test_registration_has_a_strict_limit_of_its_own(api: AppClient) -> None:
    client = api(register_rate_limit_capacity=2, register_rate_limit_refill_per_second=SLOW)
    statuses = []
    for n in range(4):
        body = {"email": f"new{n}@shop.test", "password": "long enough", "full_name": "New"}
        response = client.post("/v1/users", json=body, headers={"X-Forwarded-For": f"6.6.6.{n}"})
        statuses.append(response.status_code)
    assert statuses == [201, 201, 429, 429]
    assert client.get("/v1/categories").status_code == 200  # other requests keep their budget


@pytest.fixture(scope="module")
def sqlite_shop() -> Iterator[Shop]:
    with fresh_database("sqlite", "identity") as db:
        yield build_shop(db)


def test_a_live_service_ignores_forwarded_for_from_loopback(sqlite_shop: Shop) -> None:
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default; labkit turns that off."""
    settings = {
        **CHILD_SETTINGS,
        "auth_rate_limit_capacity": 2,
        "auth_rate_limit_refill_per_second": SLOW,
    }
    with LiveService(db=sqlite_shop.db, scale=None, settings=settings) as service:
        statuses = [
            httpx.post(
                f"{service.url}/v1/auth/token",
                data={"username": "alice@shop.test", "password": "guess"},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            ).status_code
            for n in range(4)
        ]
    assert statuses == [401, 401, 429, 429]
