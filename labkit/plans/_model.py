"""The engine-neutral plan tree that SQLite, PostgreSQL and DuckDB plans are parsed into,
and the comparison of two such plans."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from labkit.diagrams import Diagram

Access = Literal["full scan", "index scan", "index search", "temp index"]

# One line per operator family, shown next to the plan so a first reading makes sense.
OPERATOR_NOTES: dict[str, str] = {
    "full scan": "reads every row of the table, then filters",
    "index search": "jumps through a B-tree to the matching rows only",
    "index scan": "walks a whole index in key order (no seek)",
    "temp index": "builds a throw-away index for this query only",
    "covering": "answers from the index alone, never touching the table",
    "sort": "sorts rows in memory or on disk before returning them",
    "join": "matches rows of two inputs",
    "aggregate": "groups rows and computes counts, sums, ...",
    "limit": "stops after the first rows",
    "heap": "fetches table rows that an index pointed at",
}


@dataclass
class PlanNode:
    """One operator of a plan: what it does, on what, and how many rows and ms it took.

    Times are in milliseconds and rows per loop, as the engines report them;
    `time_ms` includes the children, `self_ms` does not. `reads_all` marks a walk
    of a whole index (SQLite's `SCAN t USING INDEX`, MySQL's `index` access):
    every row is read, though in index order.
    """

    operator: str
    detail: str = ""
    relation: str | None = None
    index: str | None = None
    access: Access | None = None
    covering: bool = False
    is_sort: bool = False
    reads_all: bool = False
    condition: str = ""
    est_rows: float | None = None
    actual_rows: float | None = None
    loops: int | None = None
    rows_read: float | None = None
    time_ms: float | None = None
    self_ms: float | None = None
    buffers: dict[str, int] | None = None
    children: list[PlanNode] = field(default_factory=list)

    @property
    def is_full_scan(self) -> bool:
        """True when the operator reads the whole table, or walks a whole index of it."""
        return self.access == "full scan" or self.reads_all

    @property
    def family(self) -> str:
        """The OPERATOR_NOTES key describing this operator."""
        if self.covering and self.access in ("index search", "index scan"):
            return "covering"
        if self.access is not None:
            return self.access
        if self.is_sort:
            return "sort"
        name = self.operator.lower()
        for key, words in _FAMILY_WORDS.items():
            if any(word in name for word in words):
                return key
        return ""

    @property
    def note(self) -> str:
        """A one-line explanation of the operator for a first-time reader."""
        return OPERATOR_NOTES.get(self.family, "")

    def label(self, *, flags: bool = True) -> str:
        """Operator, relation and index on one timing-free line; `flags` adds `[full scan, ...]`."""
        text = self.operator
        if self.relation:
            text += f" on {self.relation}"
        if self.index:
            text += f" using {self.index}"
        if not flags:
            return text
        shown = [
            flag
            for flag, on in (
                ("full scan", self.is_full_scan),
                ("covering", self.covering),
                ("sort", self.is_sort),
            )
            if on
        ]
        if shown:
            text += f"  [{', '.join(shown)}]"
        return text

    def __repr__(self) -> str:
        rows = f" rows={self.actual_rows:g}" if self.actual_rows is not None else ""
        return f"<PlanNode {self.label()}{rows}>"


_FAMILY_WORDS: dict[str, tuple[str, ...]] = {
    "join": ("join", "nested loop"),
    "aggregate": ("aggregate", "group", "temp b-tree for distinct"),
    "limit": ("limit", "streaming_limit"),
    "heap": ("bitmap heap",),
}


def ratio_words(speedup: float | None) -> str:
    """`3.2x faster` or `2.0x slower` from a before/after time ratio."""
    if speedup is None:
        return "no timings"
    if speedup >= 1:
        return f"{speedup:.1f}x faster"
    return f"{1 / speedup:.1f}x slower"


def time_ratio(before: Plan, after: Plan) -> float | None:
    """before / after total time: 10.0 means ten times faster; None unless both were timed."""
    if not before.total_ms or not after.total_ms:
        return None
    return before.total_ms / after.total_ms


@dataclass(frozen=True)
class Misestimate:
    """A node whose actual rows differ from the planner's estimate by `factor` or more."""

    node: PlanNode
    estimated: float
    actual: float

    @property
    def factor(self) -> float:
        """How many times off the estimate was, always >= 1."""
        low, high = sorted((max(self.estimated, 1.0), max(self.actual, 1.0)))
        return high / low

    @property
    def direction(self) -> Literal["under", "over"]:
        """`under` when the planner expected fewer rows than came."""
        return "under" if self.actual > self.estimated else "over"

    def __repr__(self) -> str:
        return (
            f"<Misestimate {self.node.label()}: estimated {self.estimated:,.0f}, "
            f"got {self.actual:,.0f} ({self.direction}estimated x{self.factor:.1f})>"
        )


