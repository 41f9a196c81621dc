"""labkit bench: wrk output parsing, the generator choice, and real (short) items in the journal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from labkit import bench, journal
from labkit.bench import BenchError, parse_wrk

WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:18778/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.97ms    3.54ms  36.49ms   96.96%
    Req/Sec    12.18k     2.66k   16.40k    63.64%
  Latency Distribution
     50%  295.00us
     75%  347.00us
     90%    1.20ms
     99%   1.02s
  13327 requests in 1.10s, 1.80MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  12113.69
Transfer/sec:      1.64MB
"""
needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


def test_parse_wrk_reads_throughput_percentiles_in_ms_and_errors() -> None:
    numbers = parse_wrk(WRK_OUTPUT)

    assert numbers["rps"] == 12113.69
    assert numbers["p50_ms"] == pytest.approx(0.295)
    assert numbers["p99_ms"] == pytest.approx(1020.0)
    assert numbers["errors"] == 10  # 7 non-2xx + 3 socket errors


def test_parse_wrk_without_a_result_says_what_wrk_printed() -> None:
    with pytest.raises(BenchError, match="unable to connect"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_unknown_items_are_refused_with_the_list() -> None:
    with pytest.raises(BenchError, match="ceiling, fastapi_hello, product"):
        bench.run(only=["warp_speed"])


def test_asking_for_wrk_without_wrk_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)

    with pytest.raises(BenchError, match="apt-get install wrk"):
        bench.run(only=["ceiling"], generator="wrk")


def test_ceiling_with_locust_records_generator_and_cpu() -> None:
    report = bench.run(only=["ceiling"], duration=2, generator="locust")

    item = report.items[0]
    assert (item.name, item.generator) == ("ceiling", "locust")
    assert item.rps is not None and item.rps > 0 and item.errors == 0
    assert item.generator_cpu_pct is not None and item.generator_cpu_pct > 0
    assert report.table.loc["ceiling", "x_rps"] == 1.0
    rows = journal.runs("bench")
    assert rows["label"].tolist() == ["ceiling"] and rows["id"].tolist() == report.journal_ids


@needs_wrk
def test_shop_endpoints_with_wrk_read_as_ratios_to_the_ceiling() -> None:
    report = bench.run(only=["ceiling", "product", "order"], duration=1, generator="wrk")

    table = report.table
    assert list(table.index) == ["ceiling", "product", "order"]
    assert (table["generator"] == "wrk").all()
    assert (table["errors"] == 0).all(), table[["errors", "note"]]
    assert (table["x_rps"] > 0).all()
    assert table.loc["product", "x_rps"] == pytest.approx(
        table.loc["product", "rps"] / table.loc["ceiling", "rps"]
    )
    assert set(journal.runs("bench")["label"]) == {"ceiling", "product", "order"}


@needs_wrk
def test_the_database_path_and_the_fastapi_ceiling_are_measured_and_labelled() -> None:
    report = bench.run(only=["fastapi_hello", "product_uncached"], duration=1, generator="wrk")

    assert list(report.table.index) == ["fastapi_hello", "product_uncached"]
    assert (report.table["errors"] == 0).all(), report.table[["errors", "note"]]
    runs = journal.runs("bench").set_index("label")
    assert json.loads(runs.loc["product_uncached", "settings"])["cache_ttl_seconds"] == 0
    assert json.loads(runs.loc["fastapi_hello", "settings"]) == {}


def test_data_items_seed_page_and_lint_at_a_small_scale() -> None:
    report = bench.run(only=["seed_sqlite", "pagination", "lint_500"], seed_orders=2_000)

    table = report.table
    assert list(table.index) == ["seed_sqlite", "pagination", "lint_500"]
    assert table.loc["seed_sqlite", "rate"] > 0 and table.loc["lint_500", "seconds"] > 0
    assert "depth 1,980" in table.loc["pagination", "note"]


def test_cli_bench_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    from labkit.cli import main

    assert main(["bench", "lint_500", "--no-journal"]) == 0
    out = capsys.readouterr().out
    assert "lint_500" in out and "operations/s" in out
    assert not journal.path().exists()


def test_import_time_is_measured_in_fresh_interpreters_beside_the_cli() -> None:
    report = bench.run(only=["import_time"], record=False)

    item = report.table.loc["import_time"]
    assert item["unit"] == "imports/s" and 0 < item["seconds"] < 60
    assert "`labkit --help`" in item["note"] and "bare interpreter" in item["note"]


def test_shop_items_read_as_ratios_to_the_fastapi_hello_world_too() -> None:
    report = bench.BenchReport(
        items=[
            bench.BenchItem("fastapi_hello", "hello", rps=1000.0, p50_ms=1.0, p99_ms=4.0),
            bench.BenchItem("product_page", "page", rps=400.0, p50_ms=2.0, p99_ms=10.0),
        ]
    )

    row = report.table.loc["product_page"]
    assert (row["fastapi_x_rps"], row["fastapi_x_p99"]) == (0.4, 2.5)
    assert "x_rps" not in report.table and "fastapi_x_rps" in report.text()


def test_the_products_page_is_measured_on_sqlite_and_postgresql_beside_fastapi() -> None:
    only = ["fastapi_hello", "product_page", "product_page_postgres"]
    report = bench.run(only=only, duration=1, generator="locust", record=False)

    table = report.table
    assert list(table.index) == only
    assert (table["errors"] == 0).all(), table[["errors", "note"]]
    assert (table.loc[only[1:], "fastapi_x_rps"] > 0).all()


def test_orders_are_measured_on_sqlite_and_postgresql_without_an_error() -> None:
    only = ["order", "order_postgres"]
    report = bench.run(only=only, duration=3, connections=4, generator="locust", record=False)

    table = report.table
    assert list(table.index) == only
    # The bench's own products are stocked for any run: no 409, no 401, nothing but 201s.
    assert (table["errors"] == 0).all(), table[["errors", "note"]]
    assert (table["rps"] > 0).all()


def test_seeding_is_measured_on_duckdb_too() -> None:
    report = bench.run(only=["seed_duckdb"], seed_orders=2_000, record=False)

    item = report.table.loc["seed_duckdb"]
    assert item["unit"] == "orders/s" and item["rate"] > 0 and "2,000 orders" in item["note"]


def test_memory_is_the_services_resident_set_after_a_seed_and_a_load() -> None:
    report = bench.run(only=["memory"], seed_orders=2_000, memory_seconds=2, record=False)

    item = report.table.loc["memory"]
    assert item["unit"] == "MB resident" and 20 < item["rate"] < 2_000
    assert "2,000 orders seeded" in item["note"] and "peak" in item["note"]


def test_notebooks_are_timed_one_by_one_and_in_total(tmp_path: Path) -> None:
    from labkit.bench._notebooks import bench_notebooks

    (tmp_path / "notebooks").mkdir()
    for name, source in (("01_quick", "x = 1"), ("02_broken", "raise ValueError('on purpose')")):
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        nbformat.write(notebook, tmp_path / "notebooks" / f"{name}.ipynb")
    items: list[bench.BenchItem] = []

    bench_notebooks(items.append, root=tmp_path)

    by_name = {item.name: item for item in items}
    assert list(by_name) == ["notebook_01", "notebook_02", "notebooks_total"]
    quick, broken, total = by_name.values()
    assert quick.errors == 0 and quick.seconds is not None and quick.seconds > 0
    assert broken.errors == 1 and "ValueError" in broken.note
    assert total.errors == 1 and total.seconds == quick.seconds
