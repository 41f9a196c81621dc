"""What a bench run returns: one `BenchItem` per measurement and the `BenchReport` of a run."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["BenchItem", "BenchReport"]


@dataclass(frozen=True)
class BenchItem:
    """One measured item: throughput and latency for HTTP, seconds (and a rate) for the rest."""

    name: str
    what: str
    generator: str | None = None
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    seconds: float | None = None
    rate: float | None = None
    unit: str = ""
    generator_cpu_pct: float | None = None
    note: str = ""

    def metrics(self) -> dict[str, Any]:
        """The numbers, as the journal keeps them."""
        keep = {"rps", "p50_ms", "p99_ms", "errors", "seconds", "rate", "generator_cpu_pct"}
        values = {k: v for k, v in self.__dict__.items() if k in keep and v is not None}
        return {**values, "unit": self.unit, "generator": self.generator, "note": self.note}


@dataclass(frozen=True)
class BenchReport:
    """All items of one bench run, with HTTP items as ratios to the ceiling."""

    items: list[BenchItem]
    journal_ids: list[int] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        """One row per item; `x_rps`, `x_p50`, `x_p99` are ratios to the ceiling.

        `fastapi_x_rps` and `fastapi_x_p99` are ratios to the FastAPI hello-world, the
        framework's own ceiling, which the shop's targets are written against.
        """
        frame = pd.DataFrame([item.__dict__ for item in self.items]).set_index("name")
        if "ceiling" in frame.index:
            ceiling = frame.loc["ceiling"]
            frame["x_rps"] = frame["rps"] / ceiling["rps"]
            frame["x_p50"] = frame["p50_ms"] / ceiling["p50_ms"]
            frame["x_p99"] = frame["p99_ms"] / ceiling["p99_ms"]
        if "fastapi_hello" in frame.index:
            hello = frame.loc["fastapi_hello"]
            frame["fastapi_x_rps"] = frame["rps"] / hello["rps"]
            frame["fastapi_x_p99"] = frame["p99_ms"] / hello["p99_ms"]
        return frame

    def text(self) -> str:
        """A plain-text table for the terminal."""
        table = self.table
        columns = [c for c in ("what", "generator", "generator_cpu_pct", "rps", "p50_ms", "p99_ms",
                               "x_rps", "x_p50", "x_p99", "fastapi_x_rps", "fastapi_x_p99", "errors",
                               "seconds", "rate", "unit", "note")
                   if c in table]  # fmt: skip
        shown = table[columns].astype(object).where(table[columns].notna(), "")
        return str(shown.to_string(float_format=_number))

    def __repr__(self) -> str:
        return f"BenchReport({len(self.items)} items)\n{self.text()}"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(f'{len(self.items)} items')}</p>{self.table.round(2).to_html()}"


def _number(value: float) -> str:
    """Three significant digits, without exponents: 0.000512, 3.94, 8,577."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
