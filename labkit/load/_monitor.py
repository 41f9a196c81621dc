"""Watching a run: CPU of the generator, the service and the machine, and a progress bar.

Two cores are shared by Locust and the service, so a number means little without knowing who
ran out of CPU. Sampling starts when Locust's first stats line appears, so its own start-up
(imports) does not count as load.
"""

from __future__ import annotations

import html
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import psutil

from labkit.load._result import CpuUsage


@dataclass(frozen=True)
class Tick:
    """Where a running load test is: seconds elapsed of its duration, users, throughput, P95."""

    elapsed: float
    duration: float
    users: float
    rps: float
    p95_ms: float

    @property
    def summary(self) -> str:
        """Users, throughput and P95 in one line, as the progress displays show them."""
        p95 = "n/a" if math.isnan(self.p95_ms) else f"{self.p95_ms:.0f} ms"
        return f"{self.users:.0f} users · {self.rps:.0f} rps · P95 {p95}"


Progress = Callable[[Tick | None], None]


@dataclass
class _Snapshot:
    """CPU seconds per process of each side, and the machine's busy/total seconds, at one moment."""

    at: float
    generator: dict[int, float]
    service: dict[int, float]
    busy: float
    total: float


class CpuMonitor:
    """Samples CPU seconds of the Locust process tree and of the service's process tree."""

    def __init__(self, service_pid: int | None) -> None:
        self._service = _process(service_pid)
        self._generator: psutil.Process | None = None
        self._snapshots: list[_Snapshot] = []

    def attach(self, generator_pid: int) -> None:
        """Start following the Locust master (and whatever it forks)."""
        self._generator = _process(generator_pid)

    def sample(self, *, load_started: bool) -> None:
        """Take one snapshot, once load has begun."""
        if load_started and self._generator is not None:
            times = psutil.cpu_times()
            self._snapshots.append(
                _Snapshot(
                    at=time.monotonic(),
                    generator=_tree_seconds(self._generator),
                    service=_tree_seconds(self._service),
                    busy=times.user + times.system + getattr(times, "nice", 0.0),
                    total=sum(times),
                )
            )

    def usage(self) -> CpuUsage:
        """Summarise the snapshots: mean use over the loaded period, and per-second samples."""
        cores = psutil.cpu_count() or 1
        shots = self._snapshots
        if len(shots) < 2:
            return CpuUsage(math.nan, math.nan, None, math.nan, cores, pd.DataFrame())
        first, last = shots[0], shots[-1]
        overall = _between(first, last)
        busiest = max(_deltas(first.generator, last.generator).values(), default=0.0)
        return CpuUsage(
            generator_pct=overall["generator_pct"],
            generator_peak_process_pct=100 * busiest / (last.at - first.at),
            service_pct=overall["service_pct"] if self._service else None,
            system_pct=overall["system_pct"],
            cores=cores,
            samples=pd.DataFrame(
                {"t_s": cur.at - first.at, **_between(prev, cur)}
                for prev, cur in itertools.pairwise(shots)
            ),
        )


def _process(pid: int | None) -> psutil.Process | None:
    """The process with `pid`, or None when there is none to follow."""
    if pid is None:
        return None
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def _tree_seconds(root: psutil.Process | None) -> dict[int, float]:
    """CPU seconds (user + system) of `root` and its descendants that are alive now."""
    if root is None:
        return {}
    seconds: dict[int, float] = {}
    try:
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return seconds
    for proc in family:
        try:
            cpu = proc.cpu_times()
        except psutil.Error:
            continue
        seconds[proc.pid] = cpu.user + cpu.system
    return seconds


def _deltas(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    """CPU seconds each process used between two snapshots (new processes count from zero)."""
    return {pid: used - before.get(pid, 0.0) for pid, used in after.items()}


def _between(before: _Snapshot, after: _Snapshot) -> dict[str, float]:
    """CPU use between two snapshots: each side in % of one core, the machine in % of all cores."""
    wall = after.at - before.at
    return {
        "generator_pct": 100 * sum(_deltas(before.generator, after.generator).values()) / wall,
        "service_pct": 100 * sum(_deltas(before.service, after.service).values()) / wall,
        "system_pct": 100 * (after.busy - before.busy) / max(after.total - before.total, 1e-9),
    }


def pick_progress(progress: bool | Progress, duration: float) -> Progress | None:
    """Pick the progress display: a notebook bar, the caller's callable, or none."""
    if callable(progress):
        return progress
    return notebook_progress(duration) if progress else None


def notebook_progress(duration: float) -> Progress | None:
    """A progress bar that redraws in place in a Jupyter notebook; None outside one."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    handle = display(HTML(_bar(0.0, duration, "starting Locust…")), display_id=True)  # type: ignore[no-untyped-call]

    def show(tick: Tick | None) -> None:
        if tick is None:
            handle.update(HTML(_bar(duration, duration, "done")))  # type: ignore[no-untyped-call]
            return
        handle.update(HTML(_bar(min(tick.elapsed, duration), duration, tick.summary)))  # type: ignore[no-untyped-call]

    return show


def _bar(done: float, total: float, text: str) -> str:
    """HTML for one progress bar with a caption."""
    return (
        f'<progress value="{done:.1f}" max="{total:.1f}" style="width:40%"></progress> '
        f"<code>{done:.0f}/{total:.0f} s · {html.escape(text)}</code>"
    )
