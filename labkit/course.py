"""`lk.course()`: the map of the course: which notebooks and exercises this checkout has, and
how many of each exercise's tasks this learner has passed."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Course", "Module", "course"]

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
EXERCISES_DIR = NOTEBOOKS_DIR.parent / "exercises"

_MODULES = (
    ("00", "welcome", "Welcome", "the lab, the service and a database; `labkit doctor`; this map"),
    ("01", "api_contract", "API contract", "contract-first YAML, lint findings, v1→v2 breaking changes, contract tests"),
    ("02", "schema_design", "Schema design", "normalized tables, constraints that reject bad rows, an ER diagram, a migration up and down"),
    ("03", "indexes_and_explain", "Indexes and EXPLAIN", "plans on SQLite, PostgreSQL and DuckDB; index kinds; before/after timings; write cost"),
    ("04", "rest_in_practice", "REST in practice", "status codes, offset vs cursor pagination over depth, ETag/304, If-Match/412"),
    ("05", "orm_and_n_plus_one", "ORM and N+1", "queries per request, lazy vs eager loading, latency as N grows"),
    ("06", "transactions_and_idempotency", "Transactions and idempotency", "a lost update, isolation levels, an oversell race, idempotency keys"),
    ("07", "auth_and_security", "Auth and security", "hashing cost, JWT forgeries, MFA, API keys, RBAC and ABAC, BOLA and injection exploited and fixed, sign-in timing, the OWASP API Top 10, the audit trail"),
    ("08", "caching_and_rate_limits", "Caching and rate limits", "cache-aside hit ratio and latency, token buckets, limits across workers"),
    ("09", "load_testing", "Load testing", "Locust runs, P50/P95/P99 over time, the knee, an SLO verdict, the journal"),
    ("10", "observability", "Observability", "logs in DuckDB, histogram vs exact percentiles, a trace, burn-rate alerts, an outage, a restore drill"),
    ("11", "resilience", "Resilience", "timeouts, retries with backoff and jitter, a circuit breaker, injected faults"),
    ("12", "async_work_and_events", "Async work and events", "202 + a job resource, the outbox, signed webhooks, server-sent events"),
    ("13", "api_styles", "API styles", "the shop as GraphQL and gRPC, DataLoader vs N+1, abuse limits, REST vs GraphQL vs gRPC measured"),
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

    @property
    def exercise(self) -> Path:
        """Where the module's exercise notebook lives in this checkout."""
        return EXERCISES_DIR / self.path.name

    @property
    def has_exercise(self) -> bool:
        """True when the module's exercise is present."""
        return self.exercise.exists()


@dataclass(frozen=True)
class Course:
    """The course's modules in order, and the exercise tasks passed (module → passed, total)."""

    modules: tuple[Module, ...]
    passed: dict[str, tuple[int, int]] = field(default_factory=dict)

    def exercise_status(self, module: Module) -> str:
        """ "2/3 passed", "not started" or "none yet" for the module's exercise."""
        if not module.has_exercise:
            return "none yet"
        done, total = self.passed.get(module.number, (0, 0))
        return f"{done}/{total} passed" if done else "not started"

    def available(self) -> list[Module]:
        """The modules whose notebook is present."""
        return [m for m in self.modules if m.available]

    def __len__(self) -> int:
        return len(self.modules)

    def __repr__(self) -> str:
        lines = [
            f"{m.number}  {m.title:<30} {'ready ' if m.available else 'coming'}  "
            f"{self.exercise_status(m):<12} {m.measures}"
            for m in self.modules
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{m.number}</td><td>{html.escape(m.title)}</td>"
            f"<td>{'✅ ready' if m.available else '… coming'}</td>"
            f"<td>{html.escape(self.exercise_status(m))}</td><td>{html.escape(m.measures)}</td></tr>"
            for m in self.modules
        )
        head = "<tr><th>#</th><th>module</th><th></th><th>exercise</th><th>you measure</th></tr>"
        return f"<table>{head}{rows}</table>"


def course() -> Course:
    """Return the course map (00 to 14): notebooks and exercises present, tasks passed.

    Taught in 00_welcome. Example: `lk.course().available()`
    """
    from labkit.check import check

    progress = check.progress()
    progress["module"] = progress["task"].str[:2]
    passed = {
        module: (int((rows["status"] == "passed").sum()), len(rows))
        for module, rows in progress.groupby("module")
    }
    return Course(tuple(Module(*row) for row in _MODULES), passed)
