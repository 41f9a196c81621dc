"""`labkit bench`: how fast the workbench's own hot paths are, on this machine, in one run.

HTTP numbers are ratios to a bare ASGI app served the same way (the ceiling), so they survive a
change of laptop. The load generator must not be the limit: wrk (C, one thread) when installed,
else Locust's FastHttpUser with its CPU recorded. Every item also goes to the journal.

>>> report = lk.bench.run(quick=True)
"""

from __future__ import annotations

import contextlib
import html
import re
import resource
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
import pandas as pd

from labkit._process import spawn, stop
from labkit.errors import LabkitError

if TYPE_CHECKING:
    from labkit.databases import Database

__all__ = ["ITEMS", "BenchError", "BenchItem", "BenchReport", "parse_wrk", "run"]

Generator = Literal["auto", "wrk", "locust"]
HTTP_ITEMS = ("ceiling", "fastapi_hello", "product", "product_uncached", "product_page", "order")
DATA_ITEMS = ("seed_sqlite", "seed_postgres", "pagination", "lint_500", "plan_parsing")
ITEMS = HTTP_ITEMS + DATA_ITEMS
_SERVICE_SETTINGS = {"rate_limit_enabled": False}
# The database path: a zero TTL turns the product cache off without lab mode's extra work.
_UNCACHED_SETTINGS = {**_SERVICE_SETTINGS, "cache_ttl_seconds": 0}
_CEILING_APPS = {
    "ceiling": "labkit.bench._hello:app",
    "fastapi_hello": "labkit.bench._hello_fastapi:app",
}
_PATHS = {
    "ceiling": "/",
    "fastapi_hello": "/",
    "product": "/v1/products/{id}",
    "product_uncached": "/v1/products/{id}",
    "product_page": "/v1/products?limit=20",
    "order": "/v1/orders",
}
_WHAT = {
    "ceiling": "bare ASGI app (uvicorn, 1 worker)",
    "fastapi_hello": "FastAPI hello-world (uvicorn, 1 worker)",
    "product": "GET a product by id, cache warm",
    "product_uncached": "GET a product by id, cache off (the database path)",
    "product_page": "GET a page of 20 products",
    "order": "POST an order (Idempotency-Key)",
    "seed_sqlite": "seed orders end to end, SQLite",
    "seed_postgres": "seed orders end to end, PostgreSQL",
    "pagination": "offset vs keyset page at depth (SQLite)",
    "lint_500": "lint a 500-operation OpenAPI spec",
    "plan_parsing": "EXPLAIN parsed into a Plan (SQLite)",
}
_WRK_SCRIPT = """
local counter = 0
local method, path, auth, body, prefix, ids
function init(args)
  method, path, auth, body, prefix = args[1], args[2], args[3], args[4], args[5]
  ids = {}
  for id in string.gmatch(args[6] or "", "[^,]+") do ids[#ids + 1] = id end
end
function request()
  counter = counter + 1
  local id = ids[counter % math.max(#ids, 1) + 1] or "1"
  local headers = {}
  if auth ~= "" then headers["Authorization"] = auth end
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = prefix .. "-" .. counter
    return wrk.format(method, path, headers, (string.gsub(body, "{id}", id)))
  end
  return wrk.format(method, (string.gsub(path, "{id}", id)), headers)
end
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


class BenchError(LabkitError):
    """A benchmark could not run."""


@dataclass(frozen=True)
class BenchItem:
    """One measured item: throughput and latency for HTTP, seconds (and a rate) for the rest."""

    name: str
    what: str
    generator: str | None = None
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    seconds: float | None = None
    rate: float | None = None
    unit: str = ""
    generator_cpu_pct: float | None = None
    note: str = ""

    def metrics(self) -> dict[str, Any]:
        """The numbers, as the journal keeps them."""
        keep = {"rps", "p50_ms", "p99_ms", "errors", "seconds", "rate", "generator_cpu_pct"}
        values = {k: v for k, v in self.__dict__.items() if k in keep and v is not None}
        return {**values, "unit": self.unit, "generator": self.generator, "note": self.note}


@dataclass(frozen=True)
class BenchReport:
    """All items of one bench run, with HTTP items as ratios to the ceiling."""

    items: list[BenchItem]
    journal_ids: list[int] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        """One row per item; `x_rps`, `x_p50`, `x_p99` are ratios to the ceiling."""
        frame = pd.DataFrame([item.__dict__ for item in self.items]).set_index("name")
        if "ceiling" in frame.index:
            ceiling = frame.loc["ceiling"]
            frame["x_rps"] = frame["rps"] / ceiling["rps"]
            frame["x_p50"] = frame["p50_ms"] / ceiling["p50_ms"]
            frame["x_p99"] = frame["p99_ms"] / ceiling["p99_ms"]
        return frame

    def text(self) -> str:
        """A plain-text table for the terminal."""
        table = self.table
        columns = [c for c in ("what", "generator", "generator_cpu_pct", "rps", "p50_ms", "p99_ms",
                               "x_rps", "x_p50", "x_p99", "errors", "seconds", "rate", "unit", "note")
                   if c in table]  # fmt: skip
        shown = table[columns].astype(object).where(table[columns].notna(), "")
        return str(shown.to_string(float_format=_number))

    def __repr__(self) -> str:
        return f"BenchReport({len(self.items)} items)\n{self.text()}"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(f'{len(self.items)} items')}</p>{self.table.round(2).to_html()}"


def run(
    *,
    only: Sequence[str] | None = None,
    quick: bool = False,
    duration: float = 5.0,
    connections: int = 8,
    generator: Generator = "auto",
    seed_orders: int = 1_000_000,
    record: bool = True,
    on_item: Callable[[BenchItem], None] | None = None,
) -> BenchReport:
    """Measure the items named in `only` (default: all of ITEMS) and return a `BenchReport`.

    Args:
        quick: short runs and 20,000 seeded orders, for a smoke test.
        duration: seconds of load per HTTP item; connections: requests kept in flight.
        generator: "wrk", "locust", or "auto" (wrk when installed).
        seed_orders: orders the seeding items generate and load.
        record: append each item to the journal (kind "bench").
        on_item: called with each item as soon as it is measured (the CLI prints it).

    Example: `lk.bench.run(only=["ceiling", "product"], duration=3).table`
    """
    wanted = list(only or ITEMS)
    unknown = [name for name in wanted if name not in ITEMS]
    if unknown:
        raise BenchError(f"unknown bench items {unknown}; choose from {', '.join(ITEMS)}.")
    if quick:
        duration, seed_orders = min(duration, 2.0), min(seed_orders, 20_000)
    tool = _pick_generator(generator)
    items: list[BenchItem] = []

    def done(item: BenchItem) -> None:
        items.append(item)
        if on_item is not None:
            on_item(item)

    http = [name for name in wanted if name in HTTP_ITEMS]
    if http:
        _bench_http(http, tool, duration, connections, done)
    data = [name for name in wanted if name in DATA_ITEMS]
    if data:
        _bench_data(data, seed_orders, done)
    report = BenchReport(items=items)
    if record:
        _record(report)
    return report


def parse_wrk(output: str) -> dict[str, float]:
    """Read requests/s, P50, P99 and errors out of `wrk --latency` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rps is None:
        raise BenchError(f"wrk printed no Requests/sec line: {output.strip()[-300:]!r}")
    found = {"rps": float(rps.group(1)), "errors": 0.0}
    for label, key in (("50%", "p50_ms"), ("99%", "p99_ms")):
        match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        found[key] = float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    found["errors"] = float(non_2xx.group(1)) if non_2xx else 0.0
    if sockets:
        found["errors"] += sum(float(n) for n in sockets.groups())
    return found


