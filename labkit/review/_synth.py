"""Synthetic rows for any schema: every column drawn as a numpy array, constraints by design.

Tables are filled parents first. A foreign key picks parent rows with Zipf skew (a few hot
parents, a long tail), a self-reference picks an earlier row, a composite key picks one parent
row for all its columns. Uniqueness comes from drawing row indices without replacement, for
column sets from drawing distinct codes in the product of their domains. CHECKs are read by
`_checks`; those it does not understand are listed, never silently ignored.
"""

from __future__ import annotations

import html
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from labkit.errors import ReviewError
from labkit.review._checks import ColumnRule, TableRules, parse_checks

__all__ = ["Distribution", "SyntheticData", "generate"]

_EPOCH = np.datetime64("2024-01-01T00:00:00", "us")
_SPAN_SECONDS = 2 * 365 * 24 * 3600
_DEFAULT_INT = (0, 10_000)
_DEFAULT_REAL = (0.0, 1_000.0)
_INT_LIMITS = {"SMALLINT": 32_767, "INTEGER": 2_147_483_647}


@dataclass(frozen=True)
class SyntheticData:
    """Generated rows per table (DataFrames, parents first), and what could not be honoured."""

    metadata: sa.MetaData
    frames: dict[str, pd.DataFrame]
    not_honoured: list[str]
    seed: int
    seconds: float

    @property
    def rows(self) -> dict[str, int]:
        """Rows generated per table."""
        return {name: len(frame) for name, frame in self.frames.items()}

    def _repr_html_(self) -> str:
        table = pd.DataFrame({"table": list(self.rows), "rows": list(self.rows.values())})
        skipped = "".join(f"<li>{html.escape(item)}</li>" for item in self.not_honoured)
        return (
            f"<p>Synthetic data, seed {self.seed}, generated in {self.seconds:.2f} s</p>"
            + str(table.to_html(index=False))
            + (f"<p>Not honoured:</p><ul>{skipped}</ul>" if skipped else "")
        )

    def __repr__(self) -> str:
        total = sum(self.rows.values())
        return (
            f"SyntheticData({len(self.frames)} tables, {total:,} rows, seed={self.seed}, "
            f"{len(self.not_honoured)} constraints not honoured)"
        )


@dataclass
class _Unit:
    """Columns drawn together: one plain column, or all columns of one foreign key."""

    columns: list[sa.Column[object]]
    foreign_key: sa.ForeignKeyConstraint | None = None
    values: dict[str, pd.Series] = field(default_factory=dict)


#: A column's own distribution: weights per value, or a function of (rng, n) giving n values.
Distribution = Mapping[Any, float] | Callable[[np.random.Generator, int], Any]


@dataclass(frozen=True)
class _Options:
    skew: float
    null_fraction: float
    columns: Mapping[str, Distribution]


def generate(
    metadata: sa.MetaData,
    rows: int | dict[str, int],
    *,
    seed: int = 0,
    skew: float = 1.2,
    null_fraction: float = 0.05,
    columns: Mapping[str, Distribution] | None = None,
) -> SyntheticData:
    """Rows for every table of `metadata`; the same `seed` gives the same rows."""
    if skew <= 1:
        raise ReviewError(f"skew={skew} is not a Zipf exponent; pass a value above 1 (e.g. 1.2).")
    known = {f"{t.name}.{c.name}" for t in metadata.tables.values() for c in t.columns}
    unknown = sorted(set(columns or {}) - known)
    if unknown:
        raise ReviewError(
            f"columns={unknown} name no column of the schema; write them as 'table.column'."
        )
    options = _Options(skew, null_fraction, columns or {})
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    frames: dict[str, pd.DataFrame] = {}
    not_honoured: list[str] = []
    for table in metadata.sorted_tables:
        wanted = rows.get(table.name, 0) if isinstance(rows, dict) else rows
        builder = _TableBuilder(table, wanted, rng, frames, options)
        frames[table.name] = builder.build()
        not_honoured += builder.not_honoured
    return SyntheticData(metadata, frames, not_honoured, seed, time.perf_counter() - started)


