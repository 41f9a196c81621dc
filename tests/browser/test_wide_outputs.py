"""The widest outputs of lessons 03 and 09 fit a 1,400-pixel window, measured in Chromium.

A notebook's output area in a 1,400-pixel JupyterLab window is about 1,100 pixels wide; each
rendering is laid out in a box that wide and must not need a horizontal scroll bar.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa

import labkit as lk
from labkit.load._result import HEADLINE, RunComparison

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)"),
]
OUTPUT_AREA_PX = 1_100


@pytest.fixture(scope="module")
def page() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1_400, "height": 900})
        yield page
        browser.close()


def _overflow(page: object, html: str) -> int:
    """Pixels the rendering sticks out of an output area of OUTPUT_AREA_PX (0 when it fits)."""
    page.set_content(f"<div id='out' style='width:{OUTPUT_AREA_PX}px'>{html}</div>")  # type: ignore[attr-defined]
    return int(
        page.evaluate(  # type: ignore[attr-defined]
            "() => { const o = document.getElementById('out');"
            " return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            " + Math.max(0, o.scrollWidth - o.clientWidth); }"
        )
    )


def test_a_plan_comparison_wraps_instead_of_overflowing(page: object) -> None:
    db = lk.database("sqlite", name="wide_outputs", fresh=True)
    try:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INT, body TEXT)"
            )
            conn.execute(
                sa.text("INSERT INTO reviews (product_id, body) VALUES (:p, :b)"),
                [{"p": i % 50, "b": "a fairly long review body " * 3} for i in range(2_000)],
            )
        sql = "SELECT * FROM reviews WHERE product_id = :p ORDER BY id DESC LIMIT 21"
        before = lk.explain(db, sql, {"p": 7})
        with db.engine.begin() as conn:
            conn.exec_driver_sql("CREATE INDEX ix_reviews_product_id ON reviews (product_id)")
        after = lk.explain(db, sql, {"p": 7})
        assert _overflow(page, lk.compare(before, after)._repr_html_()) == 0
    finally:
        db.drop()


def test_a_load_run_comparison_fits(page: object) -> None:
    endpoints = ["GET /v1/products/{product_id}/reviews", "GET /v1/products", "Aggregated"]
    columns = pd.MultiIndex.from_tuples(
        [(m, s) for m in HEADLINE for s in ("before", "after", "ratio")]
    )
    table = pd.DataFrame(123456.789, index=endpoints, columns=columns)
    comparison = RunComparison(before=None, after=None, table=table)  # type: ignore[arg-type]
    assert _overflow(page, comparison._repr_html_()) == 0
    # The wide table it replaced did overflow: the check can fail.
    assert _overflow(page, table.to_html()) > 0
