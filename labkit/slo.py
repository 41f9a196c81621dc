"""SLOs and multi-window, multi-burn-rate alerts, as in Google's SRE workbook (chapter 5).

An alert fires when the error budget burns fast over a long window *and* is still burning
over a short one (the short window resets the alert soon after the problem ends). The
workbook's four rules page at 2 % of a 30-day budget spent in an hour or 5 % in six
hours, and open a ticket at 10 % in a day or three. A lab run lasts seconds, not days, so
`evaluate` compresses time by `time_scale`; `prometheus_rules` writes the real windows.
Taught in 10_observability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import yaml

from labkit.errors import LabkitError

__all__ = ["SLO", "WORKBOOK_RULES", "AlertEvaluation", "BurnRateRule", "prometheus_rules"]


@dataclass(frozen=True)
class BurnRateRule:
    """Alert when the burn rate exceeds `burn_rate` over both windows (seconds).

    Taught in 10_observability.
    """

    long_window: float
    short_window: float
    burn_rate: float
    severity: Literal["page", "ticket"]

    @property
    def name(self) -> str:
        return f"{_duration(self.long_window)}/{_duration(self.short_window)}"


WORKBOOK_RULES = (
    BurnRateRule(3600, 300, 14.4, "page"),
    BurnRateRule(6 * 3600, 1800, 6.0, "page"),
    BurnRateRule(24 * 3600, 7200, 3.0, "ticket"),
    BurnRateRule(3 * 24 * 3600, 6 * 3600, 1.0, "ticket"),
)


@dataclass(frozen=True)
class SLO:
    """A service-level objective over requests: availability, or latency under a threshold.

    `objective` is the good fraction (0.999); a request is bad when its status is 5xx, or,
    for a latency SLO, when it took longer than `threshold_s`.

    Taught in 10_observability.
    """

    name: str
    objective: float
    kind: Literal["availability", "latency"] = "availability"
    threshold_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.objective < 1:
            raise LabkitError(f"objective {self.objective} must lie between 0 and 1, e.g. 0.999")
        if self.kind == "latency" and self.threshold_s is None:
            raise LabkitError("a latency SLO needs threshold_s (seconds), e.g. threshold_s=0.25")

    @property
    def error_budget(self) -> float:
        """The fraction of requests allowed to be bad."""
        return 1 - self.objective

    def bad(self, requests: pd.DataFrame) -> pd.Series:
        """Which requests (access-log rows: status, duration_ms) spend the budget."""
        if self.kind == "availability":
            return requests["status"] >= 500
        return requests["duration_ms"] > 1000 * float(self.threshold_s or 0)

    def evaluate(
        self,
        requests: pd.DataFrame,
        *,
        rules: tuple[BurnRateRule, ...] = WORKBOOK_RULES[:2],
        time_scale: float = 1.0,
        step: float | None = None,
    ) -> AlertEvaluation:
        """Evaluate burn-rate rules over an access log (columns ts, status, duration_ms).

        Windows are divided by `time_scale` (720 turns an hour into 5 s); the rules are
        evaluated every `step` seconds (by default a tenth of the shortest scaled window).
        """
        if requests.empty:
            raise LabkitError("no requests to evaluate; run some load first")
        ts = requests["ts"].to_numpy(dtype=float)
        order = np.argsort(ts)
        ts, bad = ts[order], self.bad(requests).to_numpy(dtype=bool)[order]
        bad_before = np.concatenate([[0], np.cumsum(bad)])
        start = ts[0]
        step = step or min(rule.short_window for rule in rules) / time_scale / 10
        rows = []
        for now in np.arange(start + step, ts[-1] + step, step):
            row: dict[str, float | bool] = {"t": now - start}
            for rule in rules:
                burn_long = self._burn(ts, bad_before, now, rule.long_window / time_scale)
                burn_short = self._burn(ts, bad_before, now, rule.short_window / time_scale)
                row[f"burn {rule.name}"] = burn_long
                row[f"fires {rule.name}"] = bool(
                    burn_long > rule.burn_rate and burn_short > rule.burn_rate
                )
            rows.append(row)
        return AlertEvaluation(self, rules, pd.DataFrame(rows))

    def _burn(self, ts: np.ndarray, bad_before: np.ndarray, now: float, window: float) -> float:
        """Error ratio in (now - window, now] over the budget: 1.0 spends it exactly in time."""
        lo, hi = np.searchsorted(ts, now - window, "right"), np.searchsorted(ts, now, "right")
        total = hi - lo
        return (
            0.0
            if total == 0
            else float(bad_before[hi] - bad_before[lo]) / total / self.error_budget
        )


class AlertEvaluation:
    """Burn rates and alert states over time; `fired` and `first_fired_at` answer the lesson."""

    def __init__(self, slo: SLO, rules: tuple[BurnRateRule, ...], frame: pd.DataFrame) -> None:
        self.slo, self.rules, self.frame = slo, rules, frame

    @property
    def fired(self) -> bool:
        """Did any rule fire during the run."""
        return bool(self.frame.filter(like="fires").any().any())

    @property
    def first_fired_at(self) -> float | None:
        """Seconds from the first request to the first firing evaluation, or None."""
        firing = self.frame.filter(like="fires").any(axis=1)
        return float(self.frame.loc[firing, "t"].iloc[0]) if firing.any() else None

    def summary(self) -> pd.DataFrame:
        """One row per rule: its threshold, the peak burn rate seen, whether and when it fired."""
        rows = []
        for rule in self.rules:
            fires = self.frame[f"fires {rule.name}"]
            rows.append(
                {
                    "rule": rule.name,
                    "severity": rule.severity,
                    "burn_rate_threshold": rule.burn_rate,
                    "peak_burn_rate": float(self.frame[f"burn {rule.name}"].max()),
                    "fired": bool(fires.any()),
                    "first_fired_s": float(self.frame.loc[fires, "t"].iloc[0])
                    if fires.any()
                    else None,
                }
            )
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        return f"<p>SLO <b>{self.slo.name}</b> ({self.slo.objective:.3%})</p>" + str(
            self.summary().to_html(index=False)
        )

    def __repr__(self) -> str:
        return f"<AlertEvaluation {self.slo.name} fired={self.fired} at={self.first_fired_at}>"


def prometheus_rules(
    slo: SLO,
    *,
    rules: tuple[BurnRateRule, ...] = WORKBOOK_RULES,
    metric: str = "shop_http",
    selector: str = "",
) -> str:
    """The SLO's recording and alerting rules as a Prometheus rule file (YAML text).

    One recording rule per window (the error ratio), one alert per burn-rate rule, as the
    SRE workbook writes them; `selector` narrows the series (``route="/v1/orders"``).

    Taught in 10_observability.
    """
    windows = sorted({w for rule in rules for w in (rule.long_window, rule.short_window)})
    record = f"slo:{slo.name}:error_ratio"
    recording = [
        {"record": f"{record}:rate{_duration(w)}", "expr": _error_ratio(slo, metric, selector, w)}
        for w in windows
    ]
    alerts = [
        {
            "alert": f"{slo.name}_burn_rate_{_duration(rule.long_window)}",
            "expr": (
                f"{record}:rate{_duration(rule.long_window)} > ({rule.burn_rate} * {slo.error_budget:.6g})\n"
                f"and\n{record}:rate{_duration(rule.short_window)} > ({rule.burn_rate} * {slo.error_budget:.6g})"
            ),
            "labels": {"severity": rule.severity, "slo": slo.name},
            "annotations": {
                "summary": f"{slo.name}: error budget burning {rule.burn_rate}x too fast "
                f"over {_duration(rule.long_window)} and {_duration(rule.short_window)}"
            },
        }
        for rule in rules
    ]
    document = {"groups": [{"name": f"slo-{slo.name}", "rules": recording + alerts}]}
    return str(yaml.safe_dump(document, sort_keys=False, width=120))


def _error_ratio(slo: SLO, metric: str, selector: str, window: float) -> str:
    w = _duration(window)
    inner = f"{{{selector}}}" if selector else ""
    if slo.kind == "availability":
        bad_selector = ", ".join(filter(None, [selector, 'status=~"5.."']))
        return (
            f"sum(rate({metric}_requests_total{{{bad_selector}}}[{w}]))\n"
            f"/\nsum(rate({metric}_requests_total{inner}[{w}]))"
        )
    le_selector = ", ".join(filter(None, [selector, f'le="{slo.threshold_s:g}"']))
    histogram = f"{metric}_request_duration_seconds"
    return (
        f"1 - (\n  sum(rate({histogram}_bucket{{{le_selector}}}[{w}]))\n"
        f"  /\n  sum(rate({histogram}_count{inner}[{w}]))\n)"
    )


def _duration(seconds: float) -> str:
    """Prometheus duration text: 3600 → 1h, 300 → 5m, 259200 → 3d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
