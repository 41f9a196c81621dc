"""The whole design review in one call: each area given an input is measured, the rest say why not.

Per engine, the schema is created in a scratch database of its own, filled with synthetic
rows, linted, and the workload's index set is measured on it; the database is dropped
afterwards.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from labkit.databases import Database, database
from labkit.diagrams import er_diagram
from labkit.errors import ReviewError
from labkit.plans import Plan, explain
from labkit.review._contract import review_contract
from labkit.review._lint import lint_schema
from labkit.review._load import LoadReport, load
from labkit.review._provenance import Provenance, machine
from labkit.review._report import Report
from labkit.review._schema import SchemaSource, load_schema
from labkit.review._section import Section
from labkit.review._sections import NotReviewed, SchemaSection, WorkloadSection
from labkit.review._synth import generate
from labkit.review._traffic import review_load
from labkit.review._workload import Query, WorkloadReview, review_workload
from labkit.review._workload import _query as as_query

__all__ = ["ENGINES", "WorkloadSource", "review", "workload_of"]

#: Engines the review can load synthetic data into.
ENGINES = ("sqlite", "postgres", "duckdb", "mysql")
#: Engines whose reflection loses what the generator needs (duckdb-engine cannot read DuckDB's
#: catalog; SQLAlchemy reflects no column CHECK from MariaDB): the schema is read on SQLite
#: and created in them from that.
_READ_ON_SQLITE = {"duckdb", "mysql"}
#: A workload: Query objects or dicts (name, sql, params, frequency), or a YAML file of them.
WorkloadSource = Sequence[Query | Mapping[str, Any]] | str | Path


def review(
    *,
    contract: Any = None,
    previous: Any = None,
    service_url: str | None = None,
    schema: SchemaSource | None = None,
    workload: WorkloadSource | None = None,
    locustfile: str | Path | None = None,
    url: str | None = None,
    slo: Any = None,
    duration: float = 10.0,
    max_examples: int = 25,
    scale: int | dict[str, int] = 5_000,
    engines: Sequence[str] = ("sqlite",),
    seed: int = 0,
    repeat: int = 3,
) -> Report:
    """Review any subset of a design and return one `Report`; `labkit review` does it from a config.

    Taught in 14_design_review.

    Args:
        contract, previous: an OpenAPI contract and the version it replaces (breaking changes).
        service_url: a running implementation of `contract`: drift against it, and the contract
            tests run there (without one, against a mock of the contract).
        max_examples: generated contract-test cases per operation.
        schema: anything `lk.review.load_schema` reads: DDL, a .sql/.py file, models, Alembic.
        workload: named queries with params and relative frequencies, or a YAML file of them.
        locustfile, url, slo, duration: a load test against a running service, judged by `slo`
            (text such as "p95 < 200ms at 50 rps").
        scale: synthetic rows per table, or a count per table name.
        engines: where the schema and workload are measured: sqlite, postgres, duckdb, and
            mysql (a MySQL or MariaDB server named by LABKIT_MYSQL_URL).

    >>> report = lk.review(schema="schema.sql", workload="queries.yaml")
    >>> report.risks()[0]; report.save("review")   # review.html (offline) and review.md
    """
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise ReviewError(f"engines {list(engines)!r}: the review measures on {list(ENGINES)}.")
    queries = workload_of(workload) if workload is not None else None
    sections: dict[str, Section] = {}
    provenance: list[Provenance] = []

    def measured(area: str, engine: str, size: str, run: Callable[[], Section]) -> Section:
        started, clock = dt.datetime.now(dt.UTC), time.perf_counter()
        section = run()
        seconds = time.perf_counter() - clock
        provenance.append(Provenance(area, engine, size, machine(), started, seconds))
        return section

    if contract is None:
        if previous is not None:
            raise ReviewError("previous names the contract's last version: pass contract too.")
        sections["contract"] = NotReviewed("contract", "no contract given")
    else:
        sections["contract"] = _contract_section(
            contract, previous, service_url, max_examples, measured
        )

    if schema is None:
        sections["schema"] = NotReviewed("schema", "no schema given")
        if queries is not None:
            sections["workload"] = NotReviewed("workload", "a workload needs a schema to run on")
    else:
        schema_section, workload_section = _data_sections(
            schema, queries, scale, engines, seed, repeat, provenance
        )
        sections["schema"] = schema_section
        if workload_section is not None:
            sections["workload"] = workload_section
    if queries is None:
        sections.setdefault("workload", NotReviewed("workload", "no workload given"))

    if locustfile is None or url is None:
        missing = "a locustfile" if locustfile is None else "the URL of a running service"
        sections["load"] = NotReviewed("load", f"{missing} not given")
    else:
        sections["load"] = _load_section(locustfile, url, slo, duration, measured)
    return Report(sections, provenance)


def workload_of(source: WorkloadSource) -> list[Query]:
    """Queries from a list of Query/dicts, or a YAML file holding such a list (or `queries:`)."""
    entries: Any = source
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise ReviewError(f"workload file {path} does not exist; give a YAML list of queries.")
        try:
            entries = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ReviewError(f"workload file {path} is not YAML ({error}).") from error
        if isinstance(entries, dict):
            entries = entries.get("queries")
    if not isinstance(entries, list | tuple) or not entries:
        raise ReviewError(
            "a workload is a non-empty list of queries (name, sql, params, frequency); "
            f"got {type(entries).__name__}."
        )
    queries = []
    for entry in entries:
        if not isinstance(entry, Query | Mapping):
            raise ReviewError(f"workload entry {entry!r} is neither a Query nor a mapping.")
        queries.append(entry if isinstance(entry, Query) else as_query(entry))
    return queries


Measured = Callable[[str, str, str, Callable[[], Section]], Section]


def _contract_section(
    contract: Any, previous: Any, url: str | None, max_examples: int, measured: Measured
) -> Section:
    return measured(
        "contract",
        url or "a mock of the contract",
        f"{max_examples} cases per operation",
        lambda: review_contract(
            contract, previous=previous, service_url=url, max_examples=max_examples
        ),
    )


def _load_section(
    locustfile: str | Path, url: str, slo: Any, duration: float, measured: Measured
) -> Section:
    options: dict[str, Any] = {"duration": duration}
    if slo is not None:
        options["slo"] = slo
    return measured(
        "load", url, f"{duration:g} s of load", lambda: review_load(locustfile, url, **options)
    )


def _data_sections(
    schema: SchemaSource,
    queries: list[Query] | None,
    scale: int | dict[str, int],
    engines: Sequence[str],
    seed: int,
    repeat: int,
    provenance: list[Provenance],
) -> tuple[SchemaSection, WorkloadSection | None]:
    """Per engine: the schema in a scratch database, synthetic rows, the workload measured."""
    loads: list[LoadReport] = []
    reviews: list[WorkloadReview] = []
    plans: dict[str, dict[str, Plan]] = {}
    scales: dict[str, str] = {}
    metadata: sa.MetaData | None = None
    for engine in engines:
        started, clock = dt.datetime.now(dt.UTC), time.perf_counter()
        with _scratch(engine) as db:
            reflected = load_schema(schema, engine=None if engine in _READ_ON_SQLITE else db)
            metadata = metadata or reflected
            existing = sa.inspect(db.engine).get_table_names()
            data = generate(reflected, scale, seed=seed)
            report = load(data, db, create=not existing)
            loads.append(report)
            size = f"{report.total_rows:,} rows in {len(report.rows)} tables"
            provenance.append(
                Provenance("schema", engine, size, machine(), started, time.perf_counter() - clock)
            )
            if queries is None:
                continue
            started, clock = dt.datetime.now(dt.UTC), time.perf_counter()
            reviews.append(review_workload(db, queries, repeat=repeat))
            scales[reviews[-1].engine] = size
            plans[reviews[-1].engine] = {
                q.name: explain(db, q.sql, dict(q.params)) for q in queries
            }
            provenance.append(
                Provenance(
                    "workload", engine, size, machine(), started, time.perf_counter() - clock
                )
            )
    assert metadata is not None  # engines is not empty
    schema_section = SchemaSection(lint_schema(metadata), er_diagram(metadata), loads)
    return schema_section, (
        WorkloadSection(reviews, plans, scales) if queries is not None else None
    )


@contextmanager
def _scratch(engine: str) -> Iterator[Database]:
    """An empty database of `engine` under a name of its own, dropped afterwards."""
    db = database(engine, name=f"review_{uuid.uuid4().hex[:10]}", fresh=True)
    try:
        yield db
    finally:
        db.drop()
