"""Plans drawn as Mermaid flowcharts: the diagram renderer of the plan model, registered
with it (`RENDERERS`) when this module is imported."""

from __future__ import annotations

from mermaid.flowchart import FlowChart, Node
from mermaid.flowchart import Link as FlowLink

from labkit.diagrams import Diagram
from labkit.plans._model import RENDERERS, Plan, PlanNode


def _label(text: str) -> str:
    """Mermaid labels break on double quotes; use the entity Mermaid understands."""
    return text.replace('"', "#quot;")


def _plan_node_text(node: PlanNode) -> str:
    """What a diagram box says: the node, its rows, and FULL SCAN where it reads a whole table."""
    parts = [node.label(flags=False)]
    rows = node.actual_rows if node.actual_rows is not None else node.est_rows
    if rows is not None:
        parts.append(f"rows {rows:,.0f}")
    if node.is_full_scan:
        parts.append("FULL SCAN")
    return _label(" | ".join(parts))


def plan_diagram(plan: Plan) -> Diagram:
    """Draw a query plan as a top-down tree; data flows up from the scans.

    Full scans are drawn as cylinders marked FULL SCAN so they stand out.
    No timings are drawn, so the same plan always gives the same text.
    """
    nodes: list[Node] = []
    links: list[FlowLink] = []
    for number, (_depth, node, parent) in enumerate(plan.walk_with_parents()):
        shape = "cylindrical" if node.is_full_scan else "normal"
        flow_node = Node(f"n{number}", _plan_node_text(node), shape=shape)
        nodes.append(flow_node)
        if parent is not None:
            links.append(FlowLink(flow_node, nodes[parent], message=""))
    chart = FlowChart(f"{plan.engine} plan", nodes, links, orientation="BT")
    return Diagram(chart.script, "plan")


RENDERERS.diagram = plan_diagram
