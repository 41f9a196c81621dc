"""What every part of a design review hands the report: its risks and how it renders.

The contract, schema, workload and load parts each measure something different; the report
only needs the same three things from all of them, so they meet here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["SEVERITIES", "Risk", "Section", "Severity"]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Risk:
    """One ranked risk for the executive summary, carrying the measured fact behind it."""

    severity: Severity
    area: str  # "contract", "schema", "workload", "load", ...
    title: str
    evidence: str  # the measurement or finding that shows it, with its number
    fix: str


@runtime_checkable
class Section(Protocol):
    """One area of the review: a title, its risks, and a rendering for HTML and Markdown."""

    title: str

    def risks(self) -> list[Risk]: ...

    def to_markdown(self) -> str: ...

    def _repr_html_(self) -> str: ...
