"""Live views on each database: an order's SSE stream resumes with Last-Event-ID and misses
nothing, and drops a reader that stops reading; the stock WebSocket refuses anonymous clients
and drops a slow one, not the rest."""

from __future__ import annotations

import datetime as dt
import re
import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from labkit.errors import LabkitError
from labkit.service import LiveService
from labkit.streams import StockWatcher, follow_order
from sample_service.api.streams import SLOW_CLIENT
from sample_service.models import Category, OutboxEvent, Product
from tests.service.conftest import assert_problem
from tests.service.known_shop.conftest import CHILD_SETTINGS, PASSWORD, Shop, bearer


def _shipped_order(client: TestClient, shop: Shop) -> int:
    placed = client.post(
        "/v1/orders",
        json={"items": [{"product_id": shop.add_product(stock=3), "quantity": 1}]},
        headers={**bearer(client, "alice@shop.test"), "Idempotency-Key": str(uuid.uuid4())},
    )
    order_id: int = placed.json()["id"]
    for status in ("paid", "shipped"):
        moved = client.post(
            f"/v1/orders/{order_id}/status",
            json={"status": status},
            headers=bearer(client, "staff@shop.test"),
        )
        assert moved.status_code == 200, moved.text
    return order_id


def test_an_order_stream_resumes_after_the_last_event_id_and_misses_nothing(
    client: TestClient, shop: Shop
) -> None:
    order_id = _shipped_order(client, shop)
    client.headers.update(bearer(client, "alice@shop.test"))
    everything = follow_order(client, order_id)
    assert [e.status for e in everything] == ["placed", "paid", "shipped"]
    first = follow_order(client, order_id, limit=1)  # the connection drops after one event
    rest = follow_order(client, order_id, last_event_id=first[-1].id)
    assert [e.id for e in first + rest] == [e.id for e in everything]  # no gap, no repeat
    assert follow_order(client, order_id, last_event_id=everything[-1].id) == []
    unknown = follow_order(client, order_id, last_event_id="not-an-event-of-this-order")
    assert [e.id for e in unknown] == [e.id for e in everything]  # replay rather than lose


def test_an_order_stream_is_its_owners(client: TestClient, shop: Shop) -> None:
    order_id = _shipped_order(client, shop)
    url = f"/v1/orders/{order_id}/events"
    assert_problem(client.get(url), 401)
    assert_problem(client.get(url, headers=bearer(client, "bob@shop.test")), 404)
    staff = client.get(url, headers=bearer(client, "staff@shop.test"))
    assert staff.status_code == 200 and staff.headers["content-type"].startswith(
        "text/event-stream"
    )


SEND_TIMEOUT = 1.5  # the live service's stream_send_timeout_seconds


@pytest.fixture
def live(shop: Shop) -> Iterator[LiveService]:
    """The shop in a real server process: a WebSocket needs a socket, a slow reader too."""
    settings = {**CHILD_SETTINGS, "lab_mode": True, "stream_send_timeout_seconds": SEND_TIMEOUT}
    with LiveService(db=shop.db, scale=None, settings=settings) as service:
        yield service


def _token(live: LiveService, email: str) -> str:
    with live.client() as anonymous:
        answer = anonymous.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    token: str = answer.json()["access_token"]
    return token


def _burst_products(shop: Shop, count: int) -> list[int]:
    """New products whose stock the burst changes (made before anyone watches)."""
    with shop.db.engine.begin() as conn:
        category = conn.scalar(select(Category.id).limit(1))
        return [
            conn.execute(
                insert(Product)
                .values(
                    category_id=category,
                    sku=f"B-{uuid.uuid4().hex[:12]}",
                    name="burst",
                    price_cents=100,
                    stock=1000,
                )
                .returning(Product.id)
            ).scalar_one()
            for _ in range(count)
        ]


def _stock_burst(shop: Shop, ids: list[int], rounds: int) -> None:
    """Take one from each product's stock `rounds` times, about a poll apart."""
    for _ in range(rounds):
        with shop.db.engine.begin() as conn:
            conn.execute(update(Product).where(Product.id.in_(ids)).values(stock=Product.stock - 1))
        time.sleep(0.15)


def _dropped(client: httpx.Client, channel: str) -> float:
    """The service's count of live-view clients it cut off on `channel` (sse, websocket)."""
    text = client.get("/metrics").text
    series = f'shop_stream_clients_dropped_total{{channel="{channel}"}}'
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert found, "the counter is exported at 0 before any drop"
    return float(found.group(1))