def _number(value: float) -> str:
    """Three significant digits, without exponents: 0.000512, 3.94, 8,577."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _pick_generator(generator: Generator) -> str:
    """Resolve "auto" to wrk when it is on PATH, else Locust."""
    has_wrk = shutil.which("wrk") is not None
    if generator == "wrk" and not has_wrk:
        raise BenchError(
            "generator='wrk' but wrk is not installed; `apt-get install wrk` (Debian/Ubuntu), "
            "`brew install wrk`, or use generator='locust'."
        )
    if generator == "auto":
        return "wrk" if has_wrk else "locust"
    return generator


def _bench_http(
    names: list[str],
    tool: str,
    duration: float,
    connections: int,
    done: Callable[[BenchItem], None],
) -> None:
    """Serve the ceiling and the shop the same way, then load each endpoint in turn."""
    from labkit.service import LiveService

    for name in [name for name in names if name in _CEILING_APPS]:
        with LiveService(app=_CEILING_APPS[name], ready_path="/") as hello:
            done(_measure(hello.url, name, tool, duration, connections, None))
    for settings in (_SERVICE_SETTINGS, _UNCACHED_SETTINGS):
        shop_items = [n for n in names if _settings_for(n) == settings]
        if not shop_items:
            continue
        with LiveService(scale=1_000, settings=settings) as svc:
            shop = _ShopSession.open(svc.url)
            for name in shop_items:
                done(_measure(svc.url, name, tool, duration, connections, shop))


def _settings_for(name: str) -> dict[str, Any] | None:
    """The shop's settings for an HTTP item (None for the ceilings and the data items)."""
    if name not in HTTP_ITEMS or name in _CEILING_APPS:
        return None
    return _UNCACHED_SETTINGS if name == "product_uncached" else _SERVICE_SETTINGS


@dataclass(frozen=True)
class _ShopSession:
    """What the shop endpoints need: product ids with stock to spare, and a bearer token."""

    product_ids: list[int]
    token: str

    @classmethod
    def open(cls, url: str) -> _ShopSession:
        with httpx.Client(base_url=url, timeout=10) as client:
            page = client.get("/v1/products", params={"limit": 100}).json()
            ids = [p["id"] for p in page["items"] if p.get("stock", 0) >= 100]
            login = client.post(
                "/v1/auth/token", data={"username": "alice@shop.test", "password": "password123"}
            )
        if not ids or login.status_code != 200:
            raise BenchError(
                f"the shop at {url} has no products in stock or refused the seeded login "
                f"(status {login.status_code}); reseed it with `labkit seed`."
            )
        return cls(product_ids=ids, token=login.json()["access_token"])


