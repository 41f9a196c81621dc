"""The memory item: the shop's resident memory after a large seed and a stretch of mixed load.

Read from the kernel (/proc/<pid>/status: VmRSS now, VmHWM the peak), so it is the process's
real footprint, Python heap, SQLite page cache and native libraries together.
"""

from __future__ import annotations

from pathlib import Path

from labkit.bench._report import BenchItem
from labkit.errors import BenchError

__all__ = ["MEMORY_TARGET_MB", "memory_item"]

MEMORY_TARGET_MB = 300
_USERS = 16  # clients of the shop_day mix (reads, pages, orders) kept busy


def memory_item(orders: int, seconds: float) -> BenchItem:
    """Seed `orders` into the shop (SQLite), load it for `seconds`, and read its memory."""
    from labkit import load
    from labkit.service import LiveService

    settings = {"rate_limit_enabled": False}
    with LiveService(db="sqlite", scale=orders, settings=settings) as svc:
        pid = svc.pid
        if pid is None:
            raise BenchError("the service for the memory item did not start")
        before = _kib(pid, "VmRSS") / 1024
        run = load.run(
            svc, "shop_day", users=_USERS, duration=seconds, progress=False, record=False
        )
        after, peak = _kib(pid, "VmRSS") / 1024, _kib(pid, "VmHWM") / 1024
    return BenchItem(
        name="memory",
        what=f"service resident memory after the seed and {seconds:g} s of shop_day load",
        seconds=seconds,
        rate=after,
        unit="MB resident",
        errors=int(run.total["failures"]),
        note=(
            f"{orders:,} orders seeded; {before:.0f} MB before the load, {after:.0f} MB after, "
            f"peak {peak:.0f} MB; {_USERS} users, {run.rps:.0f} requests/s; "
            f"target < {MEMORY_TARGET_MB} MB"
        ),
    )


def _kib(pid: int, field: str) -> float:
    """One kB figure of /proc/<pid>/status (Linux)."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        raise BenchError(f"no {status}: the memory item reads Linux's /proc")
    for line in status.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return float(line.split()[1])
    raise BenchError(f"{status} has no {field} line")
