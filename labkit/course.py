"""`lk.course()`: the map of the course, with which notebooks are present in this checkout."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Course", "Module", "course"]

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"

_MODULES = (
    ("00", "welcome", "Welcome", "the lab, the service and a database; `labkit doctor`; this map"),
    ("01", "api_contract", "API contract", "contract-first YAML, lint findings, v1→v2 breaking changes, contract tests"),
    ("02", "schema_design", "Schema design", "normalized tables, constraints that reject bad rows, an ER diagram, a migration up and down"),
    ("03", "indexes_and_explain", "Indexes and EXPLAIN", "plans on SQLite, PostgreSQL and DuckDB; index kinds; before/after timings; write cost"),
    ("04", "rest_in_practice", "REST in practice", "status codes, offset vs cursor pagination over depth, ETag/304, If-Match/412"),
    ("05", "orm_and_n_plus_one", "ORM and N+1", "queries per request, lazy vs eager loading, latency as N grows"),
    ("06", "transactions_and_idempotency", "Transactions and idempotency", "a lost update, isolation levels, an oversell race, idempotency keys"),
    ("07", "auth_and_security", "Auth and security", "hashing, JWT, refresh rotation, RBAC, a BOLA exploit and its fix, injection"),
    ("08", "caching_and_rate_limits", "Caching and rate limits", "cache-aside hit ratio and latency, token buckets, limits across workers"),
    ("09", "load_testing", "Load testing", "Locust runs, P50/P95/P99 over time, the knee, an SLO verdict, the journal"),
    ("10", "observability", "Observability", "JSON logs with request ids, metrics histograms, readiness during an outage"),
    ("11", "resilience", "Resilience", "timeouts, retries with backoff and jitter, a circuit breaker, injected faults"),
    ("12", "async_work_and_events", "Async work and events", "202 + a job resource, the outbox, signed webhooks, server-sent events"),
    ("13", "graphql", "GraphQL", "the shop as GraphQL, DataLoader vs N+1, depth limits, REST vs GraphQL measured"),
    ("14", "design_review", "Design review", "your contract, schema and workload in one design-review report"),
)  # fmt: skip


@dataclass(frozen=True)
class Module:
    """One notebook of the course."""

    number: str
    slug: str
    title: str
    measures: str

    @property
    def path(self) -> Path:
        """Where the notebook lives in this checkout."""
        return NOTEBOOKS_DIR / f"{self.number}_{self.slug}.ipynb"

    @property
    def available(self) -> bool:
        """True when the notebook is present."""
        return self.path.exists()


@dataclass(frozen=True)
class Course:
    """The course's modules in order."""

    modules: tuple[Module, ...]

    def available(self) -> list[Module]:
        """The modules whose notebook is present."""
        return [m for m in self.modules if m.available]

    def __len__(self) -> int:
        return len(self.modules)

    def __repr__(self) -> str:
        lines = [
            f"{m.number}  {m.title:<30} {'ready ' if m.available else 'coming'}  {m.measures}"
            for m in self.modules
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{m.number}</td><td>{html.escape(m.title)}</td>"
            f"<td>{'✅ ready' if m.available else '… coming'}</td><td>{html.escape(m.measures)}</td></tr>"
            for m in self.modules
        )
        return (
            f"<table><tr><th>#</th><th>module</th><th></th><th>you measure</th></tr>{rows}</table>"
        )


def course() -> Course:
    """Return the course map (00 to 14) with which notebooks this checkout has.

    Taught in 00_welcome.
    """
    return Course(tuple(Module(*row) for row in _MODULES))
