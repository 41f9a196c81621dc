"""Load tests with Locust, run as a child process: `lk.load.run(...)` returns a `LoadRun`.

>>> with lk.LiveService(settings={"rate_limit_enabled": False}) as svc:
...     baseline = lk.load.run(svc, "catalog", users=10, duration=10)
>>> baseline.plot(); baseline.slo(p95_ms=200)
"""

from labkit.errors import LoadError
from labkit.load._knee import Knee, find_knee
from labkit.load._result import CpuUsage, LoadRun, RunComparison, SloVerdict
from labkit.load._runner import SCENARIOS, run

__all__ = [
    "SCENARIOS",
    "CpuUsage",
    "Knee",
    "LoadError",
    "LoadRun",
    "RunComparison",
    "SloVerdict",
    "find_knee",
    "run",
]
