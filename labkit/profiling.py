"""Where the time goes: a statistical profile (pyinstrument) as tables and a call tree.

A sampling profiler looks at the stack every millisecond, so it costs little and shows
what a request really spends its time on: SQL, the ORM building objects, validation,
serialisation. Taught in 10_observability.

>>> prof = lk.profile_request(svc, "/v1/orders", who="staff")  # the service's own handling
>>> prof.by_package()          # seconds per library
>>> lk.profile(lambda: my_function())                          # any call in this process
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from unittest import mock

import pandas as pd
from pyinstrument import Profiler
from pyinstrument.frame import Frame
from pyinstrument.session import Session

from labkit.errors import LabkitError

if TYPE_CHECKING:
    from labkit.service import LiveService

__all__ = ["Profile", "profile", "profile_request"]

# The top-level package of a frame's file: installed ones first, then the standard library.
_PACKAGES = (
    re.compile(r"site-packages/([A-Za-z_]\w*)"),
    re.compile(r"lib/python3\.\d+/([A-Za-z_]\w*)"),
)


class Profile:
    """One profiled call: its result, the call tree, and time grouped by function and package."""

    def __init__(self, session: Session, result: Any) -> None:
        self.session = session
        self.result = result

    @property
    def seconds(self) -> float:
        """Wall-clock time of the profiled call."""
        return float(self.session.duration)

    def hotspots(self, top: int = 10) -> pd.DataFrame:
        """The functions with the most time spent in their own code (not in their callees)."""
        frame = self._self_times()
        grouped = frame.groupby(["function", "where", "package"], as_index=False)["self_s"].sum()
        return grouped.sort_values("self_s", ascending=False).head(top).reset_index(drop=True)

    def by_package(self) -> pd.DataFrame:
        """Own time per top-level package (``sqlalchemy``, ``sample_service``, ``sqlite3`` …)."""
        frame = self._self_times().groupby("package", as_index=False)["self_s"].sum()
        frame["share"] = frame["self_s"] / max(frame["self_s"].sum(), 1e-12)
        return frame.sort_values("self_s", ascending=False).reset_index(drop=True)

    def text(self) -> str:
        """pyinstrument's call tree as text."""
        from pyinstrument.renderers import ConsoleRenderer

        renderer = ConsoleRenderer(unicode=True, color=False, show_all=False, short_mode=True)
        return str(renderer.render(self.session))

    def _self_times(self) -> pd.DataFrame:
        root = self.session.root_frame()
        rows = [
            {
                "function": frame.function,
                "where": frame.code_position_short(),
                "package": _package(frame.file_path or ""),
                "self_s": frame.total_self_time,
            }
            for frame in _walk(root)
            if frame.total_self_time > 0 and not frame.is_synthetic
        ]
        return pd.DataFrame(rows, columns=["function", "where", "package", "self_s"])

    def _repr_html_(self) -> str:
        return f"<pre style='font-size:11px'>{html.escape(self.text())}</pre>"

    def __repr__(self) -> str:
        return f"<Profile {self.seconds * 1000:.0f} ms, {self.session.sample_count} samples>"


def profile(call: Callable[[], Any], *, repeat: int = 1, interval: float = 0.001) -> Profile:
    """Run `call` `repeat` times under a sampling profiler; the last result is kept.

    Profiles the calling thread: call the service's functions (or an in-process app through
    a client that runs it in this thread), not a service in another process.

    Taught in 10_observability.
    """
    profiler = Profiler(interval=interval, async_mode="disabled")
    result = None
    profiler.start()
    try:
        for _ in range(repeat):
            result = call()
    finally:
        session = profiler.stop()
    return Profile(session, result)


def profile_request(
    service: LiveService,
    path: str,
    *,
    method: str = "GET",
    params: dict[str, Any] | None = None,
    who: str | None = None,
    repeat: int = 10,
    interval: float = 0.001,
) -> Profile:
    """Profile the service's own handling of one request, from middleware to serialisation.

    A sampling profiler sees only the threads of its own process, and uvicorn runs the shop
    elsewhere. So the shop's app is built here, on the service's database with its settings
    and signing key, and driven through an in-process transport on one thread, where the
    profiler samples. Sync handlers normally hop to a worker thread; for that thread only the
    hop runs inline, so the handler is on the sampled stack. One warm-up request first, so
    caches and compiled statements are as in the running service. `who` signs in as a
    seeded account (a role or an e-mail). Taught in 10_observability.
    """
    if not service.running or service.db is None:
        raise LabkitError("profile_request needs a running sample service; start it first.")
    headers = {}
    if who is not None:
        with service.login(who) as signed_in:
            headers["Authorization"] = signed_in.headers["Authorization"]
    app = _in_process_app(service)

    async def drive(profiler: Profiler) -> Any:
        import httpx

        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://in-process") as client,
        ):
            request = client.build_request(method, path, params=params, headers=headers)
            (await client.send(request)).raise_for_status()
            profiler.start()
            try:
                for _ in range(repeat):
                    response = await client.send(request)
            finally:
                profiler.stop()
            return response

    def on_one_thread() -> Profile:
        profiler = Profiler(interval=interval, async_mode="disabled")
        with _inline_thread_hops():
            response = asyncio.run(drive(profiler))
        assert profiler.last_session is not None
        return Profile(profiler.last_session, response)

    # Its own thread (and event loop), so it runs the same from a notebook's running loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(on_one_thread).result()


def _in_process_app(service: LiveService) -> Any:
    """The service's app, built in this process from the environment its child was given."""
    from sample_service.config import Settings
    from sample_service.main import create_app

    environment = {
        **service.child_environment(),
        "SHOP_ACCESS_LOG": "false",  # the running service logs; this copy stays quiet
    }
    environment.pop("SHOP_GRPC_PORT", None)  # the running service holds that port
    service_log = logging.getLogger("sample_service")
    if not service_log.handlers:  # its records are the child's business, not this kernel's
        service_log.addHandler(logging.NullHandler())
        service_log.propagate = False
    with mock.patch.dict(os.environ, environment):
        return create_app(Settings())


@contextmanager
def _inline_thread_hops() -> Iterator[None]:
    """While active, `anyio.to_thread.run_sync` runs the function inline on this thread only.

    Starlette's `run_in_threadpool` (sync endpoints and dependencies) goes through it; other
    threads keep the real thread pool.
    """
    import anyio.to_thread

    real = anyio.to_thread.run_sync
    here = threading.get_ident()

    async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == here:
            return func(*args)
        return await real(func, *args, **kwargs)

    with mock.patch.object(anyio.to_thread, "run_sync", run_sync):
        yield


def _walk(frame: Frame | None) -> Iterator[Frame]:
    if frame is None:
        return
    yield frame
    for child in frame.children:
        yield from _walk(child)


def _package(path: str) -> str:
    if "sample_service" in path:
        return "sample_service"
    for pattern in _PACKAGES:
        found = pattern.search(path)
        if found:
            return found.group(1)
    return "other"
