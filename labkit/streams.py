"""Clients for the shop's live views: an order's server-sent events, stock over a WebSocket.

>>> events = lk.streams.follow_order(alice, order_id)                  # until shipped
>>> rest = lk.streams.follow_order(alice, order_id, last_event_id=events[0].id)
>>> with lk.streams.StockWatcher(svc, token) as fast, lk.streams.StockWatcher(svc, token, slow=True) as slow:
...     ...                                  # change stock; the slow one is dropped (1013)

Taught in 12_async_work_and_events.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from httpx_sse import connect_sse
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from labkit._lifecycle import Lifecycle
from labkit.errors import BadArgument, LabkitError
from labkit.service import LiveService

__all__ = ["OrderEvent", "StockWatcher", "follow_order", "stock_burst"]


@dataclass(frozen=True)
class OrderEvent:
    """One server-sent event of an order's stream, as the client received it."""

    id: str
    event: str
    status: str
    received_at: dt.datetime


def follow_order(
    client: httpx.Client,
    order_id: int,
    *,
    last_event_id: str | None = None,
    limit: int | None = None,
    timeout: float = 30.0,
) -> list[OrderEvent]:
    """Read `/v1/orders/{id}/events` until the stream ends (shipped, cancelled) or `limit` events.

    Stopping at `limit` drops the connection, as a network would; pass the last event's id as
    `last_event_id` to resume where it stopped. Taught in 12_async_work_and_events.
    """
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[OrderEvent] = []
    deadline = time.monotonic() + timeout
    url = f"/v1/orders/{order_id}/events"
    with connect_sse(client, "GET", url, headers=headers, timeout=timeout) as source:
        if source.response.status_code != 200:
            raise LabkitError(
                f"GET {url} answered {source.response.status_code}: {source.response.read()!r}"
            )
        for sse in source.iter_sse():
            data = json.loads(sse.data)
            events.append(OrderEvent(sse.id, sse.event, data["status"], dt.datetime.now(dt.UTC)))
            if (limit is not None and len(events) >= limit) or time.monotonic() > deadline:
                break
    return events


def stock_burst(target: LiveService, *, rounds: int = 30, pause: float = 0.12) -> dict[int, int]:
    """Add one to every product's stock `rounds` times, `pause` apart (a warehouse restock).

    Each round changes every product, so watchers hear rounds x products changes (fewer when
    two rounds fall between two of the hub's looks). Returns the final stock by product.
    Taught in 12_async_work_and_events.
    """
    if target.db is None:
        raise BadArgument("the LiveService is not running; start it first")
    update = sa.text("UPDATE products SET stock = stock + 1")
    for _ in range(rounds):
        with target.db.engine.begin() as conn:
            conn.execute(update)
        time.sleep(pause)
    with target.db.engine.connect() as conn:
        return {int(i): int(n) for i, n in conn.execute(sa.text("SELECT id, stock FROM products"))}


def _socket_url(target: LiveService | str) -> str:
    url = target.url if isinstance(target, LiveService) else target
    return url.replace("http://", "ws://", 1).rstrip("/") + "/v1/stock/live"


