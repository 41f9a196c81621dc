"""What a load run returns: the numbers, their time series, a verdict and a comparison."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from labkit.errors import LoadError
from labkit.load._parse import AGGREGATED

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Bottleneck = Literal["generator", "service", "machine"]

# Locust warns above 90 % of a core; past it the generator delays its own requests and the
# latencies it reports include its own queueing.
GENERATOR_LIMIT_PCT = 90.0
SERVICE_LIMIT_PCT = 90.0
MACHINE_LIMIT_PCT = 95.0
# The numbers a run is judged and compared by: one property each, and the journal's columns.
HEADLINE = ("rps", "p50_ms", "p95_ms", "p99_ms", "error_rate")


@dataclass(frozen=True)
class CpuUsage:
    """CPU used while load ran: generator and service in % of one core, the machine in % of all cores."""

    generator_pct: float
    generator_peak_process_pct: float
    service_pct: float | None
    system_pct: float
    cores: int
    samples: pd.DataFrame = field(repr=False, compare=False)

    @property
    def bottleneck(self) -> Bottleneck | None:
        """Say which side ran out of CPU first: the load generator, the service or the whole machine."""
        if self.generator_peak_process_pct >= GENERATOR_LIMIT_PCT:
            return "generator"
        if self.service_pct is not None and self.service_pct >= SERVICE_LIMIT_PCT:
            return "service"
        if self.system_pct >= MACHINE_LIMIT_PCT:
            return "machine"
        return None

    def explain(self) -> str:
        """One sentence on what limited the measurement."""
        service = "unknown" if self.service_pct is None else f"{self.service_pct:.0f}%"
        seen = (
            f"generator {self.generator_pct:.0f}% (busiest process "
            f"{self.generator_peak_process_pct:.0f}%), service {service}, machine "
            f"{self.system_pct:.0f}% of {self.cores} cores"
        )
        match self.bottleneck:
            case "generator":
                return (
                    f"the load generator, not the service, was the bottleneck ({seen}): the "
                    "numbers understate the service; use processes=2, fewer users or wrk."
                )
            case "service":
                return f"the service was the bottleneck ({seen}), as a load test intends."
            case "machine":
                return (
                    f"the machine was saturated ({seen}): generator and service share the cores, "
                    "so the service alone would do better."
                )
        return f"nothing was CPU-bound ({seen}): latency, not CPU, set the pace."


@dataclass(frozen=True)
class SloVerdict:
    """Whether a run met its service-level objective, with the numbers that decided it."""

    passed: bool
    endpoint: str
    p95_ms: float
    p95_target_ms: float
    error_rate: float
    error_rate_target: float
    caveat: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        word = "met" if self.passed else "MISSED"
        p95_ok = "≤" if self.p95_ms <= self.p95_target_ms else ">"
        err_ok = "≤" if self.error_rate <= self.error_rate_target else ">"
        text = (
            f"SLO {word} for {self.endpoint}: P95 {self.p95_ms:.0f} ms {p95_ok} "
            f"{self.p95_target_ms:.0f} ms, errors {self.error_rate:.2%} {err_ok} "
            f"{self.error_rate_target:.2%}"
        )
        return f"{text} (but {self.caveat})" if self.caveat else text

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        return f'<div style="color:{colour};font-weight:bold">{html.escape(repr(self))}</div>'


@dataclass(frozen=True)
class RunComparison:
    """Two runs side by side: per endpoint, before and after, and the ratio after/before."""

    before: LoadRun
    after: LoadRun
    table: pd.DataFrame

    def ratio(self, metric: str, endpoint: str = AGGREGATED) -> float:
        """Return after/before for `metric` ("rps", "p95_ms", …) of `endpoint`."""
        return float(self.table.loc[endpoint, (metric, "ratio")])

    def __repr__(self) -> str:
        row = self.table.loc[AGGREGATED]
        return (
            f"RunComparison(rps {row[('rps', 'before')]:.0f} → {row[('rps', 'after')]:.0f} "
            f"(x{row[('rps', 'ratio')]:.2f}), P95 {row[('p95_ms', 'before')]:.0f} → "
            f"{row[('p95_ms', 'after')]:.0f} ms (x{row[('p95_ms', 'ratio')]:.2f}))"
        )

    def long(self) -> pd.DataFrame:
        """One row per endpoint and metric, columns before, after and ratio: narrow enough for
        any window, however many metrics there are."""
        long = self.table.stack(level=0, future_stack=True)[["before", "after", "ratio"]]
        long.index.names = ["endpoint", "metric"]
        return long.reindex(list(HEADLINE), level="metric")

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>{self.long().round(2).to_html()}"


@dataclass(frozen=True, repr=False)
class LoadRun:
    """One Locust run: per-endpoint `stats`, the per-second `history`, CPU use and the settings.

    Taught in 09_load_testing.
    """

    target: str
    scenario: str
    users: int
    spawn_rate: float
    duration_s: float
    processes: int
    started_at: datetime
    stats: pd.DataFrame
    history: pd.DataFrame
    failures: pd.DataFrame
    cpu: CpuUsage
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    journal_id: int | None = None

    @property
    def total(self) -> pd.Series:
        """The aggregated row of `stats`: all endpoints together."""
        return self.stats.loc[AGGREGATED]

    @property
    def rps(self) -> float:
        """Requests per second over the run, all endpoints."""
        return float(self.total["rps"])

    @property
    def p50_ms(self) -> float:
        """Median latency over the run, all endpoints."""
        return float(self.total["p50_ms"])

    @property
    def p95_ms(self) -> float:
        """95th-percentile latency over the run, all endpoints."""
        return float(self.total["p95_ms"])

    @property
    def p99_ms(self) -> float:
        """99th-percentile latency over the run, all endpoints."""
        return float(self.total["p99_ms"])

    @property
    def error_rate(self) -> float:
        """Failed requests as a fraction of all requests."""
        return float(self.total["error_rate"])

    @property
    def generator_bound(self) -> bool:
        """True when the load generator ran out of CPU before the service did."""
        return self.cpu.bottleneck == "generator"

    @property
    def limits(self) -> str:
        """One sentence on what limited this measurement."""
        return self.cpu.explain()

    def metrics(self) -> dict[str, float]:
        """The headline numbers, as the journal keeps them."""
        return {
            "users": self.users,
            "duration_s": self.duration_s,
            "processes": self.processes,
            "requests": int(self.total["requests"]),
            **{name: float(self.total[name]) for name in HEADLINE},
            "generator_cpu_pct": self.cpu.generator_pct,
            "service_cpu_pct": math.nan if self.cpu.service_pct is None else self.cpu.service_pct,
            "system_cpu_pct": self.cpu.system_pct,
        }

    def slo(
        self, p95_ms: float = 200.0, error_rate: float = 0.01, *, endpoint: str = AGGREGATED
    ) -> SloVerdict:
        """Judge the run against an SLO: P95 at most `p95_ms` and at most `error_rate` failures.

        Example: `run.slo(p95_ms=100, error_rate=0.001)`
        """
        if endpoint not in self.stats.index:
            raise LoadError(
                f"no endpoint {endpoint!r} in this run; it has {', '.join(self.stats.index)}."
            )
        row = self.stats.loc[endpoint]
        seen_p95, seen_errors = float(row["p95_ms"]), float(row["error_rate"])
        return SloVerdict(
            passed=seen_p95 <= p95_ms and seen_errors <= error_rate,
            endpoint=endpoint,
            p95_ms=seen_p95,
            p95_target_ms=p95_ms,
            error_rate=seen_errors,
            error_rate_target=error_rate,
            caveat=self.limits if self.generator_bound else None,
        )

    def compare(self, other: LoadRun) -> RunComparison:
        """Put this run (before) next to `other` (after), per endpoint both ran.

        Example: `baseline.compare(without_index).ratio("p95_ms")`
        """
        shared = [e for e in self.stats.index if e in other.stats.index]
        before = self.stats.loc[shared, list(HEADLINE)]
        after = other.stats.loc[shared, list(HEADLINE)]
        table = pd.concat(
            {"before": before, "after": after, "ratio": after / before}, axis=1
        ).swaplevel(axis=1)
        table = table[[(m, side) for m in HEADLINE for side in ("before", "after", "ratio")]]
        return RunComparison(before=self, after=other, table=table)

    def plot(self) -> Figure:
        """Draw throughput, P50/P95/P99 and errors per second over the run."""
        from labkit.load._plot import plot_run

        return plot_run(self.history, f"{self.scenario}: {self.users} users against {self.target}")

    def __repr__(self) -> str:
        return (
            f"LoadRun({self.scenario}, {self.users} users, {self.duration_s:.0f} s: "
            f"{self.rps:.0f} rps, P50 {self.p50_ms:.0f} ms, P95 {self.p95_ms:.0f} ms, "
            f"P99 {self.p99_ms:.0f} ms, {self.error_rate:.2%} errors; {self.limits})"
        )

    def _repr_html_(self) -> str:
        head = (
            f"<b>{html.escape(self.scenario)}</b> against {html.escape(self.target)}: "
            f"{self.users} users, {self.duration_s:.0f} s, {self.processes} process(es)"
        )
        notes = "".join(f"<li>{html.escape(w)}</li>" for w in (self.limits, *self.warnings))
        return f"<p>{head}</p>{self.stats.round(1).to_html()}<ul>{notes}</ul>"
