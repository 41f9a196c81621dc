"""`LiveService`: starts, answers, stops, reports a crash with its log, and refuses a busy port."""

from __future__ import annotations

import socket

import psutil
import pytest
import sqlalchemy as sa

from labkit.databases import Database, database
from labkit.errors import BadArgument, PortInUse, ServerStartError
from labkit.service import LiveService

HELLO = "tests.labkit.asgi_apps:hello"


def test_an_app_answers_on_loopback_while_running_and_not_after() -> None:
    with LiveService(HELLO, ready_path=None) as service:
        assert service.url.startswith("http://127.0.0.1:")
        with service.client() as client:
            assert client.get("/").text == "hello"
        pid = service.pid
    assert pid is not None and not psutil.pid_exists(pid)
    assert not service.running


def test_stop_is_safe_to_call_twice() -> None:
    service = LiveService(HELLO, ready_path=None).start()
    service.stop()
    service.stop()
    assert not service.running


def test_a_crash_at_start_raises_with_the_last_log_lines() -> None:
    with pytest.raises(ServerStartError, match="database URL is not configured"):
        LiveService("tests.labkit.asgi_broken:app", ready_path=None, startup_timeout=20).start()


def test_a_port_in_use_is_refused_with_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match="already in use"):
            LiveService(HELLO, port=port, ready_path=None).start()


def test_a_service_that_never_gets_ready_times_out_and_is_stopped() -> None:
    service = LiveService("tests.labkit.asgi_apps:never_ready", startup_timeout=2)
    with pytest.raises(ServerStartError, match="within 2 s"):
        service.start()
    assert not service.running


def test_the_sample_service_serves_seeded_products_on_every_database(
    any_database: Database,
) -> None:
    with LiveService(db=any_database, scale=50) as service, service.client() as client:
        ready = client.get("/health/ready")
        products = client.get("/v1/products", params={"limit": 5})
    assert ready.status_code == 200
    assert products.status_code == 200
    assert len(products.json()["items"]) == 5


def test_the_sample_service_logs_one_json_line_per_request() -> None:
    with LiveService(scale=20) as service, service.client() as client:
        client.get("/v1/products", headers={"X-Request-ID": "lesson-00"})
        record = service.log_for("lesson-00")
    assert record["status"] == 200
    assert record["route"] == "/v1/products"


@pytest.mark.parametrize(("limit", "expected"), [(10, 413), (1_000_000, 401)])
def test_settings_reach_the_service_as_environment(limit: int, expected: int) -> None:
    settings = {"max_body_bytes": limit}
    with LiveService(scale=20, settings=settings) as service, service.client() as client:
        response = client.post("/v1/orders", json={"items": [{"product_id": 1, "quantity": 1}] * 5})
    assert response.status_code == expected


def test_a_service_on_postgres_has_a_database_of_its_own_dropped_at_close() -> None:
    with (
        LiveService(db="postgres", scale=20) as first,
        LiveService(db="postgres", scale=20) as second,
    ):
        assert first.db is not None and second.db is not None
        assert first.db.name != second.db.name
        made = first.db
    server = database(made.url.rsplit("/", 1)[0] + "/postgres")
    with server.engine.connect() as conn:
        names = set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
    server.dispose()
    assert made.name not in names


def test_close_removes_the_services_files() -> None:
    service = LiveService(HELLO, ready_path=None).start()
    workdir = service._workdir
    service.close()
    assert workdir is not None and not workdir.exists()


def test_login_signs_in_as_a_seeded_role_or_email_and_refuses_an_unknown_role() -> None:
    with LiveService(scale=50) as service:
        for who, email in [("admin", "admin@shop.test"), ("customer", "alice@shop.test")]:
            with service.login(who) as client:
                assert client.get("/v1/users/me").json()["email"] == email
        with service.login("bob@shop.test") as bob:
            assert bob.get("/v1/users/me").json()["email"] == "bob@shop.test"
        with pytest.raises(BadArgument, match="no seeded account"):
            service.login("root")
