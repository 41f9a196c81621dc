"""Live views: an order's events as server-sent events, stock changes over a WebSocket.

Both are authenticated like every other read (a bearer token, or an API key for the
stream), and neither holds a database slot while it waits: each look at the database is
a short read of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Header, WebSocket, WebSocketDisconnect
from fastapi.routing import APIRoute
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from sample_service import metrics
from sample_service.api.deps import ClaimsDep, DatabaseDep, path_id
from sample_service.api.problems import problem_responses
from sample_service.db import Database
from sample_service.errors import ServiceError
from sample_service.models import User
from sample_service.security import AccessClaims, InvalidToken, decode_access_token
from sample_service.services import api_keys, orders, users
from sample_service.streams import (
    Dropped,
    StockHub,
    bounded_send,
    cap_send_buffer,
    order_events,
)

OrderId = Annotated[int, path_id("Order", 101)]
POLL_SECONDS = 0.2  # how often an open stream looks for the order's next event
# Then the stream ends and the client reconnects with Last-Event-ID: no connection lives
# forever (proxies, deploys and load balancers all prefer it that way).
MAX_STREAM_SECONDS = 300
RETRY_MS = 1000  # the reconnection delay a client is told to use
SLOW_CLIENT = 1013  # "try again later": the close code a dropped WebSocket client sees
log = logging.getLogger("sample_service.streams")


class DropsSlowClients(APIRoute):
    """A streaming route that cuts off a client whose send waits longer than the setting.

    Its buffer is capped first, so a client that stops reading makes a send wait after tens
    of kilobytes; `stream_send_timeout_seconds` later the connection is aborted, logged and
    counted. The event stream reads its next events only after a send, so a dropped client
    costs nothing more, and it misses nothing: it resumes with `Last-Event-ID`.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        seconds = scope["app"].state.settings.stream_send_timeout_seconds

        def dropped() -> None:
            log.warning("dropped a slow client of %s: a send waited %g s", scope["path"], seconds)
            metrics.count_dropped("sse")

        cap_send_buffer(send)
        try:
            await super().handle(scope, receive, bounded_send(send, seconds, on_drop=dropped))
        except* anyio.BrokenResourceError:
            # FastAPI's keep-alive task, caught sending to a client that has gone (a drop
            # makes it certain; fastapi discussion #15725): the stream is over, nothing failed.
            pass


router = APIRouter(tags=["streams"], route_class=DropsSlowClients)  # its HTTP route: the SSE


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
    five minutes (reconnect with `Last-Event-ID`). A client that stops reading is cut off
    once a send has waited the service's bound; it too resumes with `Last-Event-ID`."""
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
    cap_send_buffer(websocket._send)
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
        metrics.count_dropped("websocket")
        await hub.unsubscribe(subscriber)  # forget it first: the close may wait on the client
        with contextlib.suppress(TimeoutError):  # a client that never reads never takes it
            await asyncio.wait_for(websocket.close(code=SLOW_CLIENT, reason=str(exc)[:120]), 5)
    except WebSocketDisconnect:
        pass
    finally:
        gone.cancel()
        await hub.unsubscribe(subscriber)
