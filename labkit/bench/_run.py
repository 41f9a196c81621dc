"""`run()`: measure the chosen items, HTTP first, then data, and keep each in the journal."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from labkit.bench._data import DATA_ITEMS, bench_data
from labkit.bench._generators import Generator, pick_generator
from labkit.bench._http import HTTP_ITEMS, bench_http, settings_for
from labkit.bench._report import BenchItem, BenchReport
from labkit.errors import BenchError

__all__ = ["ITEMS", "run"]

ITEMS = HTTP_ITEMS + DATA_ITEMS


def run(
    *,
    only: Sequence[str] | None = None,
    quick: bool = False,
    duration: float = 5.0,
    connections: int = 8,
    generator: Generator = "auto",
    seed_orders: int = 1_000_000,
    memory_seconds: float = 60.0,
    record: bool = True,
    on_item: Callable[[BenchItem], None] | None = None,
) -> BenchReport:
    """Measure the items named in `only` (default: all of ITEMS) and return a `BenchReport`.

    Args:
        quick: short runs and 20,000 seeded orders, for a smoke test.
        duration: seconds of load per HTTP item; connections: requests kept in flight.
        generator: "wrk", "locust", or "auto" (wrk when installed).
        seed_orders: orders the seeding items generate and load (and the memory item seeds).
        memory_seconds: seconds of mixed load before the memory item reads the service's RSS.
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
        memory_seconds = min(memory_seconds, 5.0)
    tool = pick_generator(generator)
    items: list[BenchItem] = []

    def done(item: BenchItem) -> None:
        items.append(item)
        if on_item is not None:
            on_item(item)

    http = [name for name in wanted if name in HTTP_ITEMS]
    if http:
        bench_http(http, tool, duration, connections, done)
    data = [name for name in wanted if name in DATA_ITEMS]
    if data:
        bench_data(data, seed_orders, done, memory_seconds)
    report = BenchReport(items=items)
    if record:
        _record(report)
    return report


def _record(report: BenchReport) -> None:
    """Append every item to the journal, with its ratios to the ceiling when there is one."""
    from labkit import journal

    table = report.table
    for item in report.items:
        ratios = {}
        for column in ("x_rps", "x_p50", "x_p99", "fastapi_x_rps", "fastapi_x_p99"):
            if column in table and pd.notna(table.loc[item.name, column]):
                ratios[column] = float(table.loc[item.name, column])
        report.journal_ids.append(
            journal.record(
                "bench",
                {**item.metrics(), **ratios},
                label=item.name,
                scenario=item.what,
                settings=settings_for(item.name),
            )
        )
