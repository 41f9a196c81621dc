"""labkit: the helper library every notebook imports as `lk`.

Only the names notebooks type live here; each comes from a module with one job
(tests/test_public_api.py pins this list).
"""

from labkit import concurrency, contract, journal, load, rest, security, transactions
from labkit.check import check
from labkit.course import course
from labkit.databases import Database, database, seed
from labkit.diagrams import Diagram, er_diagram, sequence_diagram
from labkit.doctor import doctor
from labkit.errors import LabkitError
from labkit.explain import Plan, compare, explain, suggest_indexes, try_index
from labkit.querylog import count_queries, request_queries
from labkit.service import LiveService
from labkit.timing import expect_faster
from labkit.worker import LiveWorker

__all__ = [
    "Database",
    "Diagram",
    "LabkitError",
    "LiveService",
    "LiveWorker",
    "Plan",
    "check",
    "compare",
    "concurrency",
    "contract",
    "count_queries",
    "course",
    "database",
    "doctor",
    "er_diagram",
    "expect_faster",
    "explain",
    "journal",
    "load",
    "request_queries",
    "rest",
    "security",
    "seed",
    "sequence_diagram",
    "suggest_indexes",
    "transactions",
    "try_index",
]
