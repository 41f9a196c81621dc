"""The fault proxy: a clean wire, then latency, resets and a blackhole, each turned off again."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from labkit.errors import LabkitError
from labkit.faults import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError):  # the proxy resets on purpose
            while data := self.request.recv(4096):
                self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    """An echo server on a loopback port."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo: int) -> Iterator[FaultProxy]:
    with FaultProxy(f"127.0.0.1:{echo}") as running:
        yield running


def round_trip(proxy: FaultProxy, payload: bytes = b"ping", timeout: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout) as sock:
        sock.sendall(payload)
        return sock.recv(4096)


def test_a_clean_proxy_forwards_both_ways(proxy: FaultProxy) -> None:
    assert round_trip(proxy) == b"ping"
    assert proxy.stats.connections == 1
    assert proxy.stats.bytes_forwarded == 8


def test_latency_delays_each_direction(proxy: FaultProxy) -> None:
    proxy.set(latency=0.1)
    started = time.perf_counter()
    assert round_trip(proxy) == b"ping"
    assert time.perf_counter() - started >= 0.2  # a lower bound: a busy machine only adds


def test_reset_rate_one_resets_every_new_connection(proxy: FaultProxy) -> None:
    proxy.set(reset_rate=1.0)
    with pytest.raises(ConnectionResetError):
        round_trip(proxy)
    assert proxy.stats.resets == 1
    proxy.heal()
    assert round_trip(proxy) == b"ping"


def test_reset_rate_picks_a_seeded_share_of_connections(echo: int) -> None:
    def outcomes() -> list[bool]:
        with FaultProxy(f"127.0.0.1:{echo}", seed=3) as proxy:
            proxy.set(reset_rate=0.5)
            results = []
            for _ in range(20):
                try:
                    results.append(round_trip(proxy) == b"ping")
                except ConnectionResetError:
                    results.append(False)
            return results

    first = outcomes()
    assert 4 <= first.count(False) <= 16
    assert outcomes() == first


def test_a_blackhole_answers_nothing_until_healed(proxy: FaultProxy) -> None:
    proxy.set(blackhole=True)
    with pytest.raises(TimeoutError):
        round_trip(proxy, timeout=0.2)
    assert proxy.stats.blackholed == 1
    proxy.heal()
    assert round_trip(proxy) == b"ping"


def test_open_connections_can_be_reset_at_once(proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as sock:
        sock.sendall(b"a")
        assert sock.recv(16) == b"a"
        assert proxy.reset_connections() >= 1
        with pytest.raises(ConnectionResetError):
            sock.sendall(b"b")
            sock.recv(16)


def test_the_url_points_at_the_proxy_and_keeps_the_rest() -> None:
    upstream = "postgresql://shop:secret@127.0.0.1:5432/lesson?sslmode=disable"
    with FaultProxy(upstream) as proxy:
        assert (
            proxy.url == f"postgresql://shop:secret@127.0.0.1:{proxy.port}/lesson?sslmode=disable"
        )


@pytest.mark.parametrize("upstream", ["10.0.0.5:5432", "http://example.com:80", "127.0.0.1"])
def test_non_loopback_or_portless_upstreams_are_refused(upstream: str) -> None:
    with pytest.raises(LabkitError):
        FaultProxy(upstream)


def test_out_of_range_faults_are_refused(proxy: FaultProxy) -> None:
    with pytest.raises(LabkitError):
        proxy.set(reset_rate=1.5)
