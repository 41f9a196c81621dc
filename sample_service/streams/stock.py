"""Stock changes to every subscribed WebSocket, each client behind a bounded buffer.

One hub per process polls the products' stock while anyone listens and sends each change
(whatever made it: orders, cancellations, a restock) to every subscriber's queue. A queue
that is full means its client reads slower than stock changes: that client is dropped, so
one slow reader never makes the process hold an unbounded backlog for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine, select

from sample_service.models import Product


class Dropped(Exception):
    """This subscriber fell ``buffer`` messages behind and was cut off."""


class Subscriber:
    """One client's bounded queue of changes."""

    def __init__(self, buffer: int) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=buffer)
        self.dropped = asyncio.Event()

    async def next(self) -> dict[str, Any]:
        """The next change; Dropped once the hub has given up on this client."""
        if self.dropped.is_set():
            raise Dropped(f"more than {self.queue.maxsize} changes behind")
        getter = asyncio.ensure_future(self.queue.get())
        dropped = asyncio.ensure_future(self.dropped.wait())
        await asyncio.wait((getter, dropped), return_when=asyncio.FIRST_COMPLETED)
        dropped.cancel()
        if getter.done():
            return getter.result()
        getter.cancel()
        raise Dropped(f"more than {self.queue.maxsize} changes behind")


class StockHub:
    """Polls stock every ``interval`` seconds while it has subscribers; fans changes out."""

    def __init__(self, engine: Engine, *, buffer: int = 1024, interval: float = 0.1) -> None:
        self.engine = engine
        self.buffer = buffer
        self.interval = interval
        self.subscribers: set[Subscriber] = set()
        self.dropped = 0  # clients cut off for being slow, since the process started
        self._task: asyncio.Task[None] | None = None
        self._stock: dict[int, int] | None = None

    def subscribe(self) -> Subscriber:
        """A new subscriber; the first one starts the polling."""
        subscriber = Subscriber(self.buffer)
        self.subscribers.add(subscriber)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return subscriber

    async def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget the subscriber; the last one stops the polling."""
        self.subscribers.discard(subscriber)
        if not self.subscribers and self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task, self._stock = None, None

    def _read(self) -> dict[int, int]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(Product.id, Product.stock)).tuples().all())

    async def _run(self) -> None:
        while True:
            stock = await anyio.to_thread.run_sync(self._read)
            if self._stock is not None:
                changes = [
                    {"product_id": pid, "stock": n, "was": self._stock.get(pid)}
                    for pid, n in sorted(stock.items())
                    if self._stock.get(pid) != n
                ]
                for change in changes:
                    self._publish(change)
            self._stock = stock
            await asyncio.sleep(self.interval)

    def _publish(self, change: dict[str, Any]) -> None:
        for subscriber in list(self.subscribers):
            if subscriber.dropped.is_set():
                continue
            try:
                subscriber.queue.put_nowait(change)
            except asyncio.QueueFull:
                subscriber.dropped.set()  # its handler closes the socket
                self.dropped += 1
