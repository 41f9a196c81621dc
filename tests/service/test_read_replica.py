"""Read replicas: catalog reads on the replica, everything else on the primary, and a client
that just wrote reads its write (sample_service.replica).

PostgreSQL runs against a real streaming standby of the embedded server (`lk.replica`), held
back by `recovery_min_apply_delay` so it trails by a known time; where the standby cannot be
made the PostgreSQL tests skip saying why. SQLite has no replica: behaviour unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import ValidationError

from labkit._process import free_port
from labkit.databases import Replica, replica
from labkit.errors import ServerStartError
from sample_service.config import Settings
from sample_service.replica import COOKIE, format_lsn, parse_lsn
from sample_service.seed import seed
from tests.conftest import fresh_database, unique_name
from tests.service.conftest import SEED_SCALE, AppClient, Seeded, app_clients, new_product

DELAY = 1.5  # seconds the standby holds each commit back: longer than any test step below


@pytest.fixture(scope="module")
def pair() -> Iterator[Replica]:
    """A seeded primary on the embedded PostgreSQL and a streaming standby of it."""
    try:
        rep = replica(unique_name("replica"), fresh=True)
    except ServerStartError as exc:
        pytest.skip(f"no streaming replica on this machine: {exc}")
    try:
        seed(rep.primary.url, scale=SEED_SCALE)
        rep.wait_caught_up()
        yield rep
    finally:
        rep.close()
        rep.primary.drop()


@pytest.fixture
def delayed(pair: Replica) -> Iterator[Replica]:
    """The pair with the standby trailing by DELAY; caught up again afterwards."""
    pair.delay_replay(DELAY)
    try:
        yield pair
    finally:
        pair.delay_replay(0)
        pair.wait_caught_up()


@pytest.fixture
def make(pair: Replica) -> Iterator[AppClient]:
    """Apps reading the catalog from the replica: lab mode, no cache (every read is a query)."""
    seeded = Seeded(pair.primary)

    def settings(**overrides: Any) -> Settings:
        values = {"database_replica_url": pair.url, "lab_mode": True, "cache_ttl_seconds": 0}
        return seeded.settings(**{**values, **overrides})

    with app_clients(settings) as make:
        yield make


def _price(client: TestClient, product_id: int) -> int:
    response = client.get(f"/v1/products/{product_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["price_cents"])


def _change_price(client: TestClient, product_id: int, price: int, staff: dict[str, str]) -> Any:
    etag = client.get(f"/v1/products/{product_id}", headers=staff).headers["etag"]
    return client.patch(
        f"/v1/products/{product_id}",
        json={"price_cents": price},
        headers={**staff, "If-Match": etag},
    )


def _reads(client: TestClient) -> dict[str, float]:
    """shop_db_reads_total by server, from /metrics."""
    counts = {"primary": 0.0, "replica": 0.0}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("shop_db_reads_total{"):
            server = line.split('server="', 1)[1].split('"', 1)[0]
            counts[server] = float(line.rsplit(" ", 1)[1])
    return counts


def test_catalog_reads_go_to_the_replica_and_everything_else_to_the_primary(
    delayed: Replica, make: AppClient
) -> None:
    client = make()
    staff = Seeded(delayed.primary).staff
    product = new_product(client, staff)  # through the primary
    delayed.delay_replay(0)
    delayed.wait_caught_up()
    delayed.delay_replay(DELAY)
    with delayed.primary.engine.begin() as conn:  # a write the replica holds back
        conn.execute(
            sa.text("UPDATE products SET price_cents = 4242 WHERE id = :id"), {"id": product["id"]}
        )
    reader = make()  # a client that wrote nothing
    assert _price(reader, product["id"]) == product["price_cents"]  # the replica: stale
    page = reader.get("/v1/products", params={"limit": 100, "sort": "-id"}).json()["items"]
    assert {p["id"]: p["price_cents"] for p in page}[product["id"]] == product["price_cents"]
    # The ORM listing (a lesson switch's path) reads through a session: the primary, current.
    reader.patch("/lab/switches", json={"offset_pagination": True}, headers=_admin(delayed))
    listed = reader.get("/v1/products", params={"offset": 0, "limit": 100, "sort": "-id"})
    assert {p["id"]: p["price_cents"] for p in listed.json()["items"]}[product["id"]] == 4242


def test_a_client_reads_its_own_write_while_the_replica_trails(
    delayed: Replica, make: AppClient
) -> None:
    writer, other = make(), make()
    staff = Seeded(delayed.primary).staff
    delayed.delay_replay(0)
    product = new_product(writer, staff)
    delayed.wait_caught_up()
    delayed.delay_replay(DELAY)
    writer.cookies.clear()
    before = _reads(writer)
    response = _change_price(writer, product["id"], 3131, staff)
    assert response.status_code == 200, response.text
    lsn = parse_lsn(writer.cookies[COOKIE])
    assert lsn is not None and format_lsn(lsn) == writer.cookies[COOKIE]
    assert _price(writer, product["id"]) == 3131  # its own write, from the primary
    assert _price(other, product["id"]) == product["price_cents"]  # others: the replica, stale
    after = _reads(writer)
    assert after["primary"] - before["primary"] >= 1
    assert after["replica"] - before["replica"] >= 2  # the If-Match GET and the other's read
    delayed.wait_caught_up()
    assert _price(writer, product["id"]) == 3131
    assert _reads(writer)["replica"] - after["replica"] >= 1  # caught up: the replica again


def test_naive_routing_loses_read_your_writes(delayed: Replica, make: AppClient) -> None:
    writer = make()
    staff = Seeded(delayed.primary).staff
    delayed.delay_replay(0)
    product = new_product(writer, staff)
    delayed.wait_caught_up()
    delayed.delay_replay(DELAY)
    writer.patch("/lab/switches", json={"naive_replica_routing": True}, headers=_admin(delayed))
    assert _change_price(writer, product["id"], 2727, staff).status_code == 200
    assert _price(writer, product["id"]) == product["price_cents"]  # its own write, lost


def test_metrics_report_the_replica_lag(delayed: Replica, make: AppClient) -> None:
    client = make()
    with delayed.primary.engine.begin() as conn:
        conn.execute(sa.text("UPDATE products SET stock = stock WHERE id = 1"))
    lag = _lag(client)
    assert lag["bytes"] > 0 and lag["seconds"] > 0, lag
    delayed.delay_replay(0)
    delayed.wait_caught_up()
    assert _lag(client) == {"bytes": 0.0, "seconds": 0.0}


def test_reads_fall_back_to_the_primary_while_the_replica_cannot_be_reached(
    pair: Replica, make: AppClient
) -> None:
    port = free_port()
    probe = make()  # the read counters are the process's: any app's /metrics shows them
    before = _reads(probe)
    client = make(database_replica_url=f"postgresql://postgres@127.0.0.1:{port}/shop")
    assert client.get("/v1/products/1").status_code == 200
    assert client.get("/v1/products", params={"limit": 5}).status_code == 200
    after = _reads(probe)
    assert after["primary"] - before["primary"] == 2 and after["replica"] == before["replica"]
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert f'shop_replica_lag_bytes{{replica="127.0.0.1:{port}"}} NaN' in metrics.text


@pytest.mark.parametrize("cookie", ["not-an-lsn", "FFFFFFFF/FFFFFFFF", "0/0"])
def test_any_lsn_cookie_is_served(pair: Replica, make: AppClient, cookie: str) -> None:
    client = make()
    client.cookies.set(COOKIE, cookie)
    assert client.get("/v1/products/1").status_code == 200


def test_sqlite_has_no_replica_and_sets_no_cookie() -> None:
    with fresh_database("sqlite", "norep") as db:
        seed(db.url, scale=SEED_SCALE)
        seeded = Seeded(db)
        with app_clients(seeded.settings) as make:
            client = make(database_replica_url="")  # as an unset environment variable
            assert client.app.state.db.replica is None  # type: ignore[attr-defined]
            product = new_product(client, seeded.staff)
            assert COOKIE not in client.cookies
            assert _price(client, product["id"]) == product["price_cents"]
        with pytest.raises(ValidationError, match="PostgreSQL"):
            Settings(database_url=db.url, database_replica_url="postgresql://h/shop")


def _admin(pair: Replica) -> dict[str, str]:
    return Seeded(pair.primary).token(1, "admin")


def _lag(client: TestClient) -> dict[str, float]:
    found = {}
    for line in client.get("/metrics").text.splitlines():
        for name in ("bytes", "seconds"):
            if line.startswith(f"shop_replica_lag_{name}{{"):
                found[name] = float(line.rsplit(" ", 1)[1])
    return found
