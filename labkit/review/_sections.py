"""The schema and workload parts of a review as report `Section`s, and an area not reviewed.

The lint report and the workload review stay what they are (notebook 14 shows them on their
own); these adapters only say what each means as ranked risks, and draw its diagrams: the ER
diagram beside the lint, one plan diagram per query beside the workload's timings.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from labkit.diagrams import Diagram
from labkit.plans import Plan
from labkit.review._lint import SchemaLintReport
from labkit.review._load import LoadReport
from labkit.review._section import Risk
from labkit.review._workload import MIN_SPEEDUP, WorkloadReview

__all__ = ["NotReviewed", "SchemaSection", "WorkloadSection", "mermaid_html", "mermaid_markdown"]

#: A recommended index set that makes the weighted workload this much faster is an error:
#: the workload as designed is an order of magnitude slower than it needs to be.
ERROR_SPEEDUP = 10.0


def mermaid_html(title: str, diagram: Diagram) -> str:
    """A diagram for the HTML report: Mermaid source that the embedded Mermaid script draws."""
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f"<pre class='mermaid'>{html.escape(diagram.text)}</pre></figure>"
    )


def mermaid_markdown(title: str, diagram: Diagram) -> str:
    """A diagram for Markdown: a fenced mermaid block (JupyterLab and most forges draw it)."""
    return f"**{title}**\n\n```mermaid\n{diagram.text.strip()}\n```\n"


def _frame_markdown(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table, without the optional `tabulate` dependency."""
    cells = [[str(c) for c in frame.columns]]
    cells += [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "---|" * len(frame.columns))
    return "\n".join(lines) + "\n"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _cell(value: object) -> str:
    text = f"{value:,.3f}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


@dataclass
class NotReviewed:
    """An area the review did not cover, and why (no input given, or its part not installed)."""

    area: str
    reason: str
    title: str = field(init=False)

    def __post_init__(self) -> None:
        self.title = self.area.capitalize()

    def risks(self) -> list[Risk]:
        return []

    def to_markdown(self) -> str:
        return f"*not reviewed: {self.reason}*\n"

    def _repr_html_(self) -> str:
        return f"<p><i>not reviewed: {html.escape(self.reason)}</i></p>"


@dataclass
class SchemaSection:
    """The schema lint as risks (one per rule, its places listed), the ER diagram, the data."""

    lint: SchemaLintReport
    er: Diagram
    loads: Sequence[LoadReport] = ()
    title: str = "Schema"

    def risks(self) -> list[Risk]:
        by_rule: dict[str, list[str]] = {}
        for finding in self.lint.findings:
            by_rule.setdefault(finding.rule, []).append(finding.location)
        risks = []
        for rule, places in by_rule.items():
            first = self.lint.of(rule)[0]
            shown = ", ".join(places[:5]) + (f" and {len(places) - 5} more" if places[5:] else "")
            risks.append(
                Risk(
                    first.severity,
                    "schema",
                    f"{rule} ({_count(len(places), 'place', 'places')}): {first.message}",
                    f"schema lint of {self.lint.tables} tables found it at {shown}. {first.why}",
                    first.fix,
                )
            )
        risks += [
            Risk(
                "info",
                "schema",
                f"synthetic data could not honour a constraint on {load.engine}",
                item,
                "check that the constraint says what you mean; the loaded rows skipped it",
            )
            for load in self.loads
            for item in load.not_honoured
        ]
        return risks

    def _loads_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "engine": [r.engine for r in self.loads],
                "rows": [r.total_rows for r in self.loads],
                "load_s": [r.seconds for r in self.loads],
                "rows_per_s": [round(r.rows_per_second) for r in self.loads],
            }
        )

    def to_markdown(self) -> str:
        c = self.lint.counts
        parts = [
            f"Schema lint of {self.lint.tables} tables: {c['error']} errors, "
            f"{c['warning']} warnings, {c['info']} info.\n"
        ]
        if self.lint.findings:
            frame = self.lint.to_frame()[["severity", "rule", "location", "message", "fix"]]
            parts.append(_frame_markdown(frame))
        if self.loads:
            parts.append("Synthetic data loaded:\n\n" + _frame_markdown(self._loads_frame()))
        parts.append(mermaid_markdown("ER diagram", self.er))
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        loads = (
            "<p>Synthetic data loaded:</p>" + str(self._loads_frame().to_html(index=False))
            if self.loads
            else ""
        )
        return self.lint._repr_html_() + loads + mermaid_html("ER diagram", self.er)


@dataclass
class WorkloadSection:
    """Each engine's index-set recommendation as risks, with its timings and each query's plan
    as the schema stands (without the recommended set)."""

    reviews: Sequence[WorkloadReview]
    plans: dict[str, dict[str, Plan]] = field(default_factory=dict)  # engine → query → plan
    scales: dict[str, str] = field(default_factory=dict)  # engine → rows it was measured at
    title: str = "Workload"

    def risks(self) -> list[Risk]:
        risks = []
        for review in self.reviews:
            if not review.recommended:
                continue
            frame = review.per_query
            gained = frame[frame["speedup"] >= MIN_SPEEDUP].sort_values("speedup", ascending=False)
            queries = ", ".join(
                f"{row.query} {row.before_ms:.2f} → {row.after_ms:.2f} ms"
                for row in gained.head(3).itertuples()
            )
            risks.append(
                Risk(
                    "error" if review.speedup >= ERROR_SPEEDUP else "warning",
                    "workload",
                    f"the workload lacks {_count(len(review.recommended), 'index', 'indexes')} "
                    f"on {review.engine}",
                    f"measured on {review.engine} at {self.scales.get(review.engine, '?')}: "
                    "the weighted workload runs "
                    f"{review.speedup:.1f}x faster with them ({review.before_ms:.2f} → "
                    f"{review.after_ms:.2f} ms; {queries}), for "
                    f"{review.size_bytes / 1024:,.0f} KiB and +{review.insert_ms_per_1k:.2f} ms "
                    "per 1,000 inserts",
                    ";\n".join(review.recommended),
                )
            )
        return risks

    def to_markdown(self) -> str:
        parts = []
        for review in self.reviews:
            parts.append(f"### {review.engine}\n\n{review!r}\n")
            parts.extend(f"- recommended: `{ddl}`" for ddl in review.recommended)
            parts.extend(
                f"- not recommended: `{ddl}` ({why})" for ddl, why in review.rejected.items()
            )
            parts.append("\n" + _frame_markdown(review.per_query))
            for query, plan in self.plans.get(review.engine, {}).items():
                parts.append(
                    mermaid_markdown(f"Plan of {query} on {review.engine}", plan.mermaid())
                )
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        parts = []
        for review in self.reviews:
            parts.append(review._repr_html_())
            parts.extend(
                mermaid_html(f"Plan of {query} on {review.engine}", plan.mermaid())
                for query, plan in self.plans.get(review.engine, {}).items()
            )
        return "".join(parts)
