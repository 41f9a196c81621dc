"""`FaultProxy`: a TCP proxy that puts faults on the wire between the shop and what it depends on.

Taught in 11_resilience. Place it in front of PostgreSQL, Redis or the payments provider, hand
the service `proxy.url` instead of the real address, then turn faults on and off from Python:

>>> with lk.FaultProxy(db.url) as proxy:               # listens on a free loopback port
...     svc = lk.LiveService(db=proxy.url)               # the shop reaches the database through it
...     proxy.set(latency=0.05)                          # +50 ms on every chunk, each way
...     proxy.set(reset_rate=0.3)                        # 30 % of new connections reset (RST)
...     proxy.set(blackhole=True)                        # accepted, never answered
...     proxy.heal()                                     # back to a clean wire

It runs its own event loop on a daemon thread, so it works beside a notebook's code and a
child process. Loopback only: it listens on 127.0.0.1 and forwards to a loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from labkit._lifecycle import Lifecycle
from labkit.errors import LabkitError

__all__ = ["FaultProxy", "ProxyStats"]

_CHUNK = 65_536
T = TypeVar("T")


@dataclass
class ProxyStats:
    """What crossed the proxy: connections accepted, reset, swallowed, and bytes forwarded."""

    connections: int = 0
    resets: int = 0
    blackholed: int = 0
    bytes_forwarded: int = 0


class FaultProxy(Lifecycle):
    """Forward 127.0.0.1:`port` to `upstream`, adding latency, resets or a blackhole on demand.

    Args:
        upstream: ``"host:port"`` or a URL with a host and port (a database URL, ``http://…``);
            the host must be loopback.
        port: where to listen; by default a free port.
        seed: seeds which connections `reset_rate` picks, so runs repeat.

    Taught in 11_resilience.
    """

    def __init__(self, upstream: str, *, port: int = 0, seed: int = 0) -> None:
        self.upstream_url = upstream
        self.upstream_host, self.upstream_port = _host_port(upstream)
        self.port = port
        self.latency = 0.0
        self.reset_rate = 0.0
        self.blackhole = False
        self.stats = ProxyStats()
        self._random = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Listen and forward; returns once connections are accepted."""
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="labkit-fault-proxy")
        self._thread.daemon = True
        self._thread.start()
        self._loop = loop
        try:
            self._server = self._run(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        except OSError as exc:
            self.close()
            raise LabkitError(
                f"the fault proxy cannot listen on 127.0.0.1:{self.port} ({exc}); "
                "leave port unset to get a free one"
            ) from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def close(self) -> None:
        """Stop listening, cut every open connection, stop the thread; safe to call twice."""
        loop = self._loop
        if loop is None:
            return
        if self._server is not None:
            self._run(self._shutdown())
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        loop.close()
        self._loop = self._server = self._thread = None

    # -- control -----------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``127.0.0.1:port`` where the proxy listens."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The upstream URL with its host and port replaced by the proxy's (give this out)."""
        if "://" not in self.upstream_url:
            return self.address
        parts = urlsplit(self.upstream_url)
        userinfo, _, _ = parts.netloc.rpartition("@")
        netloc = f"{userinfo}@{self.address}" if userinfo else self.address
        return parts._replace(netloc=netloc).geturl()

    def set(
        self,
        *,
        latency: float | None = None,
        reset_rate: float | None = None,
        blackhole: bool | None = None,
    ) -> FaultProxy:
        """Change the named faults; the next chunk or connection sees them.

        `latency` is seconds added to every chunk in each direction; `reset_rate` the share of
        new connections answered with a TCP reset; `blackhole` accepts connections and
        swallows what they send, answering nothing (clients wait for their own timeouts).
        """
        if latency is not None:
            self.latency = _checked("latency", latency, 0.0, 60.0)
        if reset_rate is not None:
            self.reset_rate = _checked("reset_rate", reset_rate, 0.0, 1.0)
        if blackhole is not None:
            self.blackhole = blackhole
        return self

    def heal(self) -> FaultProxy:
        """Turn every fault off."""
        return self.set(latency=0.0, reset_rate=0.0, blackhole=False)

    def reset_connections(self) -> int:
        """Reset every open connection now (as a crashed peer or a firewall would); the count."""
        if self._loop is None:
            return 0
        return self._run(self._reset_all())

    def __repr__(self) -> str:
        faults = f"latency={self.latency}, reset_rate={self.reset_rate}, blackhole={self.blackhole}"
        target = f"{self.upstream_host}:{self.upstream_port}"
        return f"FaultProxy({self.address} -> {target}, {faults})"

    # -- the event loop's side ----------------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        self._open.add(writer)
        try:
            if self.blackhole:
                self.stats.blackholed += 1
                await _drain_forever(reader)
                return
            if self.reset_rate and self._random.random() < self.reset_rate:
                self.stats.resets += 1
                _reset(writer)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
            except OSError:
                _reset(writer)
                return
            self._open.add(up_writer)
            try:
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            finally:
                self._open.discard(up_writer)
                up_writer.close()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Copy one direction, delayed by `latency`; in a blackhole, swallow instead."""
        try:
            while data := await source.read(_CHUNK):
                if self.blackhole:
                    continue
                if self.latency:
                    await asyncio.sleep(self.latency)
                self.stats.bytes_forwarded += len(data)
                sink.write(data)
                await sink.drain()
            if sink.can_write_eof():
                sink.write_eof()
        except (ConnectionError, OSError):
            _reset(sink)

    async def _reset_all(self) -> int:
        writers = list(self._open)
        for writer in writers:
            _reset(writer)
        self.stats.resets += len(writers)
        return len(writers)

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._reset_all()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)


async def _drain_forever(reader: asyncio.StreamReader) -> None:
    while await reader.read(_CHUNK):
        pass


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (linger 0) rather than a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _checked(name: str, value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise LabkitError(f"{name}={value!r} is out of range; use a value from {low} to {high}")
    return float(value)


def _host_port(upstream: str) -> tuple[str, int]:
    """Host and port of ``host:port`` or a URL, refused unless the host is loopback."""
    if "://" in upstream:
        parts = urlsplit(upstream)
        host, port = parts.hostname, parts.port
    else:
        host, _, port_text = upstream.rpartition(":")
        port = int(port_text) if port_text.isdigit() else None
    if not host or port is None:
        raise LabkitError(
            f"the fault proxy needs a host and port to forward to, got {upstream!r}; "
            "pass 'host:port' or a URL with an explicit port"
        )
    if not _is_loopback(host):
        raise LabkitError(
            f"the fault proxy forwards to loopback only, got host {host!r}; "
            "run the dependency on 127.0.0.1"
        )
    return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
