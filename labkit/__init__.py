"""labkit: the helper library every notebook imports as `lk`.

Only the names notebooks type live here; each comes from a module with one job
(tests/test_public_api.py pins this list). Each is imported on first use (PEP 562), so
`import labkit` stays quick and pandas, DuckDB or SQLAlchemy load only when a lesson needs them.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labkit import (
        caching,
        concurrency,
        contract,
        etl,
        events,
        journal,
        load,
        resilience,
        rest,
        review,
        security,
        slo,
        streams,
        styles,
        transactions,
        webhooks,
    )
    from labkit.backup import backup, checksums, restore
    from labkit.check import check
    from labkit.course import course
    from labkit.databases import Database, database, replica, seed
    from labkit.diagrams import Diagram, er_diagram, sequence_diagram
    from labkit.doctor import doctor
    from labkit.errors import LabkitError
    from labkit.faults import FaultProxy
    from labkit.metrics import bucket_bias, histogram_quantile, scrape
    from labkit.mock import mock
    from labkit.outage import database_outage
    from labkit.overload import measure_overload
    from labkit.plans import Plan, compare, explain, suggest_indexes, try_index
    from labkit.profiling import profile, profile_request
    from labkit.querylog import count_queries, request_queries
    from labkit.resilience import PaymentsProvider
    from labkit.review import lint_schema, synthesize
    from labkit.service import LiveService
    from labkit.timing import expect_faster
    from labkit.worker import LiveWorker

__all__ = [
    "Database",
    "Diagram",
    "FaultProxy",
    "LabkitError",
    "LiveService",
    "LiveWorker",
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
    "etl",
    "events",
    "expect_faster",
    "explain",
    "histogram_quantile",
    "journal",
    "lint_schema",
    "load",
    "measure_overload",
    "mock",
    "profile",
    "profile_request",
    "replica",
    "request_queries",
    "resilience",
    "rest",
    "restore",
    "review",
    "scrape",
    "security",
    "seed",
    "sequence_diagram",
    "slo",
    "streams",
    "styles",
    "suggest_indexes",
    "synthesize",
    "transactions",
    "try_index",
    "webhooks",
]

# Where each public name lives: a submodule of labkit, or (module, attribute).
_SUBMODULES = {
    "caching",
    "concurrency",
    "contract",
    "etl",
    "events",
    "journal",
    "load",
    "resilience",
    "review",
    "rest",
    "security",
    "slo",
    "streams",
    "styles",
    "transactions",
    "webhooks",
}
_HOMES = {
    "Database": "labkit.databases",
    "Diagram": "labkit.diagrams",
    "FaultProxy": "labkit.faults",
    "LabkitError": "labkit.errors",
    "LiveService": "labkit.service",
    "LiveWorker": "labkit.worker",
    "PaymentsProvider": "labkit.resilience",
    "Plan": "labkit.plans",
    "backup": "labkit.backup",
    "bucket_bias": "labkit.metrics",
    "check": "labkit.check",
    "checksums": "labkit.backup",
    "compare": "labkit.plans",
    "count_queries": "labkit.querylog",
    "course": "labkit.course",
    "database": "labkit.databases",
    "database_outage": "labkit.outage",
    "doctor": "labkit.doctor",
    "er_diagram": "labkit.diagrams",
    "expect_faster": "labkit.timing",
    "explain": "labkit.plans",
    "histogram_quantile": "labkit.metrics",
    "lint_schema": "labkit.review",
    "measure_overload": "labkit.overload",
    "mock": "labkit.mock",
    "profile": "labkit.profiling",
    "profile_request": "labkit.profiling",
    "replica": "labkit.databases",
    "request_queries": "labkit.querylog",
    "restore": "labkit.backup",
    "scrape": "labkit.metrics",
    "seed": "labkit.databases",
    "sequence_diagram": "labkit.diagrams",
    "suggest_indexes": "labkit.plans",
    "synthesize": "labkit.review",
    "try_index": "labkit.plans",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and keep the name here (PEP 562)."""
    if name in _SUBMODULES:
        value: Any = importlib.import_module(f"labkit.{name}")
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'labkit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, loaded or not, for tab completion."""
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


class _Labkit(types.ModuleType):
    """labkit's module type: a public function keeps its name when its namesake module loads.

    The import system binds every loaded submodule on its package, so without this guard
    importing `labkit.course` anywhere would turn `lk.course` (the function) into the module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Labkit
