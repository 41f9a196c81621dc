"""The load part of a design review: a short Locust run judged against an SLO, the knee if asked.

The SLO is one line of text, so it can sit in a review's config:

    p95 < 200ms at 50 rps
    p50 < 20ms and p99 < 1s and errors < 0.1% at 100 rps

Clauses are joined by `and` (or commas): `p50`, `p95` or `p99` below a time in `ms` or `s`;
`errors` below a percentage (1 % when not given). `at N rps` says the latency must hold while
the run serves at least N requests per second; a run that does not reach it misses the SLO.
The run itself is `lk.load.run` (Locust in a child process), the knee `lk.load.find_knee`.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field

import pandas as pd

from labkit import load as lkload
from labkit.errors import ReviewError
from labkit.review._contract import markdown_table
from labkit.review._section import SEVERITIES, Risk

__all__ = ["LoadReview", "SloTarget", "parse_slo", "review_load"]

_CLAUSE = re.compile(
    r"^(?:(?P<pct>p50|p95|p99)\s*<=?\s*(?P<time>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)"
    r"|errors\s*<=?\s*(?P<errors>\d+(?:\.\d+)?)\s*%)$",
    re.I,
)
_RATE = re.compile(r"\s+at\s+(?P<rps>\d+(?:\.\d+)?)\s*rps\s*$", re.I)


@dataclass(frozen=True)
class SloTarget:
    """An SLO read from text: latency bounds per percentile, an error budget, a throughput."""

    text: str
    latency_ms: dict[str, float]
    error_rate: float = 0.01
    rps: float | None = None


def parse_slo(text: str) -> SloTarget:
    """Read an SLO such as "p95 < 200ms at 50 rps" (the module docstring has the grammar)."""
    rest, rps = text.strip(), None
    rate = _RATE.search(rest)
    if rate:
        rps, rest = float(rate["rps"]), rest[: rate.start()]
    latency: dict[str, float] = {}
    errors = 0.01
    for clause in filter(None, (c.strip() for c in re.split(r",|\band\b", rest))):
        found = _CLAUSE.match(clause)
        if found is None:
            raise ReviewError(
                f"SLO {text!r}: cannot read {clause!r}; write clauses like 'p95 < 200ms', "
                "'p99 < 1s' or 'errors < 1%', joined by 'and', optionally ending 'at 50 rps'."
            )
        if found["errors"] is not None:
            errors = float(found["errors"]) / 100
        else:
            scale = 1000.0 if found["unit"].lower() == "s" else 1.0
            latency[found["pct"].lower()] = float(found["time"]) * scale
    if not latency:
        raise ReviewError(f"SLO {text!r} names no latency; add a clause such as 'p95 < 200ms'.")
    return SloTarget(text.strip(), latency, errors, rps)


@dataclass(frozen=True)
class LoadReview:
    """A load run against an SLO, objective by objective; a `Section` of the review report."""

    slo: SloTarget
    run: lkload.LoadRun = field(repr=False)
    checks: pd.DataFrame = field(repr=False)
    knee: lkload.Knee | None = None
    title: str = "Load and SLO"

    @property
    def passed(self) -> bool:
        """Every objective of the SLO held in the run."""
        return bool(self.checks["met"].all())

    def risks(self) -> list[Risk]:
        """The SLO verdict, a generator-bound caveat, and the knee when it was looked for."""
        found = []
        missed = self.checks[~self.checks["met"]]
        if len(missed):
            found.append(
                Risk(
                    "error",
                    "load",
                    f"SLO missed: {self.slo.text}",
                    "; ".join(
                        f"{r.objective} measured {r.measured} (target {r.target})"
                        for r in missed.itertuples()
                    )
                    + f"; {self.run.users} users for {self.run.duration_s:.0f} s",
                    "profile the slowest endpoint (lk.profile), look for N+1 queries and missing "
                    "indexes (lk.explain), or lower the load the design must carry",
                )
            )
        if self.run.generator_bound:
            found.append(
                Risk(
                    "warning",
                    "load",
                    "the load generator limited the measurement",
                    self.run.limits,
                    "run Locust with more processes or on another machine before trusting it",
                )
            )
        if self.knee is not None and self.knee.found:
            at = self.knee.at
            short = self.slo.rps is not None and float(at["rps"]) < self.slo.rps
            found.append(
                Risk(
                    "warning" if short else "info",
                    "load",
                    f"throughput stops scaling at {self.knee.users} users",
                    f"{float(at['rps']):.0f} rps with P95 {float(at['p95_ms']):.0f} ms at the knee"
                    + (f", below the {self.slo.rps:g} rps the SLO asks for" if short else ""),
                    "keep the load below the knee, or remove the bottleneck that sets it",
                )
            )
        return sorted(found, key=lambda r: SEVERITIES.index(r.severity))

    def _summary(self) -> str:
        verdict = "met" if self.passed else "MISSED"
        return (
            f"SLO {self.slo.text!r} {verdict}: {self.run.scenario} with {self.run.users} users for "
            f"{self.run.duration_s:.0f} s against {self.run.target}: {self.run.rps:.0f} rps, "
            f"P50 {self.run.p50_ms:.0f} ms, P95 {self.run.p95_ms:.0f} ms, P99 "
            f"{self.run.p99_ms:.0f} ms, {self.run.error_rate:.2%} errors"
        )

    def _tables(self) -> list[tuple[str, pd.DataFrame]]:
        stats = self.run.stats[["requests", "rps", "p50_ms", "p95_ms", "p99_ms", "error_rate"]]
        tables = [
            ("SLO objectives", self.checks),
            ("Per endpoint", stats.round(1).reset_index(names="endpoint")),
        ]
        if self.knee is not None:
            tables.append(("Step load (knee)", self.knee.steps.round(1)))
        return tables

    def to_markdown(self) -> str:
        parts = [f"## {self.title}", "", self._summary(), ""]
        for caption, frame in self._tables():
            parts += [f"### {caption}", "", markdown_table(frame), ""]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        tables = "".join(
            f"<h4>{html.escape(caption)}</h4>{frame.to_html(index=False)}"
            for caption, frame in self._tables()
        )
        return (
            f"<h3>{html.escape(self.title)}</h3>"
            f"<p style='color:{colour}'>{html.escape(self._summary())}</p>{tables}"
        )

    def __repr__(self) -> str:
        return f"LoadReview({self._summary()})"


def _checks(slo: SloTarget, run: lkload.LoadRun) -> pd.DataFrame:
    """One row per objective: its target, what the run measured, and whether it held."""
    rows = [
        {
            "objective": pct,
            "target": f"< {bound:g} ms",
            "measured": f"{float(run.total[f'{pct}_ms']):.1f} ms",
            "met": float(run.total[f"{pct}_ms"]) < bound,
        }
        for pct, bound in slo.latency_ms.items()
    ]
    rows.append(
        {
            "objective": "errors",
            "target": f"< {slo.error_rate:.2%}",
            "measured": f"{run.error_rate:.2%}",
            "met": run.error_rate < slo.error_rate or run.error_rate == 0,
        }
    )
    if slo.rps is not None:
        rows.append(
            {
                "objective": "throughput",
                "target": f"≥ {slo.rps:g} rps",
                "measured": f"{run.rps:.1f} rps",
                "met": run.rps >= slo.rps,
            }
        )
    return pd.DataFrame(rows, columns=["objective", "target", "measured", "met"])


def review_load(
    locustfile: str | os.PathLike[str],
    url: str,
    *,
    slo: str | SloTarget = "p95 < 200ms at 50 rps",
    users: int = 10,
    duration: float = 10.0,
    knee: bool = False,
    knee_users: tuple[int, ...] = (1, 2, 4, 8, 16),
    step_duration: float = 5.0,
    record: bool = True,
) -> LoadReview:
    """Load `url` with `locustfile` for `duration` seconds and judge the run against `slo`.

    Args:
        locustfile: your Locust file (or a shipped scenario name such as "catalog").
        url: the service (or `lk.mock(contract).url`, to try a design before it exists).
        slo: text such as "p95 < 200ms and errors < 1% at 50 rps", or a parsed `SloTarget`.
        users: concurrent Locust users for the run.
        knee: also step the load through `knee_users`, `step_duration` seconds each, to
            find where throughput stops growing.
        record: keep the run in the journal.

    Taught in notebooks/14_design_review.ipynb.
    """
    target = slo if isinstance(slo, SloTarget) else parse_slo(slo)
    run = lkload.run(url, locustfile, users=users, duration=duration, progress=False, record=record)
    found = (
        lkload.find_knee(
            url,
            locustfile,
            users=knee_users,
            step_duration=step_duration,
            progress=False,
            record=record,
        )
        if knee
        else None
    )
    return LoadReview(target, run, _checks(target, run), found)
