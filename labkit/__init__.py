"""labkit: the helper library every notebook imports as `lk`.

Only the names notebooks type live here; each comes from a module with one job
(tests/test_public_api.py pins this list).
"""

from labkit import (
    caching,
    concurrency,
    contract,
    journal,
    load,
    resilience,
    rest,
    security,
    slo,
    styles,
    transactions,
)
from labkit.backup import backup, checksums, restore
from labkit.check import check
from labkit.course import course
from labkit.databases import Database, database, seed
from labkit.diagrams import Diagram, er_diagram, sequence_diagram
from labkit.doctor import doctor
from labkit.errors import LabkitError
from labkit.faults import FaultProxy
from labkit.metrics import bucket_bias, histogram_quantile, scrape
from labkit.outage import database_outage
from labkit.plans import Plan, compare, explain, suggest_indexes, try_index
from labkit.profiling import profile
from labkit.querylog import count_queries, request_queries
from labkit.resilience import PaymentsProvider
from labkit.service import LiveService
from labkit.timing import expect_faster

__all__ = [
    "Database",
    "Diagram",
    "FaultProxy",
    "LabkitError",
    "LiveService",
    "PaymentsProvider",
    "Plan",
    "backup",
    "bucket_bias",
    "caching",
    "check",
    "checksums",
    "compare",
    "concurrency",
    "contract",
    "count_queries",
    "course",
    "database",
    "database_outage",
    "doctor",
    "er_diagram",
    "expect_faster",
    "explain",
    "histogram_quantile",
    "journal",
    "load",
    "profile",
    "request_queries",
    "resilience",
    "rest",
    "restore",
    "scrape",
    "security",
    "seed",
    "sequence_diagram",
    "slo",
    "styles",
    "suggest_indexes",
    "transactions",
    "try_index",
]
