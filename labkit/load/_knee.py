"""Step load: raise users step by step and find the knee, where throughput stops growing and
latency turns up. Past the knee, more users only wait in queues."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit._types import ServiceTarget
from labkit.errors import LoadError
from labkit.load._monitor import Progress, Tick, pick_progress
from labkit.load._result import HEADLINE
from labkit.load._runner import journal_or_warn, run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# A step "flattens" when it gains less than half of the throughput its extra users would ideally
# add, and latency "turns up" when P95 grows by a quarter and at least a millisecond.
_MIN_SCALING = 0.5
_LATENCY_RISE = 1.25
_LATENCY_RISE_MS = 1.0


@dataclass(frozen=True, repr=False)
class Knee:
    """The steps of a step-load test and the knee among them (None when none was reached)."""

    scenario: str
    steps: pd.DataFrame
    users: int | None
    warnings: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return self.users is not None

    @property
    def at(self) -> pd.Series:
        """The step at the knee: users, throughput and latency there."""
        if self.users is None:
            raise LoadError(
                f"no knee up to {int(self.steps['users'].max())} users: throughput still grew at "
                "the last step; run find_knee with more users."
            )
        return self.steps.set_index("users").loc[self.users]

    def plot(self) -> Figure:
        """Throughput and P95 against users, the knee marked."""
        from labkit.load._plot import plot_knee

        return plot_knee(self.steps, self.users)

    def __repr__(self) -> str:
        if self.users is None:
            return f"Knee({self.scenario}: none up to {int(self.steps['users'].max())} users)"
        at = self.at
        return (
            f"Knee({self.scenario}: {self.users} users, {at['rps']:.0f} rps, "
            f"P95 {at['p95_ms']:.0f} ms)"
        )

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
        table = self.steps.round(1).to_html(index=False)
        return f"<p>{html.escape(repr(self))}</p>{table}<ul>{notes}</ul>"


def find_knee(
    target: ServiceTarget,
    scenario: str | os.PathLike[str] = "catalog",
    users: Sequence[int] = (1, 2, 4, 8, 16),
    step_duration: float = 5,
    processes: int = 1,
    *,
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    progress: bool | Progress = True,
    record: bool = True,
) -> Knee:
    """Run one load step per entry of `users` and return the `Knee` with a table of the steps.

    Taught in 09_load_testing.

    Each step is a fresh Locust run of `step_duration` seconds, so its percentiles are its own.

    Users of the shipped scenarios keep one request in flight with no pause, so a single user
    can already saturate a small machine; `env={"LABKIT_LOAD_THINK_MS": "20"}` gives them a
    think time, and throughput then grows with users before it flattens.

    Example: `knee = lk.load.find_knee(svc, users=(1, 2, 4, 8, 16)); knee.plot()`
    """
    levels = sorted(set(users))
    if len(levels) < 2:
        raise LoadError(f"users={list(users)}: a knee needs at least two different user counts.")
    total = step_duration * len(levels)
    bar = pick_progress(progress, total)
    rows = []
    for k, level in enumerate(levels):
        step = run(
            target,
            scenario,
            users=level,
            duration=step_duration,
            processes=processes,
            settings=settings,
            env=env,
            progress=_offset(bar, k * step_duration, total),
            record=False,
        )
        rows.append(
            {"users": level, **_step_numbers(step.metrics()), "bottleneck": step.cpu.bottleneck}
        )
    if bar is not None:
        bar(None)
    steps = pd.DataFrame(rows)
    knee = Knee(scenario=step.scenario, steps=steps, users=locate_knee(steps))
    if record:
        _, warning = journal_or_warn(
            "knee",
            {**knee.at.to_dict(), "users": knee.users} if knee.found else {},
            scenario=knee.scenario,
            target=step.target,
            params={"users": levels, "step_duration_s": step_duration, "processes": processes},
            settings=step.settings,
        )
        if warning is not None:
            knee = replace(knee, warnings=(warning,))
    return knee


def locate_knee(steps: pd.DataFrame) -> int | None:
    """Return the users of the last step before throughput flattens while P95 rises, or None."""
    ordered = steps.sort_values("users").reset_index(drop=True)
    for i in range(1, len(ordered)):
        prev, cur = ordered.iloc[i - 1], ordered.iloc[i]
        ideal_gain = cur["users"] / prev["users"] - 1
        scaling = (cur["rps"] / prev["rps"] - 1) / ideal_gain
        rise = cur["p95_ms"] - prev["p95_ms"]
        if (
            scaling < _MIN_SCALING
            and cur["p95_ms"] >= _LATENCY_RISE * prev["p95_ms"]
            and rise >= _LATENCY_RISE_MS
        ):
            return int(prev["users"])
    return None


def _step_numbers(metrics: Mapping[str, float]) -> dict[str, float]:
    """The columns a step contributes to the table."""
    keep = (*HEADLINE, "generator_cpu_pct", "service_cpu_pct")
    return {name: metrics[name] for name in keep}


def _offset(bar: Progress | None, offset: float, total: float) -> Progress | bool:
    """Feed one step's ticks into the knee's single bar, shifted by the steps already done."""
    if bar is None:
        return False

    def tick(t: Tick | None) -> None:
        if t is not None:
            bar(replace(t, elapsed=offset + t.elapsed, duration=total))

    return tick