@dataclass
class Plan:
    """A parsed query plan with the questions a reader asks of it.

    >>> plan = lk.explain(db, "SELECT * FROM products WHERE sku = :sku", {"sku": "SKU-1"})
    >>> plan.uses_index(), plan.full_scans(), plan.total_ms
    """

    engine: str
    sql: str
    root: PlanNode
    total_ms: float | None = None
    analyzed: bool = True
    rows: int | None = None
    raw: Any = None

    def walk(self) -> Iterator[tuple[int, PlanNode]]:
        """Every node with its depth, parents before children."""
        for depth, node, _parent in self.walk_with_parents():
            yield depth, node

    def walk_with_parents(self) -> Iterator[tuple[int, PlanNode, int | None]]:
        """Every node with its depth and the walk position of its parent."""
        stack: list[tuple[int, PlanNode, int | None]] = [(0, self.root, None)]
        position = 0
        while stack:
            depth, node, parent = stack.pop()
            yield depth, node, parent
            stack.extend((depth + 1, child, position) for child in reversed(node.children))
            position += 1

    def nodes(self) -> list[PlanNode]:
        """All nodes, parents before children."""
        return [node for _depth, node in self.walk()]

    def uses_index(self, name: str | None = None) -> bool:
        """True if some node reads through a real index (`name` given: that one).

        Indexes the engine builds for one query (SQLite's automatic indexes) do not count.
        """
        return any(
            node.index is not None
            and node.access != "temp index"
            and (name is None or node.index.lower() == name.lower())
            for node in self.nodes()
        )

    def full_scans(self) -> list[PlanNode]:
        """Nodes that read a whole table."""
        return [node for node in self.nodes() if node.is_full_scan]

    def sorts(self) -> list[PlanNode]:
        """Nodes that sort (an index in the right order removes them)."""
        return [node for node in self.nodes() if node.is_sort]

    @property
    def rows_read(self) -> float | None:
        """Rows the scans touched, where the engine reports it (PostgreSQL, DuckDB)."""
        counts = [node.rows_read for node in self.nodes() if node.rows_read is not None]
        return sum(counts) if counts else None

    def hotspot(self) -> PlanNode:
        """The node with the most exclusive time; without timings, the biggest full scan."""
        timed = [node for node in self.nodes() if node.self_ms is not None]
        if timed:
            return max(timed, key=lambda node: node.self_ms or 0.0)
        scans = self.full_scans()
        if scans:
            return max(scans, key=lambda node: node.est_rows or 0.0)
        return self.root

    def misestimates(self, factor: float = 10.0) -> list[Misestimate]:
        """Nodes whose row estimate was off by `factor` or more, up or down.

        Below a LIMIT, fewer rows than estimated is the limit stopping early, not a
        misestimate, so those are left out.
        """
        walked = list(self.walk_with_parents())
        limited: list[bool] = []
        for _depth, _node, parent in walked:
            above = parent is not None and (limited[parent] or walked[parent][1].family == "limit")
            limited.append(above)
        found = []
        for (_depth, node, _parent), below_limit in zip(walked, limited, strict=True):
            if node.est_rows is None or node.actual_rows is None:
                continue
            miss = Misestimate(node, node.est_rows, node.actual_rows)
            if miss.factor >= factor and not (below_limit and miss.direction == "over"):
                found.append(miss)
        return found

    def text(self) -> str:
        """The plan as an indented tree without timings or counts, stable across runs."""
        lines = []
        for depth, node in self.walk():
            line = "  " * depth + node.label()
            if node.condition:
                line += f"  ({node.condition})"
            lines.append(line)
        return "\n".join(lines)

    def mermaid(self) -> Diagram:
        """The plan as a Mermaid flowchart, data flowing up from the scans."""
        return _drawn(RENDERERS.diagram)(self)

    def _repr_html_(self) -> str:
        return _drawn(RENDERERS.html)(self)

    def __repr__(self) -> str:
        time = f"{self.total_ms:.2f} ms" if self.total_ms is not None else "not run"
        scans = ", ".join(n.relation or "?" for n in self.full_scans()) or "none"
        return f"<Plan {self.engine} {time}; full scans: {scans}>\n{self.text()}"


