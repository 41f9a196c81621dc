"""CHECK constraints read into rules a generator can honour (sqlglot parses, we interpret).

Understood: comparisons of a column (or its length) with a literal, BETWEEN, IN lists
(also PostgreSQL's `= ANY (ARRAY[...])`), comparisons of two columns, joined by AND.
Anything else is returned as not understood, so the caller can say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
import sqlglot.errors
from sqlglot import exp

__all__ = ["ColumnRule", "TableRules", "parse_checks"]

Literal = int | float | str


@dataclass
class ColumnRule:
    """What the CHECKs allow for one column: bounds, a list of values, a length range."""

    low: float | None = None
    high: float | None = None
    low_strict: bool = False
    high_strict: bool = False
    choices: list[Literal] | None = None
    min_length: int | None = None
    max_length: int | None = None

    def bound(self, low: float | None = None, high: float | None = None) -> None:
        """Narrow the bounds (inclusive) to also satisfy `low`..`high`."""
        if low is not None and (self.low is None or low > self.low):
            self.low, self.low_strict = low, False
        if high is not None and (self.high is None or high < self.high):
            self.high, self.high_strict = high, False


@dataclass
class TableRules:
    """The rules per column, column orderings (`a > b`) and the CHECKs not understood."""

    columns: dict[str, ColumnRule] = field(default_factory=dict)
    orderings: list[tuple[str, str, bool]] = field(
        default_factory=list
    )  # (greater, lesser, strict)
    not_understood: list[str] = field(default_factory=list)

    def rule(self, column: str) -> ColumnRule:
        return self.columns.setdefault(column, ColumnRule())


_FLIP: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
    exp.EQ: exp.EQ,
}


def parse_checks(checks: list[str]) -> TableRules:
    """Read each CHECK's SQL text (as the database reports it) into `TableRules`.

    PostgreSQL's grammar reads what SQLite and DuckDB report too (and its `::` casts).
    """
    rules = TableRules()
    for text in checks:
        try:
            tree = sqlglot.parse_one(text, read="postgres")
        except sqlglot.errors.SqlglotError:
            rules.not_understood.append(text)
            continue
        if not all(_apply(part, rules) for part in _conjuncts(tree)):
            rules.not_understood.append(text)
    return rules


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    node = _unwrap(node)
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _unwrap(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren | exp.Cast):
        node = node.this
    return node


def _apply(node: exp.Expr, rules: TableRules) -> bool:
    """Record what `node` says in `rules`; False when it is not a form we understand."""
    if isinstance(node, exp.Between):
        column, low, high = (
            _column(node.this),
            _literal(node.args["low"]),
            _literal(node.args["high"]),
        )
        if column and isinstance(low, int | float) and isinstance(high, int | float):
            rules.rule(column).bound(low, high)
            return True
        return False
    if isinstance(node, exp.In):
        column, values = _column(node.this), [_literal(v) for v in node.expressions]
        if column and values and all(v is not None for v in values):
            rules.rule(column).choices = [v for v in values if v is not None]
            return True
        return False
    if type(node) in _FLIP:
        return _comparison(node, rules)
    return False


def _comparison(node: exp.Expr, rules: TableRules) -> bool:
    left, right = _unwrap(node.args["this"]), _unwrap(node.args["expression"])
    kind = type(node)
    if _column(left) is None and _length_of(left) is None:
        left, right, kind = right, left, _FLIP[kind]
    if isinstance(right, exp.Any):
        values = [_literal(v) for v in _unwrap(right.this).expressions]
        column = _column(left)
        if kind is exp.EQ and column and values and all(v is not None for v in values):
            rules.rule(column).choices = [v for v in values if v is not None]
            return True
        return False
    other = _column(right)
    column = _column(left)
    if column and other and kind is not exp.EQ:
        greater, lesser = (column, other) if kind in (exp.GT, exp.GTE) else (other, column)
        rules.orderings.append((greater, lesser, kind in (exp.GT, exp.LT)))
        return True
    value = _literal(right)
    if not isinstance(value, int | float):
        return False
    if column:
        _bound(rules.rule(column), kind, value)
        return True
    measured = _length_of(left)
    if measured:
        rule = rules.rule(measured)
        low, high = _integer_bounds(kind, int(value))
        if low is not None:
            rule.min_length = max(rule.min_length or 0, low)
        if high is not None:
            rule.max_length = min(rule.max_length or high, high)
        return True
    return False


def _bound(rule: ColumnRule, kind: type[exp.Expr], value: float) -> None:
    if kind is exp.EQ:
        rule.choices = [value]
    elif kind in (exp.GT, exp.GTE):
        rule.bound(low=value)
        if rule.low == value:
            rule.low_strict = rule.low_strict or kind is exp.GT
    else:
        rule.bound(high=value)
        if rule.high == value:
            rule.high_strict = rule.high_strict or kind is exp.LT


def _integer_bounds(kind: type[exp.Expr], value: int) -> tuple[int | None, int | None]:
    if kind is exp.EQ:
        return value, value
    if kind is exp.GT:
        return value + 1, None
    if kind is exp.GTE:
        return value, None
    if kind is exp.LT:
        return None, value - 1
    return None, value


def _column(node: exp.Expr) -> str | None:
    node = _unwrap(node)
    return node.name if isinstance(node, exp.Column) else None


def _length_of(node: exp.Expr) -> str | None:
    node = _unwrap(node)
    if isinstance(node, exp.Length):
        return _column(node.this)
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("char_length", "len"):
        return _column(node.expressions[0]) if node.expressions else None
    return None


def _literal(node: exp.Expr) -> Literal | None:
    node = _unwrap(node)
    if isinstance(node, exp.Neg):
        inner = _literal(node.this)
        return -inner if isinstance(inner, int | float) else None
    if not isinstance(node, exp.Literal):
        return None
    if node.is_string:
        return str(node.this)
    text = str(node.this)
    return int(text) if text.lstrip("-").isdigit() else float(text)