def test_the_stock_socket_refuses_a_missing_or_forged_token(live: LiveService) -> None:
    for token in (None, "not.a.jwt"):
        with pytest.raises(LabkitError, match="403"):
            StockWatcher(live, token).start()
    with pytest.raises(LabkitError, match="403"):
        StockWatcher(live, None, slow=True).start()


def test_a_slow_client_is_dropped_while_the_others_get_every_change(
    live: LiveService, shop: Shop
) -> None:
    token = _token(live, "alice@shop.test")
    ids = _burst_products(shop, 200)
    with (
        StockWatcher(live, token) as fast,
        StockWatcher(live, token) as other,
        StockWatcher(live, token, slow=True) as slow,
    ):
        time.sleep(0.3)  # the hub has taken its first snapshot
        rounds = 25
        _stock_burst(shop, ids, rounds)
        final = dict.fromkeys(ids, 1000 - rounds)
        assert fast.wait_until(final) and other.wait_until(final)  # every product's last stock
        slow.drain()
        assert fast.close_code is None and other.close_code is None  # both still open
    assert slow.close_code == SLOW_CLIENT, (slow.close_code, len(slow.messages))
    assert len(slow.messages) < len(fast.messages)
    assert slow.latest() != final  # it was cut off before it heard the end
    with live.client() as client:
        assert _dropped(client, "websocket") == 1 and _dropped(client, "sse") == 0


def _many_events(shop: Shop, order_id: int, count: int) -> None:
    """`count` more events of the order in its outbox, marked published (no relay takes them)."""
    rows = [
        {
            "id": str(uuid.uuid4()),
            "topic": "order.noted",
            "key": str(order_id),
            "payload": {"status": "shipped", "note": f"note {n}"},
            "published_at": dt.datetime.now(dt.UTC),
        }
        for n in range(count)
    ]
    with shop.db.engine.begin() as conn:
        conn.execute(insert(OutboxEvent), rows)


class SlowReader:
    """An SSE client that reads the response head, then nothing until `drain()`.

    Its receive buffer is small, so the server's sends back up after a few kilobytes.
    """

    def __init__(self, live: LiveService, token: str, order_id: int) -> None:
        address = urlsplit(live.url)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((address.hostname, address.port))
        self.sock.sendall(
            f"GET /v1/orders/{order_id}/events HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += self.sock.recv(1)  # a byte at a time: nothing of the body is read
        assert head.startswith(b"HTTP/1.1 200"), head

    def drain(self) -> list[str]:
        """Read what reached this client until the server's cut; the ids of whole events."""
        body = b""
        self.sock.settimeout(10)
        try:
            while chunk := self.sock.recv(65536):
                body += chunk
        except ConnectionResetError:  # an aborted connection: what arrived before stays read
            pass
        finally:
            self.sock.close()
        text = re.sub(r"\r\n[0-9a-f]+\r\n", "", "\r\n" + body.decode(errors="replace"))
        whole = text.split("\n\n")[:-1]  # the last piece is an unfinished event, if any
        return [m.group(1) for event in whole if (m := re.search(r"^id: (.+)$", event, re.M))]


def test_an_order_stream_drops_a_reader_that_stops_and_it_resumes_without_a_gap(
    live: LiveService, shop: Shop
) -> None:
    with live.client() as client:
        order_id = _shipped_order(client, shop)  # type: ignore[arg-type]
        _many_events(shop, order_id, 2000)  # a quarter megabyte of events, ready at once
        token = _token(live, "alice@shop.test")
        client.headers.update({"Authorization": f"Bearer {token}"})
        assert _dropped(client, "sse") == 0
        slow = SlowReader(live, token, order_id)
        opened = time.monotonic()
        everything = follow_order(client, order_id)  # another reader, served meanwhile
        while _dropped(client, "sse") == 0 and time.monotonic() - opened < SEND_TIMEOUT + 10:
            time.sleep(0.05)
        dropped_after = time.monotonic() - opened
        assert _dropped(client, "sse") == 1
        assert client.get("/health/ready").status_code == 200
        received = slow.drain()
        rest = follow_order(client, order_id, last_event_id=received[-1] if received else None)
    assert len(everything) == 2003  # the other reader had it all
    # Cut off for the bound it waited (not before), and soon after it (a loaded machine).
    assert SEND_TIMEOUT * 0.9 < dropped_after < SEND_TIMEOUT + 3, dropped_after
    assert 0 < len(received) < len(everything) // 2  # a buffer's worth, not the stream
    assert received + [e.id for e in rest] == [e.id for e in everything]  # no gap, no repeat
    assert any("dropped a slow client" in line for line in live.log_lines())