class StockWatcher(Lifecycle):
    """A WebSocket client of `/v1/stock/live` that counts the stock changes it receives.

    Args:
        target: the `LiveService` (or its base URL).
        token: a bearer access token; without one the handshake is refused (LabkitError).
        slow: read nothing after the handshake until `drain()`: a client that cannot keep up
            (a phone in a tunnel). Its socket's receive buffer is made small, so the server's
            sends back up after a few kilobytes, as they would over a slow link.

    Taught in 12_async_work_and_events.
    """

    def __init__(self, target: LiveService | str, token: str | None, *, slow: bool = False):
        self.url = _socket_url(target)
        self.token = token
        self.slow = slow
        self.messages: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self._ws: ClientConnection | None = None
        self._sock: socket.socket | None = None
        self._protocol: ClientProtocol | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> StockWatcher:
        """Connect (the handshake carries the token); a fast watcher starts reading at once."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if self.slow:
            self._handshake(headers)
            return self
        try:
            self._ws = connect(
                self.url,
                additional_headers=headers,
                proxy=None,
                max_queue=1024,
                open_timeout=10,
                close_timeout=2,
                legacy=True,  # held open across calls and closed by close(), not a with block
            )
        except InvalidStatus as exc:
            raise self._refused(exc.response.status_code) from None
        self._reader = threading.Thread(target=self._read, daemon=True, name="stock-watcher")
        self._reader.start()
        return self

    def drain(self, timeout: float = 10.0) -> StockWatcher:
        """A slow watcher reads what reached it, until the server's close or `timeout`."""
        if self._protocol is None or self._sock is None:
            raise BadArgument("drain() is for a started slow watcher")
        deadline = time.monotonic() + timeout
        self._sock.settimeout(0.5)
        while self.close_code is None and time.monotonic() < deadline:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                self._protocol.receive_eof()
            else:
                self._protocol.receive_data(data)
            self._take(self._protocol.events_received())
            self._sock.sendall(b"".join(self._protocol.data_to_send()))  # pongs, the close reply
            if not data:
                break
        return self

    def wait_for(self, count: int, *, timeout: float = 30.0) -> int:
        """Wait until `count` changes arrived (or the socket closed); how many did."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and self.close_code is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        return len(self.messages)

    def latest(self) -> dict[int, int]:
        """The last stock this client heard of, per product."""
        return {m["product_id"]: m["stock"] for m in list(self.messages)}

    def wait_until(self, stock: dict[int, int], *, timeout: float = 30.0) -> bool:
        """Wait until this client has heard of every product's `stock` (or it was closed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.close_code is None:
            latest = self.latest()
            if all(latest.get(product) == value for product, value in stock.items()):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """Close the socket (if the server has not) and stop reading."""
        if self._ws is not None:
            self._ws.close()
        if self._reader is not None:
            self._reader.join(5)
        if self._sock is not None:
            self._sock.close()
        self._ws, self._reader, self._sock, self._protocol = None, None, None, None

    def __repr__(self) -> str:
        kind = "slow" if self.slow else "fast"
        return f"StockWatcher({kind}, received={len(self.messages)}, close_code={self.close_code})"

    # -- internals ---------------------------------------------------------------------------

    def _refused(self, status: int) -> LabkitError:
        return LabkitError(
            f"the service refused the WebSocket handshake at {self.url} with {status}"
        )

    def _handshake(self, headers: dict[str, str]) -> None:
        """Open the connection by hand (websockets' sans-I/O protocol), so nothing reads after."""
        uri = parse_uri(self.url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: it sticks
        sock.connect((uri.host, uri.port))
        protocol = ClientProtocol(uri, max_size=None)
        request = protocol.connect()
        request.headers.update(headers)
        protocol.send_request(request)
        sock.sendall(b"".join(protocol.data_to_send()))
        self._sock, self._protocol = sock, protocol
        while protocol.state is State.CONNECTING:
            data = sock.recv(4096)
            if not data:
                protocol.receive_eof()
            else:
                protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Response) and event.status_code != 101:
                    self.close()
                    raise self._refused(event.status_code)
                self._take([event])
            if not data:
                break

    def _take(self, events: list[Any]) -> None:
        assert self._protocol is not None
        for event in events:
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.messages.append(json.loads(event.data))
        if self._protocol.close_code is not None:
            self.close_code = self._protocol.close_code
            self.close_reason = self._protocol.close_reason or ""

    def _read(self) -> None:
        assert self._ws is not None
        try:
            for message in self._ws:
                self.messages.append(json.loads(message))
        except ConnectionClosed:
            pass
        self.close_code = self._ws.close_code
        self.close_reason = self._ws.close_reason or ""