def _measure(
    url: str, name: str, tool: str, duration: float, connections: int, shop: _ShopSession | None
) -> BenchItem:
    """Load one endpoint for `duration` seconds with the chosen generator."""
    if tool == "wrk":
        numbers = _run_wrk(url, name, duration, connections, shop)
    else:
        numbers = _run_locust(url, name, duration, connections)
    return BenchItem(name=name, what=_WHAT[name], generator=tool, **numbers)


def _run_wrk(
    url: str, name: str, duration: float, connections: int, shop: _ShopSession | None
) -> dict[str, Any]:
    """One wrk thread (one core at most), its CPU measured from the kernel's child accounting."""
    order = name == "order"
    body = '{"items": [{"product_id": {id}, "quantity": 1}]}' if order else ""
    args = [
        "POST" if order else "GET",
        _PATHS[name],
        f"Bearer {shop.token}" if shop and order else "",
        body,
        uuid.uuid4().hex,
        ",".join(str(i) for i in shop.product_ids) if shop else "",
    ]
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        script, log = Path(tmp) / "bench.lua", Path(tmp) / "wrk.log"
        script.write_text(_WRK_SCRIPT)
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency"]
        argv += ["-s", str(script), url, "--", *args]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        proc = spawn(argv, log_path=log, death_signal=signal.SIGKILL)
        try:
            proc.wait(duration + 30)
        finally:
            stop(proc, grace=1.0)
        wall = time.monotonic() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        numbers = parse_wrk(log.read_text(errors="replace"))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "rps": numbers["rps"],
        "p50_ms": numbers["p50_ms"],
        "p99_ms": numbers["p99_ms"],
        "errors": int(numbers["errors"]),
        "generator_cpu_pct": 100 * cpu / wall,
        "note": "wrk -t1: the generator stays on one core",
    }


def _run_locust(url: str, name: str, duration: float, connections: int) -> dict[str, Any]:
    """Locust FastHttpUser, one process; its CPU is recorded and a generator limit is flagged."""
    from labkit import load
    from labkit.load._parse import AGGREGATED
    from labkit.load._runner import SCENARIO_DIR

    env = {"LABKIT_BENCH_PATH": _PATHS[name], "LABKIT_BENCH_ORDER": "1" if name == "order" else ""}
    result = load.run(
        url,
        SCENARIO_DIR / "_bench.py",
        users=connections,
        duration=duration,
        env=env,
        progress=False,
        record=False,
    )
    endpoint = result.stats.drop(index=AGGREGATED).sort_values("requests").index[-1]
    row = result.stats.loc[endpoint]
    return {
        "rps": float(row["rps"]),
        "p50_ms": float(row["p50_ms"]),
        "p99_ms": float(row["p99_ms"]),
        "errors": int(row["failures"]),
        "generator_cpu_pct": result.cpu.generator_pct,
        "note": result.limits if result.generator_bound else "Locust FastHttpUser, 1 process",
    }


def _bench_data(names: list[str], orders: int, done: Callable[[BenchItem], None]) -> None:
    """Seeding, pagination at depth, the contract linter and plan parsing."""
    from labkit.databases import seed

    if {"seed_sqlite", "pagination", "plan_parsing"} & set(names):
        with _scratch_database("sqlite") as db:
            report = seed(db, scale=orders)
            if "seed_sqlite" in names:
                done(_seed_item("seed_sqlite", report.seconds, orders))
            if "pagination" in names:
                done(_pagination_item(db))
            if "plan_parsing" in names:
                done(_plan_item(db))
    if "seed_postgres" in names:
        with _scratch_database("postgres") as pg:
            done(_seed_item("seed_postgres", seed(pg, scale=orders).seconds, orders))
    if "lint_500" in names:
        done(_lint_item())


@contextlib.contextmanager
def _scratch_database(kind: str) -> Iterator[Database]:
    """A fresh database of `kind` for the data items, dropped afterwards."""
    from labkit.databases import database

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
    from labkit.explain import explain

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


def _best_of(action: Callable[[], object], repeats: int = 5) -> float:
    """The fastest of `repeats` timings: the run least disturbed by everything else."""
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        timings.append(time.perf_counter() - began)
    return min(timings)


def _record(report: BenchReport) -> None:
    """Append every item to the journal, with its ratios to the ceiling when there is one."""
    from labkit import journal

    table = report.table
    for item in report.items:
        ratios = {}
        for column in ("x_rps", "x_p50", "x_p99"):
            if column in table and pd.notna(table.loc[item.name, column]):
                ratios[column] = float(table.loc[item.name, column])
        report.journal_ids.append(
            journal.record(
                "bench",
                {**item.metrics(), **ratios},
                label=item.name,
                scenario=item.what,
                settings=_settings_for(item.name),
            )
        )
