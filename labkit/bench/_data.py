"""The data items: seeding, pagination at depth, the contract linter, plan parsing, import time,
the service's memory and the notebooks' run times."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from labkit.bench._report import BenchItem
from labkit.databases import Database, database, seed

__all__ = ["DATA_ITEMS", "bench_data"]

DATA_ITEMS = (
    "seed_sqlite", "seed_postgres", "seed_duckdb", "pagination", "lint_500", "plan_parsing", "import_time",
    "contract_load_lint_yaml", "contract_diff_500", "synth_sqlite", "synth_postgres", "overload",
    "memory", "notebooks",
)  # fmt: skip
_WHAT = {
    "seed_sqlite": "seed orders end to end, SQLite",
    "seed_postgres": "seed orders end to end, PostgreSQL",
    "seed_duckdb": "seed orders end to end, DuckDB",
    "pagination": "offset vs keyset page at depth (SQLite)",
    "lint_500": "lint a 500-operation OpenAPI spec",
    "plan_parsing": "EXPLAIN parsed into a Plan (SQLite)",
    "import_time": "`import labkit` in a fresh interpreter, warm",
    "contract_load_lint_yaml": "load and lint a 4 MB OpenAPI YAML from disk (target <= 2 s)",
    "contract_diff_500": "diff two 500-operation OpenAPI versions (target <= 2 s)",
    "synth_sqlite": "synthetic rows for any schema, SQLite bulk load",
    "synth_postgres": "synthetic rows for any schema, PostgreSQL bulk load",
    "overload": "300 concurrent clients at GET /v1/products?limit=50: throughput, P99, 503s",
}
# Timed inside the child, so the interpreter's own start-up is not counted.
_TIMED_IMPORT = (
    "import time; began = time.perf_counter(); import labkit; print(time.perf_counter() - began)"
)


def bench_data(
    names: list[str], orders: int, done: Callable[[BenchItem], None], memory_seconds: float = 60.0
) -> None:
    """Seeding, pagination at depth, the contract linter, plan parsing, import time, the
    service's memory under load, and the notebooks' run times."""
    if {"seed_sqlite", "pagination", "plan_parsing"} & set(names):
        with _scratch_database("sqlite") as db:
            report = seed(db, scale=orders)
            if "seed_sqlite" in names:
                done(_seed_item("seed_sqlite", report.seconds, orders))
            if "pagination" in names:
                done(_pagination_item(db))
            if "plan_parsing" in names:
                done(_plan_item(db))
    for kind in ("postgres", "duckdb"):
        if f"seed_{kind}" in names:
            with _scratch_database(kind) as scratch:
                done(_seed_item(f"seed_{kind}", seed(scratch, scale=orders).seconds, orders))
    if "lint_500" in names:
        done(_lint_item())
    if "import_time" in names:
        done(_import_item())
    for name in ("contract_load_lint_yaml", "contract_diff_500"):
        if name in names:
            done(_contract_item(name))
    for kind in ("sqlite", "postgres"):
        if f"synth_{kind}" in names:
            done(_synthesis_item(kind))
    if "overload" in names:
        done(_overload_item())
    if "memory" in names:
        from labkit.bench._memory import memory_item

        done(memory_item(orders, memory_seconds))
    if "notebooks" in names:
        from labkit.bench._notebooks import bench_notebooks

        bench_notebooks(done)


def _contract_item(name: str) -> BenchItem:
    from labkit.contract._bench import bench_diff_500, bench_load_lint_yaml

    measure = bench_load_lint_yaml if name == "contract_load_lint_yaml" else bench_diff_500
    figures = measure()
    return BenchItem(
        name=name, what=_WHAT[name], seconds=figures["seconds"], rate=figures["rate"],
        unit=figures["unit"], note=figures["note"],
    )  # fmt: skip


def _synthesis_item(kind: str) -> BenchItem:
    from labkit.review._bench import synthesis_figures

    figures = synthesis_figures(kind)
    return BenchItem(
        name=f"synth_{kind}", what=_WHAT[f"synth_{kind}"], seconds=figures["seconds"],
        rate=figures["rate"], unit="rows/s", note=figures["note"],
    )  # fmt: skip


def _overload_item() -> BenchItem:
    from labkit.overload import overload_figures

    figures = overload_figures("sqlite")
    return BenchItem(
        name="overload", what=_WHAT["overload"], rps=figures["rps"], p99_ms=figures["p99_ms"],
        rate=figures["share_503"], unit="share of 503s", errors=int(figures["errors"]),
    )  # fmt: skip


@contextlib.contextmanager
def _scratch_database(kind: str) -> Iterator[Database]:
    """A fresh database of `kind` for the data items, dropped afterwards."""
    db = database(kind, name="labkit_bench", fresh=True)
    try:
        yield db
    finally:
        db.drop()


def _seed_item(name: str, seconds: float, orders: int) -> BenchItem:
    return BenchItem(
        name=name,
        what=_WHAT[name],
        seconds=seconds,
        rate=orders / seconds,
        unit="orders/s",
        note=f"{orders:,} orders, rows generated in bulk and loaded",
    )


def _pagination_item(db: Database) -> BenchItem:
    """Time the last page of orders read by OFFSET and by keyset (WHERE id > last seen)."""
    import sqlalchemy as sa

    with db.engine.connect() as conn:
        total = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
        depth = max(total - 20, 0)
        last_id = conn.execute(
            sa.text("SELECT id FROM orders ORDER BY id LIMIT 1 OFFSET :d"), {"d": max(depth - 1, 0)}
        ).scalar_one()
        offset_s = _best_of(
            lambda: conn.execute(
                sa.text("SELECT * FROM orders ORDER BY id LIMIT 20 OFFSET :d"), {"d": depth}
            ).all()
        )
        keyset_s = _best_of(
            lambda: conn.execute(
                sa.text("SELECT * FROM orders WHERE id > :last ORDER BY id LIMIT 20"),
                {"last": last_id},
            ).all()
        )
    return BenchItem(
        name="pagination",
        what=_WHAT["pagination"],
        seconds=keyset_s,
        rate=offset_s / keyset_s,
        unit="x keyset faster",
        note=f"page at depth {depth:,}: offset {offset_s * 1000:.2f} ms, keyset {keyset_s * 1000:.3f} ms",
    )


def _plan_item(db: Database) -> BenchItem:
    """Time EXPLAIN plus parsing into a Plan, for a join the lessons use."""
    from labkit.plans import explain

    sql = (
        "SELECT o.id, sum(i.quantity) FROM orders o JOIN order_items i ON i.order_id = o.id "
        "WHERE o.user_id = :u GROUP BY o.id"
    )
    runs = 50
    began = time.perf_counter()
    for user in range(1, runs + 1):
        explain(db, sql, {"u": user}, analyze=False)
    seconds = (time.perf_counter() - began) / runs
    return BenchItem(
        name="plan_parsing", what=_WHAT["plan_parsing"], seconds=seconds, rate=1 / seconds,
        unit="plans/s", note=f"mean of {runs}",
    )  # fmt: skip


def _lint_item() -> BenchItem:
    from labkit.contract import lint, make_large_spec

    spec = make_large_spec(500)
    seconds = _best_of(lambda: lint(spec), repeats=3)
    return BenchItem(
        name="lint_500", what=_WHAT["lint_500"], seconds=seconds, rate=500 / seconds,
        unit="operations/s", note="best of 3",
    )  # fmt: skip


def _import_item(repeats: int = 5) -> BenchItem:
    """Best of `repeats` fresh interpreters importing labkit, beside `labkit --help` end to end."""
    imports = [float(_run_python("-c", _TIMED_IMPORT).stdout.split()[-1]) for _ in range(repeats)]
    bare = _best_of(lambda: _run_python("-c", "pass"), repeats)
    cli_help = _best_of(lambda: _run_python("-m", "labkit.cli", "--help"), repeats)
    seconds = min(imports)
    return BenchItem(
        name="import_time",
        what=_WHAT["import_time"],
        seconds=seconds,
        rate=1 / seconds,
        unit="imports/s",
        note=(
            f"best of {repeats}; `labkit --help` {cli_help:.3f} s end to end, "
            f"a bare interpreter {bare:.3f} s"
        ),
    )


def _run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter of this environment running `args`, its output captured."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=True, timeout=60
    )


def _best_of(action: Callable[[], object], repeats: int = 5) -> float:
    """The fastest of `repeats` timings: the run least disturbed by everything else."""
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        timings.append(time.perf_counter() - began)
    return min(timings)