class _TableBuilder:
    """Draws one table's columns; the parents' frames are already in `frames`."""

    def __init__(
        self,
        table: sa.Table,
        rows: int,
        rng: np.random.Generator,
        frames: dict[str, pd.DataFrame],
        options: _Options,
    ) -> None:
        self.table, self.n, self.rng, self.frames = table, rows, rng, frames
        self.skew, self.null_fraction = options.skew, options.null_fraction
        self.custom = {
            key.split(".", 1)[1]: value
            for key, value in options.columns.items()
            if key.split(".", 1)[0] == table.name
        }
        self.not_honoured: list[str] = []
        checks = [str(c.sqltext) for c in table.constraints if isinstance(c, sa.CheckConstraint)]
        self.rules: TableRules = parse_checks(checks)
        self.not_honoured += [f"{table.name}: CHECK ({t})" for t in self.rules.not_understood]
        self.units = self._units()

    # -- structure ---------------------------------------------------------------------------

    def _units(self) -> list[_Unit]:
        units: list[_Unit] = []
        taken: set[str] = set()
        for fk in sorted(self.table.foreign_key_constraints, key=lambda f: str(f.name or "")):
            names = {c.name for c in fk.columns}
            if names & taken:
                self.not_honoured.append(
                    f"{self.table.name}: overlapping foreign key {sorted(names)}"
                )
                continue
            taken |= names
            units.append(_Unit(list(fk.columns), fk))
        units += [_Unit([c]) for c in self.table.columns if c.name not in taken]
        return units

    def _unique_sets(self) -> list[set[str]]:
        sets: list[set[str]] = []
        if self.table.primary_key.columns:
            sets.append({c.name for c in self.table.primary_key.columns})
        for constraint in self.table.constraints:
            if isinstance(constraint, sa.UniqueConstraint):
                sets.append({c.name for c in constraint.columns})
        sets += [{c.name for c in i.columns} for i in self.table.indexes if i.unique]
        sets += [{c.name} for c in self.table.columns if c.unique]
        return sets

    def _unit_of(self, column: str) -> _Unit:
        return next(u for u in self.units if column in {c.name for c in u.columns})

    # -- drawing -----------------------------------------------------------------------------

    def build(self) -> pd.DataFrame:
        distinct: dict[int, np.ndarray] = {}
        unique_sets = self._unique_sets()
        for names in sorted(unique_sets, key=len):
            units = list({id(u): u for u in (self._unit_of(n) for n in names)}.values())
            if any(id(u) in distinct and len(units) == 1 for u in units):
                continue
            if len(units) == 1 or all(id(u) not in distinct for u in units):
                self._distinct_codes(units, distinct)
                continue
            free = [u for u in units if id(u) not in distinct and u.foreign_key is None]
            if free:  # one distinct free column makes the whole set distinct
                self._distinct_codes(free[:1], distinct)
            elif not all(id(u) in distinct for u in units):
                self.not_honoured.append(f"{self.table.name}: UNIQUE {sorted(names)}")
        # Plain columns before foreign keys: a self-reference needs the keys it points at.
        for unit in sorted(self.units, key=lambda u: u.foreign_key is not None):
            codes = distinct.get(id(unit))
            self._draw(unit, None if codes is None else codes[: self.n])
        self._apply_orderings()
        data = {c.name: self._value(c.name) for c in self.table.columns}
        return pd.DataFrame(data, index=pd.RangeIndex(self.n))

    def _value(self, name: str) -> pd.Series:
        return self._unit_of(name).values[name]

    def _domain(self, unit: _Unit) -> int:
        if unit.foreign_key is not None:
            return max(self._parent_rows(unit.foreign_key), 1)
        column = unit.columns[0]
        rule = self.rules.columns.get(column.name, ColumnRule())
        if rule.choices is not None:
            return len(rule.choices)
        if isinstance(column.type, sa.Boolean):
            return 2
        if isinstance(column.type, sa.Enum):
            return len(column.type.enums)
        if isinstance(column.type, sa.Integer) and (rule.low is not None or rule.high is not None):
            low, high = _int_range(column, rule)
            return max(high - low + 1, 1)
        return max(self.n, 1)

    def _distinct_codes(self, units: list[_Unit], distinct: dict[int, np.ndarray]) -> None:
        """Draw `self.n` distinct combinations over `units` (fewer when the domain is smaller)."""
        sizes = [self._domain(u) for u in units]
        total = math.prod(sizes)
        if total < self.n:
            names = [c.name for u in units for c in u.columns]
            self.not_honoured.append(
                f"{self.table.name}: only {total} distinct {names}; generated {total} rows, "
                f"not {self.n}"
            )
            self.n = total
        if len(units) == 1 and units[0].columns[0].primary_key and units[0].foreign_key is None:
            codes = np.arange(self.n)  # keys in insertion order, as a sequence would give them
        elif total <= 4 * self.n or len(units) == 1:
            codes = (
                self.rng.permutation(total)[: self.n]
                if total <= 4 * self.n
                else self.rng.choice(total, self.n, replace=False)
            )
        else:
            codes = self._skewed_distinct(units, sizes, total)
        for unit, size, stride in zip(units, sizes, _strides(sizes), strict=True):
            distinct[id(unit)] = (codes // stride) % size

    def _skewed_distinct(self, units: list[_Unit], sizes: list[int], total: int) -> np.ndarray:
        """Distinct codes whose foreign-key parts keep their Zipf skew; topped up uniformly."""
        parts = [
            self._zipf(size) if u.foreign_key is not None else self.rng.integers(0, size, self.n)
            for u, size in zip(units, sizes, strict=True)
        ]
        codes = sum(p * s for p, s in zip(parts, _strides(sizes), strict=True))
        codes = pd.unique(np.asarray(codes, dtype=np.int64))
        while len(codes) < self.n:
            extra = self.rng.integers(0, total, 2 * (self.n - len(codes)) + 16)
            extra = pd.unique(extra[~np.isin(extra, codes)])
            codes = np.concatenate([codes, extra[: self.n - len(codes)]])
        return np.asarray(codes[: self.n])

    def _zipf(self, size: int) -> np.ndarray:
        """Row indices in [0, size) with Zipf skew; which rows are hot is itself random."""
        ranks = (self.rng.zipf(self.skew, self.n) - 1) % size
        return np.asarray(self.rng.permutation(size)[ranks])

    def _parent_rows(self, fk: sa.ForeignKeyConstraint) -> int:
        parent = fk.referred_table.name
        return self.n if parent == self.table.name else len(self.frames.get(parent, ()))

    def _draw(self, unit: _Unit, codes: np.ndarray | None) -> None:
        if unit.foreign_key is not None:
            self._draw_reference(unit, unit.foreign_key, codes)
            return
        column = unit.columns[0]
        rule = self.rules.columns.get(column.name, ColumnRule())
        if column.name in self.custom:
            if codes is not None:
                raise ReviewError(
                    f"{self.table.name}.{column.name} is a key or unique; its values cannot come "
                    "from a distribution of your own. Leave it out of columns=."
                )
            unit.values[column.name] = self._custom(self.custom[column.name])
            return
        values = _column_values(column, rule, self.n, self.rng, codes, self.not_honoured)
        optional = column.nullable and codes is None and not column.primary_key
        if optional and self.null_fraction > 0:
            values = values.mask(self.rng.random(self.n) < self.null_fraction)
        unit.values[column.name] = values

    def _custom(self, distribution: Distribution) -> pd.Series:
        """Values from the caller's distribution: weights per value, or a function of rng, n."""
        if isinstance(distribution, Mapping):
            values = list(distribution)
            weights = np.asarray([distribution[v] for v in values], dtype=float)
            picks = self.rng.choice(len(values), self.n, p=weights / weights.sum())
            return pd.Series(np.asarray(values, dtype=object)[picks])
        drawn = pd.Series(distribution(self.rng, self.n))
        if len(drawn) != self.n:
            raise ReviewError(
                f"a distribution for {self.table.name} returned {len(drawn)} values, not {self.n}."
            )
        return drawn

    def _draw_reference(
        self, unit: _Unit, fk: sa.ForeignKeyConstraint, codes: np.ndarray | None
    ) -> None:
        parent_rows = self._parent_rows(fk)
        optional = all(c.nullable for c in fk.columns)
        self_reference = fk.referred_table.name == self.table.name
        if parent_rows == 0:
            if not optional and self.n:  # a table with no rows of its own needs no parent
                raise ReviewError(
                    f"{self.table.name} needs rows in {fk.referred_table.name} (NOT NULL foreign "
                    f"key); give {fk.referred_table.name} a row count above 0."
                )
            for column in fk.columns:
                unit.values[column.name] = pd.Series([None] * self.n, dtype=object)
            return
        if codes is not None:
            picks = codes
        elif self_reference:  # an earlier row, skewed towards the first ones (the roots)
            picks = np.floor(np.arange(self.n) * self.rng.random(self.n) ** 2).astype(np.int64)
        else:
            picks = self._zipf(parent_rows)
        missing = np.zeros(self.n, dtype=bool)
        if optional and codes is None:
            missing = self.rng.random(self.n) < self.null_fraction
            if self_reference:
                missing[0] = True
        for column, element in zip(fk.columns, fk.elements, strict=True):
            source = (
                self._value(element.column.name)
                if self_reference
                else self.frames[fk.referred_table.name][element.column.name]
            )
            values = source.iloc[picks].reset_index(drop=True)
            unit.values[column.name] = values.mask(missing) if missing.any() else values

    def _apply_orderings(self) -> None:
        """`CHECK (a > b)`: a becomes b plus a positive step, where a is free to change."""
        for greater, lesser, strict in self.rules.orderings:
            unit = self._unit_of(greater)
            column = self.table.columns[greater]
            if unit.foreign_key is not None or column.unique or column.primary_key:
                self.not_honoured.append(f"{self.table.name}: CHECK ({greater} > {lesser})")
                continue
            base = self._value(lesser)
            if pd.api.types.is_datetime64_any_dtype(base):
                step = pd.to_timedelta(
                    self.rng.integers(int(strict), 30 * 86_400, self.n), unit="s"
                )
                unit.values[greater] = base + step
            elif pd.api.types.is_numeric_dtype(base):
                unit.values[greater] = base + self.rng.integers(int(strict), 100, self.n)
            else:
                self.not_honoured.append(f"{self.table.name}: CHECK ({greater} > {lesser})")


def _strides(sizes: list[int]) -> list[int]:
    strides, stride = [], 1
    for size in sizes:
        strides.append(stride)
        stride *= size
    return strides


def _int_range(column: sa.Column[object], rule: ColumnRule) -> tuple[int, int]:
    limit = _INT_LIMITS.get(type(column.type).__visit_name__.upper(), 2**62)
    low = _DEFAULT_INT[0] if rule.low is None else math.floor(rule.low) + int(rule.low_strict)
    high = (
        max(_DEFAULT_INT[1], low + 10_000)
        if rule.high is None
        else math.ceil(rule.high) - int(rule.high_strict)
    )
    return max(low, -limit), min(high, limit)


def _column_values(
    column: sa.Column[object],
    rule: ColumnRule,
    n: int,
    rng: np.random.Generator,
    codes: np.ndarray | None,
    not_honoured: list[str],
) -> pd.Series:
    """`n` values of `column`'s type within `rule`; distinct when `codes` (distinct) are given."""
    kind = column.type
    if rule.choices is not None or isinstance(kind, sa.Enum):
        choices = rule.choices if rule.choices is not None else list(kind.enums)  # type: ignore[attr-defined]
        picks = codes if codes is not None else rng.integers(0, len(choices), n)
        return pd.Series(np.asarray(choices, dtype=object)[picks])
    if isinstance(kind, sa.Boolean):
        return pd.Series((codes if codes is not None else rng.integers(0, 2, n)).astype(bool))
    if isinstance(kind, sa.Integer):
        low, high = _int_range(column, rule)
        if codes is not None:
            start = 1 if column.primary_key and rule.low is None else low
            return pd.Series(start + codes.astype(np.int64), dtype="Int64")
        return pd.Series(rng.integers(low, high + 1, n), dtype="Int64")
    if isinstance(kind, sa.Numeric | sa.Float):
        return _reals(kind, rule, n, rng, codes)
    if isinstance(kind, sa.Date):
        days = codes if codes is not None else rng.integers(0, 730, n)
        return pd.Series(_EPOCH + days.astype("timedelta64[D]")).dt.normalize()
    if isinstance(kind, sa.DateTime):
        seconds = codes if codes is not None else rng.integers(0, _SPAN_SECONDS, n)
        stamps = pd.Series(_EPOCH + seconds.astype("timedelta64[s]"))
        return stamps.dt.tz_localize("UTC") if kind.timezone else stamps
    if isinstance(kind, sa.Uuid):
        raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
        return pd.Series([uuid.UUID(bytes=row.tobytes(), version=4) for row in raw], dtype=object)
    if isinstance(kind, sa.JSON):
        return pd.Series(["{}"] * n, dtype=object)
    if isinstance(kind, sa.String):
        return _strings(column, rule, n, rng, codes, not_honoured)
    if isinstance(kind, sa.LargeBinary):
        return pd.Series([bytes(row) for row in rng.integers(0, 256, (n, 8), dtype=np.uint8)])
    raise ReviewError(
        f"{column.table.name}.{column.name}: no generator for type {kind!r}; give the column "
        "a standard SQL type (integer, numeric, text, timestamp, boolean, uuid, json)."
    )


def _reals(
    kind: sa.Numeric[Any] | sa.Float[Any],
    rule: ColumnRule,
    n: int,
    rng: np.random.Generator,
    codes: np.ndarray | None,
) -> pd.Series:
    scale = kind.scale if isinstance(kind.scale, int) else 2
    step = 10.0**-scale
    low = _DEFAULT_REAL[0] if rule.low is None else rule.low + (step if rule.low_strict else 0)
    high = _DEFAULT_REAL[1] if rule.high is None else rule.high - (step if rule.high_strict else 0)
    if kind.precision is not None and not isinstance(kind, sa.Float):
        high = min(high, 10.0 ** (kind.precision - scale) - 1)
    if codes is not None:
        return pd.Series(np.round(low + codes * step, scale))
    return pd.Series(np.clip(np.round(rng.uniform(low, high, n), scale), low, high))


def _strings(
    column: sa.Column[object],
    rule: ColumnRule,
    n: int,
    rng: np.random.Generator,
    codes: np.ndarray | None,
    not_honoured: list[str],
) -> pd.Series:
    numbers = codes if codes is not None else rng.integers(0, max(n, 1_000), n)
    limit = min(x for x in (column.type.length, rule.max_length, 10**6) if x)  # type: ignore[attr-defined]
    digits = max(len(str(int(numbers.max()))) if n else 1, 1)
    prefix = column.name.lower()
    if "email" in prefix:
        template, width = "user{}@example.com", digits + 16
    else:
        template, width = prefix[: max(limit - digits - 1, 0)] + "-{}", 0
        width = len(template) - 2 + digits
    text = pd.Series(numbers).map(template.format) if width <= limit else None
    if text is None:
        if codes is None:  # any values will do: keep them within what fits
            numbers = numbers % 16**limit
        hexed = pd.Series(numbers).map("{:x}".format)
        if hexed.str.len().max() > limit:
            not_honoured.append(f"{column.table.name}.{column.name}: length ≤ {limit}")
        text = hexed.str.slice(0, limit)
    if rule.min_length:
        text = text.str.pad(rule.min_length, side="right", fillchar="x")
    return text.astype(object)
