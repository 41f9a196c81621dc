"""What a check returns: pass or fail, the reason in one line, and the hints earned so far."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class CheckResult:
    """One check of one exercise task; truthy when it passed."""

    task: str
    title: str
    passed: bool
    reason: str
    hints: tuple[str, ...] = ()
    attempt: int = 1

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        lines = [f"{mark} {self.task} {self.title}: {self.reason}"]
        lines += [f"  hint {i}: {hint}" for i, hint in enumerate(self.hints, start=1)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour, mark = ("#1a7f37", "✅ passed") if self.passed else ("#cf222e", "❌ not yet")
        hints = "".join(f"<li>{escape(hint)}</li>" for hint in self.hints)
        more = f"<ol style='margin:0.3em 0'>{hints}</ol>" if hints else ""
        return (
            f"<div style='border-left:4px solid {colour};padding:0.2em 0.8em'>"
            f"<b>{escape(self.task)} {escape(self.title)}</b>: "
            f"<span style='color:{colour}'>{mark}</span> (attempt {self.attempt})<br>"
            f"{escape(self.reason)}{more}</div>"
        )
