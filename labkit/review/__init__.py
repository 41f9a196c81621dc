"""The design review (notebook 14): an architect's contract, schema, workload and load, one report.

>>> report = lk.review(contract="v2.yaml", previous="v1.yaml", schema="schema.sql",
...                    workload="queries.yaml")               # the whole review, one Report
>>> report.save("review")                                   # review.html (offline) + review.md

>>> metadata = lk.review.load_schema("schema.sql")          # DDL, models, Alembic, a URL
>>> data = lk.synthesize(metadata, rows=100_000, seed=1)    # every constraint honoured
>>> report = lk.review.load(data, into=lk.database("postgres"))  # COPY; rows_per_second
>>> lk.lint_schema(metadata)                                # findings with why and fix
>>> lk.review.review_workload(db, [lk.review.Query("q", sql, params, 10)])  # one index set
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from typing import Any

from labkit.review._config import load_config
from labkit.review._contract import ContractReview, review_contract
from labkit.review._lint import RULES, SchemaFinding, SchemaLintReport, lint_schema
from labkit.review._load import LoadReport, load
from labkit.review._provenance import Provenance
from labkit.review._report import Report
from labkit.review._run import ENGINES, review, workload_of
from labkit.review._schema import SchemaSource, load_schema, reflect, transpile_ddl
from labkit.review._section import SEVERITIES, Risk, Section
from labkit.review._sections import NotReviewed, SchemaSection, WorkloadSection
from labkit.review._synth import Distribution, SyntheticData, generate
from labkit.review._traffic import LoadReview, SloTarget, parse_slo, review_load
from labkit.review._workload import Query, WorkloadReview, review_workload

__all__ = [
    "ENGINES",
    "RULES",
    "SEVERITIES",
    "ContractReview",
    "Distribution",
    "LoadReport",
    "LoadReview",
    "NotReviewed",
    "Provenance",
    "Query",
    "Report",
    "Risk",
    "SchemaFinding",
    "SchemaLintReport",
    "SchemaSection",
    "SchemaSource",
    "Section",
    "SloTarget",
    "SyntheticData",
    "WorkloadReview",
    "WorkloadSection",
    "lint_schema",
    "load",
    "load_config",
    "load_schema",
    "parse_slo",
    "reflect",
    "review",
    "review_contract",
    "review_load",
    "review_workload",
    "synthesize",
    "transpile_ddl",
    "workload_of",
]


def synthesize(
    schema: SchemaSource,
    *,
    rows: int | dict[str, int] = 1_000,
    seed: int = 0,
    skew: float = 1.2,
    null_fraction: float = 0.05,
    columns: Mapping[str, Distribution] | None = None,
) -> SyntheticData:
    """Rows for every table of `schema` that satisfy its constraints (notebook 14).

    Load them with `lk.review.load(data, into=db)`, which reports rows per second.

    Args:
        schema: anything `load_schema` reads (DDL, MetaData, models, Alembic folder, URL).
        rows: rows per table, or a count per table name (missing tables get none).
        seed: the same seed gives the same rows.
        skew: Zipf exponent for foreign keys (above 1; higher means fewer, hotter parents).
        null_fraction: share of NULLs in nullable columns that are not keys.
        columns: your own distribution for plain columns, by "table.column": weights per value
            (`{"new": 0.8, "paid": 0.2}`) or a function `(rng, n) -> n values`. The CHECKs are
            then yours to keep; the database still refuses rows that break them.
    """
    metadata = load_schema(schema)
    return generate(
        metadata, rows, seed=seed, skew=skew, null_fraction=null_fraction, columns=columns
    )


class _CallableReview(types.ModuleType):
    """`lk.review(...)` runs the whole review, while `lk.review.load_schema` & co. stay reachable.

    Notebooks reach the parts through the package (`lk.review.lint_schema`) and the whole
    through one call; a module that is also callable serves both without a second public name.
    """

    def __call__(self, **inputs: Any) -> Report:
        return review(**inputs)


sys.modules[__name__].__class__ = _CallableReview
