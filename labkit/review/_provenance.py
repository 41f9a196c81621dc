"""Where a review's numbers come from: which engine, at what scale, on which machine, when.

A speedup or a rows-per-second figure means little without these four; the report prints
one line of them per area it measured, so a reader can tell a laptop's figure from CI's.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass

__all__ = ["Provenance", "machine"]


def machine() -> str:
    """This machine in one line: OS, architecture, cores, Python."""
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


@dataclass(frozen=True)
class Provenance:
    """The conditions one area of the review was measured under."""

    area: str
    engine: str
    scale: str
    machine: str
    started_at: dt.datetime
    seconds: float

    def row(self) -> dict[str, str]:
        """This provenance as one labelled row of the report's table."""
        return {
            "area": self.area,
            "engine": self.engine,
            "scale": self.scale,
            "machine": self.machine,
            "measured at (UTC)": self.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            "took": f"{self.seconds:.1f} s",
        }
