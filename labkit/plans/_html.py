"""HTML renderings of plans: an indented tree table with time bars and highlighted scans.

Importing this module registers its renderers with the model (`RENDERERS`)."""

from __future__ import annotations

from html import escape

from labkit.plans._model import RENDERERS, Plan, PlanComparison, PlanNode, ratio_words

_STYLE = (
    "<style>.lk-plan td,.lk-plan th{padding:2px 8px;text-align:left;vertical-align:top;"
    "font-family:monospace;font-size:12px}.lk-plan .num{text-align:right}"
    ".lk-plan .scan{background:#fde2e1}.lk-plan .sort{background:#fff3cd}"
    ".lk-plan .bar{display:inline-block;height:10px;background:#e4572e}"
    ".lk-plan .note{color:#666;font-family:sans-serif}.lk-plan .bad{color:#b00020;"
    "font-weight:bold}</style>"
)


def _rows(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.3f}"


def _row(depth: int, node: PlanNode, widest: float, misses: dict[int, float]) -> str:
    css = "scan" if node.is_full_scan else "sort" if node.is_sort else ""
    name = escape(node.operator)
    on = " ".join(
        part
        for part in (
            f"<b>{escape(node.relation)}</b>" if node.relation else "",
            f"via <i>{escape(node.index)}</i>" if node.index else "",
        )
        if part
    )
    condition = (
        f"<br><span class='note'>{escape(node.condition[:120])}</span>" if node.condition else ""
    )
    actual = _rows(node.actual_rows)
    if id(node) in misses:
        actual = f"<span class='bad' title='estimate off x{misses[id(node)]:.0f}'>{actual}</span>"
    width = 0 if not widest or node.self_ms is None else int(120 * node.self_ms / widest)
    buffers = ", ".join(f"{k} {v:,}" for k, v in (node.buffers or {}).items())
    return (
        f"<tr class='{css}'><td style='padding-left:{8 + 16 * depth}px'>{'└ ' if depth else ''}"
        f"{name}{condition}</td><td>{on}</td><td class='num'>{_rows(node.est_rows)}</td>"
        f"<td class='num'>{actual}</td><td class='num'>{node.loops or ''}</td>"
        f"<td class='num'>{_ms(node.self_ms)}</td><td><span class='bar' style='width:{width}px'>"
        f"</span></td><td class='num'>{_ms(node.time_ms)}</td><td>{escape(buffers)}</td>"
        f"<td class='note'>{escape(node.note)}</td></tr>"
    )


def plan_html(plan: Plan, *, style: bool = True) -> str:
    """The plan as an HTML tree table: one row per operator, exclusive time drawn as a bar."""
    nodes = plan.nodes()
    widest = max((node.self_ms or 0.0 for node in nodes), default=0.0)
    total = f"{plan.total_ms:,.2f} ms" if plan.total_ms is not None else "not run (estimates only)"
    scans = ", ".join(escape(n.relation or "?") for n in plan.full_scans()) or "none"
    head = (
        f"<p><b>{escape(plan.engine)}</b> plan, total <b>{total}</b>; full scans: {scans}"
        f"<br><code>{escape(plan.sql[:300])}</code></p>"
    )
    header = "".join(
        f"<th>{h}</th>"
        for h in (
            "operator",
            "on",
            "est rows",
            "rows",
            "loops",
            "self ms",
            "",
            "total ms",
            "buffers",
            "what it does",
        )
    )
    misses = {id(miss.node): miss.factor for miss in plan.misestimates()}
    body = "".join(_row(depth, node, widest, misses) for depth, node in plan.walk())
    table = f"<table class='lk-plan'><tr>{header}</tr>{body}</table>"
    return (_STYLE if style else "") + f"<div class='lk-plan'>{head}{table}</div>"


def comparison_html(comparison: PlanComparison) -> str:
    """The two plans under the time ratio and the list of changes: side by side where the
    window is wide enough, one above the other where it is not (they wrap, never overflow)."""
    ratio = ratio_words(comparison.speedup)
    changes = "".join(f"<li>{escape(c)}</li>" for c in comparison.changes())
    cell = "<div style='flex:1 1 560px;min-width:0;overflow-x:auto'><h4>{}</h4>{}</div>"
    return (
        f"<div><p><b>{ratio}</b></p><ul>{changes}</ul>"
        "<div style='display:flex;flex-wrap:wrap;gap:8px 24px;align-items:flex-start'>"
        + cell.format("before", plan_html(comparison.before))
        + cell.format("after", plan_html(comparison.after, style=False))
        + "</div></div>"
    )


RENDERERS.html = plan_html
RENDERERS.comparison_html = comparison_html
