"""A live client's sends, bounded in memory and in time: the rule both live views share.

A client that stops reading would otherwise cost the process memory (Linux grows a
connection's send buffer towards ``tcp_wmem``'s maximum, 4 MB) or hold a stream that waits
forever. Both views cap the buffer; the event stream also cuts off a client whose send
waits longer than a bound, and the client resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import anyio
from starlette.types import Message, Send

SEND_BUFFER_BYTES = 16 * 1024  # per connection, in the kernel and in the server each


class SlowClient(Exception):
    """A send to this client waited longer than its bound, and the server offers no way to cut
    its connection: the response ends with this error instead."""


def _transport(send: object, depth: int = 10) -> Any:
    """The server's transport behind an ASGI ``send``, through the middlewares' wrappers.

    Each wrapper holds the next ``send`` in its closure or, as a responder object, in its
    ``send`` attribute; uvicorn's protocol holds the transport. None when nothing does.
    """
    owner: Any = getattr(send, "__self__", None)
    if hasattr(owner, "transport"):
        return owner.transport
    inner = [cell.cell_contents for cell in getattr(send, "__closure__", None) or ()]
    inner.append(getattr(owner, "send", None))
    for candidate in inner if depth else ():
        found = _transport(candidate, depth - 1) if callable(candidate) else None
        if found is not None:
            return found
    return None


def cap_send_buffer(send: Send, size: int = SEND_BUFFER_BYTES) -> bool:
    """Cap the kernel's and the server's send buffer of this connection to ``size`` each.

    False when the server hides its socket (a test client has none). Measured without the
    cap: 2.8 MB taken for one client that stopped reading before a send waited; with it, a
    send waits after a few tens of kilobytes.
    """
    transport = _transport(send)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    transport.set_write_buffer_limits(high=size)
    return True


def bounded_send(send: Send, seconds: float, on_drop: Callable[[], None]) -> Send:
    """``send``, except that one waiting longer than ``seconds`` cuts the client off.

    The connection is aborted, not closed: what it buffered is thrown away at once rather
    than waited on, and the response ends as for any client that went away (later sends are
    ignored, the stream hears the disconnect). ``on_drop`` is called once, first. SlowClient
    is raised only when the server hides its transport, which leaves nothing to abort.
    """

    async def send_within(message: Message) -> None:
        try:
            with anyio.fail_after(seconds):
                await send(message)
        except TimeoutError:
            on_drop()
            transport = _transport(send)
            if transport is None:
                raise SlowClient(f"a send waited more than {seconds:g} s") from None
            transport.abort()

    return send_within
