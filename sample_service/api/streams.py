"""Live views: an order's events as server-sent events, stock changes over a WebSocket.

Both are authenticated like every other read (a bearer token, or an API key for the
stream), and neither holds a database slot while it waits: each look at the database is
a short read of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, WebSocket, WebSocketDisconnect
from fastapi.sse import EventSourceResponse, ServerSentEvent

from sample_service.api.deps import ClaimsDep, DatabaseDep, path_id
from sample_service.api.problems import problem_responses
from sample_service.db import Database
from sample_service.errors import ServiceError
from sample_service.models import User
from sample_service.security import AccessClaims, InvalidToken, decode_access_token
from sample_service.services import api_keys, orders, users
from sample_service.streams import Dropped, StockHub, order_events

router = APIRouter(tags=["streams"])

OrderId = Annotated[int, path_id("Order", 101)]
POLL_SECONDS = 0.2  # how often an open stream looks for the order's next event
# Then the stream ends and the client reconnects with Last-Event-ID: no connection lives
# forever (proxies, deploys and load balancers all prefer it that way).
MAX_STREAM_SECONDS = 300
RETRY_MS = 1000  # the reconnection delay a client is told to use
SLOW_CLIENT = 1013  # "try again later": the close code a dropped WebSocket client sees
SEND_BUFFER_BYTES = 16 * 1024  # per connection, in the kernel and in the server each


def _user(database: Database, claims: AccessClaims | str) -> User:
    with database.sessionmaker() as session:
        if isinstance(claims, str):
            return api_keys.authenticate(session=session, credential=claims, method="GET")
        return users.active_user(session=session, user_id=claims.user_id)


def visible_order(order_id: OrderId, claims: ClaimsDep, database: DatabaseDep) -> int:
    """The order id, once the caller may see the order (checked before the stream starts)."""
    user = _user(database, claims)
    with database.sessionmaker() as session:
        orders.get_order(session=session, order_id=order_id, user=user)
    return order_id


@router.get(
    "/v1/orders/{order_id}/events",
    response_class=EventSourceResponse,
    summary="Follow an order's status as server-sent events (resume with Last-Event-ID)",
    responses=problem_responses(401, 404, 422, 429),
)
async def order_event_stream(
    order_id: Annotated[int, Depends(visible_order)],
    database: DatabaseDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Every event of the order after `Last-Event-ID` (all of them without it), then each
    new one as it commits; the stream ends once the order is shipped or cancelled, or after
    five minutes (reconnect with `Last-Event-ID`)."""
    after = last_event_id
    read = functools.partial(order_events, database.engine, order_id)
    ends = time.monotonic() + MAX_STREAM_SECONDS
    while time.monotonic() < ends:
        events, over = await anyio.to_thread.run_sync(functools.partial(read, after=after))
        for event in events:
            yield ServerSentEvent(
                id=event["id"], event=event["event"], data=event["data"], retry=RETRY_MS
            )
            after = event["id"]
        if over:
            return
        await asyncio.sleep(POLL_SECONDS)


def _socket_user(websocket: WebSocket) -> User | None:
    """The bearer token's active user, or None (the handshake is then refused)."""
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims = decode_access_token(token, secret=websocket.app.state.settings.jwt_secret)
        return _user(websocket.app.state.db, claims)
    except (InvalidToken, ServiceError):
        return None


def _transport(send: object, depth: int = 6) -> Any:
    """The server's transport behind an ASGI ``send``, through Starlette's wrappers (or None)."""
    owner = getattr(send, "__self__", None)
    if hasattr(owner, "transport"):
        return owner.transport
    for cell in getattr(send, "__closure__", None) or () if depth else ():
        found = _transport(cell.cell_contents, depth - 1) if callable(cell.cell_contents) else None
        if found is not None:
            return found
    return None


def cap_send_buffer(websocket: WebSocket, size: int) -> bool:
    """Cap the kernel's send buffer of this connection; False when the server hides its socket.

    Left alone, Linux grows a connection's send buffer up to ``tcp_wmem``'s maximum (4 MB;
    measured: 2.8 MB taken before a send waited) for a client that stops reading: megabytes
    each before the hub's own bound could notice. uvicorn's protocol holds the transport.
    """
    transport = _transport(websocket._send)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    transport.set_write_buffer_limits(high=size)
    return True


def stock_hub(websocket: WebSocket) -> StockHub:
    """The process's one hub, made by its first subscriber."""
    state = websocket.app.state
    if getattr(state, "stock_hub", None) is None:
        state.stock_hub = StockHub(state.db.engine)
    hub: StockHub = state.stock_hub
    return hub


async def _until_gone(websocket: WebSocket) -> None:
    """Return when the client disconnects (what it sends is ignored)."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


@router.websocket("/v1/stock/live")
async def stock_changes(websocket: WebSocket) -> None:
    """Each stock change as `{"product_id", "stock", "was"}`; needs `Authorization: Bearer`.

    A client that falls a buffer behind is closed with 1013 rather than buffered for.
    """
    if await anyio.to_thread.run_sync(_socket_user, websocket) is None:
        await websocket.close(code=1008, reason="a valid bearer token is required")  # → 403
        return
    await websocket.accept()
    cap_send_buffer(websocket, SEND_BUFFER_BYTES)
    hub = stock_hub(websocket)
    subscriber = hub.subscribe()
    gone = asyncio.ensure_future(_until_gone(websocket))
    try:
        while True:
            upcoming = asyncio.ensure_future(subscriber.next())
            await asyncio.wait((upcoming, gone), return_when=asyncio.FIRST_COMPLETED)
            if gone.done():  # the client left while nothing changed
                upcoming.cancel()
                return
            change = upcoming.result()  # Dropped when the hub gave up on this client
            sending = asyncio.ensure_future(websocket.send_json(change))
            dropped = asyncio.ensure_future(subscriber.dropped.wait())
            await asyncio.wait((sending, dropped), return_when=asyncio.FIRST_COMPLETED)
            dropped.cancel()
            if not sending.done():  # blocked on a client that does not read: give up on it
                sending.cancel()
                raise Dropped(f"more than {hub.buffer} changes behind")
    except Dropped as exc:
        await hub.unsubscribe(subscriber)  # forget it first: the close may wait on the client
        with contextlib.suppress(TimeoutError):  # a client that never reads never takes it
            await asyncio.wait_for(websocket.close(code=SLOW_CLIENT, reason=str(exc)[:120]), 5)
    except WebSocketDisconnect:
        pass
    finally:
        gone.cancel()
        await hub.unsubscribe(subscriber)
