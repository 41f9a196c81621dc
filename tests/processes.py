"""What the no-orphan tests share: which of some processes still run."""

from __future__ import annotations

import psutil


def alive(pids: list[int]) -> list[int]:
    """The pids that still name a running process (a zombie has already exited)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running
