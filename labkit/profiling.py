"""Where the time goes: a statistical profile (pyinstrument) as tables and a call tree.

A sampling profiler looks at the stack every millisecond, so it costs little and shows
what a request really spends its time on: SQL, the ORM building objects, validation,
serialisation. Taught in 10_observability.

>>> prof = lk.profile(lambda: client.get("/v1/orders"))
>>> prof.by_package()          # seconds per library
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
from pyinstrument import Profiler
from pyinstrument.frame import Frame
from pyinstrument.session import Session

__all__ = ["Profile", "profile"]

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
