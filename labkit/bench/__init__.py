"""`labkit bench`: how fast the workbench's own hot paths are, on this machine, in one run.

HTTP items are ratios to a bare ASGI app served the same way (the ceiling), so they survive a
change of laptop. The load generator must not be the limit: wrk (C, one thread) when installed,
else Locust's FastHttpUser with its CPU recorded. Every item also goes to the journal (kind
"bench"). From a terminal: `labkit bench --quick`; from Python:

>>> from labkit import bench
>>> report = bench.run(only=["ceiling", "product"], quick=True)

Behind this door: `_report` (the result types), `_generators` (wrk, Locust), `_http` (the HTTP
items), `_data` (the data items), `_hello` and `_hello_fastapi` (the ceiling apps), `_run`.
"""

from labkit.bench._generators import parse_wrk
from labkit.bench._report import BenchItem, BenchReport
from labkit.bench._run import ITEMS, run
from labkit.errors import BenchError

__all__ = ["ITEMS", "BenchError", "BenchItem", "BenchReport", "parse_wrk", "run"]
