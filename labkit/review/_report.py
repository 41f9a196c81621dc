"""One design-review report: risks ranked by severity, a section per area, every number's origin.

The same report renders three ways: as Markdown in the notebook (JupyterLab draws its Mermaid
blocks itself), as a Markdown file, and as one HTML file that works offline. That file embeds
the Mermaid bundle the `mermaidx` wheel ships, so its diagrams draw without a network; without
that bundle the diagrams stay readable as their Mermaid source.
"""

from __future__ import annotations

import html
import importlib.util
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

from labkit.errors import ReviewError
from labkit.review._provenance import Provenance
from labkit.review._section import SEVERITIES, Risk, Section, Severity
from labkit.review._sections import NotReviewed, _frame_markdown

__all__ = ["Report", "mermaid_bundle"]

_COLORS = {"error": "#b00020", "warning": "#b26a00", "info": "#555"}
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
pre.mermaid { background: #fafafa; } figure { margin: 1rem 0; } figcaption { font-weight: bold; }
td.error { color: #b00020; } td.warning { color: #b26a00; } td.info { color: #555; }
"""


@cache
def mermaid_bundle() -> str | None:
    """Mermaid's browser bundle as shipped in the `mermaidx` wheel (found, not imported)."""
    spec = importlib.util.find_spec("mermaidx")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        bundle = Path(folder) / "assets" / "mermaid.js"
        if bundle.is_file():
            return bundle.read_text(encoding="utf-8")
    return None


@dataclass(frozen=True)
class Report:
    """A finished review: its sections by area, their ranked risks, and where each was measured.

    Taught in notebooks/14_design_review.ipynb; `labkit review` writes the same from a config.
    """

    sections: Mapping[str, Section]
    provenance: Sequence[Provenance]

    def risks(self) -> list[Risk]:
        """Every section's risks, errors first, then warnings, then info; areas in report order."""
        order = {area: n for n, area in enumerate(self.sections)}
        found = [risk for section in self.sections.values() for risk in section.risks()]
        return sorted(
            found, key=lambda r: (SEVERITIES.index(r.severity), order.get(r.area, len(order)))
        )

    def at_or_above(self, severity: Severity) -> list[Risk]:
        """The risks as severe as `severity` or more (what `labkit review --fail-on` counts)."""
        if severity not in SEVERITIES:
            raise ReviewError(f"unknown severity {severity!r}; use one of {list(SEVERITIES)}.")
        return [
            r for r in self.risks() if SEVERITIES.index(r.severity) <= SEVERITIES.index(severity)
        ]

    @property
    def not_reviewed(self) -> dict[str, str]:
        """Areas left out, with the reason (no input, or their part of labkit missing)."""
        return {a: s.reason for a, s in self.sections.items() if isinstance(s, NotReviewed)}

    def summary(self) -> pd.DataFrame:
        """The executive summary: one labelled row per risk, most severe first."""
        columns = ["severity", "area", "title", "evidence", "fix"]
        return pd.DataFrame([r.__dict__ for r in self.risks()], columns=columns)

    def provenance_table(self) -> pd.DataFrame:
        """Engine, scale, machine and time of every measured area."""
        return pd.DataFrame([p.row() for p in self.provenance])

    def __repr__(self) -> str:
        counts = {s: 0 for s in SEVERITIES}
        for risk in self.risks():
            counts[risk.severity] += 1
        reviewed = [a for a in self.sections if a not in self.not_reviewed]
        return (
            f"Report({', '.join(reviewed) or 'nothing'} reviewed: {counts['error']} errors, "
            f"{counts['warning']} warnings, {counts['info']} info"
            + (f"; not reviewed: {', '.join(self.not_reviewed)})" if self.not_reviewed else ")")
        )

    def to_markdown(self) -> str:
        """The whole report as Markdown: summary, one section per area, provenance."""
        parts = ["# Design review\n", "## Executive summary\n", repr(self) + "\n"]
        if self.risks():
            parts.append(_frame_markdown(self.summary()))
        for section in self.sections.values():
            parts.append(f"## {section.title}\n")
            parts.append(section.to_markdown())
        parts.append("## Provenance\n")
        parts.append(_frame_markdown(self.provenance_table()) if self.provenance else "none\n")
        return "\n".join(parts)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def to_html(self) -> str:
        """The report as one self-contained HTML page: no link or script leaves the file."""
        rows = "".join(
            f"<tr><td class='{r.severity}'>{r.severity}</td><td>{html.escape(r.area)}</td>"
            f"<td>{html.escape(r.title)}</td><td>{html.escape(r.evidence)}</td>"
            f"<td><code>{html.escape(r.fix)}</code></td></tr>"
            for r in self.risks()
        )
        summary = (
            "<table><thead><tr><th>severity</th><th>area</th><th>risk</th><th>evidence</th>"
            f"<th>fix</th></tr></thead><tbody>{rows}</tbody></table>"
            if rows
            else "<p>No risks found.</p>"
        )
        sections = "".join(
            f"<section><h2>{html.escape(s.title)}</h2>{_offline(s._repr_html_())}</section>"
            for s in self.sections.values()
        )
        provenance = str(self.provenance_table().to_html(index=False)) if self.provenance else ""
        bundle = mermaid_bundle()
        script = (
            f"<script>{_inline_script(bundle)}</script><script>mermaid.initialize("
            "{startOnLoad: true, securityLevel: 'strict'});</script>"
            if bundle
            else "<p><i>Diagrams are shown as Mermaid source: install mermaidx to draw them.</i></p>"
        )
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Design review</title><style>{_STYLE}</style></head><body>"
            f"<h1>Design review</h1><h2>Executive summary</h2><p>{html.escape(repr(self))}</p>"
            f"{summary}{sections}<h2>Provenance</h2>{provenance}{script}</body></html>"
        )

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write `path` as .html and .md beside each other; return both paths."""
        base = Path(path)
        base = base.with_suffix("") if base.suffix in (".html", ".md") else base
        base.parent.mkdir(parents=True, exist_ok=True)
        page, text = base.with_name(base.name + ".html"), base.with_name(base.name + ".md")
        page.write_text(self.to_html(), encoding="utf-8")
        text.write_text(self.to_markdown(), encoding="utf-8")
        return page, text


_EXTERNAL = re.compile(r"""\s(href|src|action)\s*=\s*(["'])((?:https?:)?//[^"']*)\2""", re.I)


def _offline(fragment: str) -> str:
    """A section's HTML with nothing that loads or links off the page: such an attribute becomes
    a `data-url` (the address stays readable in the source, a guideline's link for instance)."""
    return _EXTERNAL.sub(r" data-url=\2\3\2", fragment)


def _inline_script(source: str) -> str:
    """A script's text safe inside <script>: no `</script` can end it early."""
    return source.replace("</script", "<\\/script")