def _access_by_relation(plan: Plan) -> dict[str, list[str]]:
    """Every read of each table, in plan order, e.g. `index search using ix_orders_status`.

    A table read twice (the query and a subquery) keeps both, so a change in either shows.
    """
    found: dict[str, list[str]] = {}
    for node in plan.nodes():
        if node.relation and node.access:
            how = node.access + (" (covering)" if node.covering else "")
            if node.index and node.access != "full scan":
                how += f" using {node.index}"
            found.setdefault(node.relation, []).append(how)
    return found


@dataclass(frozen=True)
class PlanComparison:
    """Two plans of the same query, and what changed between them."""

    before: Plan
    after: Plan

    @property
    def speedup(self) -> float | None:
        """before / after total time: 10.0 means ten times faster."""
        return time_ratio(self.before, self.after)

    def changes(self) -> list[str]:
        """What changed, in words: access paths, sorts, rows read."""
        found = []
        old, new = _access_by_relation(self.before), _access_by_relation(self.after)
        for relation in dict.fromkeys([*old, *new]):
            was, now = old.get(relation, ["not read"]), new.get(relation, ["not read"])
            if sorted(was) != sorted(now):
                found.append(f"{relation}: {', '.join(was)} -> {', '.join(now)}")
        sorts_before, sorts_after = len(self.before.sorts()), len(self.after.sorts())
        if sorts_before > sorts_after:
            found.append(f"sort removed ({sorts_before} -> {sorts_after})")
        elif sorts_after > sorts_before:
            found.append(f"sort added ({sorts_before} -> {sorts_after})")
        read_before, read_after = self.before.rows_read, self.after.rows_read
        if read_before is not None and read_after is not None and read_before != read_after:
            found.append(f"rows read {read_before:,.0f} -> {read_after:,.0f}")
        return found or ["same plan shape"]

    def __repr__(self) -> str:
        lines = "\n".join(f"  - {change}" for change in self.changes())
        return f"<PlanComparison {self.before.engine}: {ratio_words(self.speedup)}>\n{lines}"

    def _repr_html_(self) -> str:
        return _drawn(RENDERERS.comparison_html)(self)


@dataclass
class Renderers:
    """How plans are drawn. The renderer modules import the model and fill these in when
    `labkit.plans` loads them, so the model never imports its renderers."""

    html: Callable[[Plan], str] | None = None
    comparison_html: Callable[[PlanComparison], str] | None = None
    diagram: Callable[[Plan], Diagram] | None = None


RENDERERS = Renderers()


_R = TypeVar("_R")


def _drawn(renderer: _R | None) -> _R:
    """The registered renderer."""
    if renderer is None:  # only if a renderer module was never imported
        raise RuntimeError("plan renderers are not loaded; import labkit.plans")
    return renderer
