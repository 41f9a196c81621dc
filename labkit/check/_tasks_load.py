"""Module 09 (load testing): a locustfile whose statistics mean something."""

from __future__ import annotations

import tempfile
from pathlib import Path

from labkit.check._registry import Failed, task
from labkit.check._shop import live_shop
from labkit.errors import LabkitError
from labkit.load import LoadRun, run

_USERS = 4
_SECONDS = 4
_MAX_ROWS = 4  # one per endpoint; a row per product id means the names were left to the URL


@task(
    "09.1",
    "review_page_locustfile",
    title="A locustfile that reads products and their reviews, grouped by endpoint",
    hints=(
        "Run it with lk.load.run(svc, path, users=4, duration=4) and read run.stats.",
        "Locust keeps one statistics row per distinct name; by default the name is the URL.",
        "Pass name=... to each request (e.g. name='/v1/products/[id]'); check the reviews path "
        "in the service's /docs.",
    ),
)
def review_page_locustfile(locustfile: str) -> None:
    """A short run: no failures, a reviews endpoint, and a handful of rows, not one per id."""
    if not isinstance(locustfile, str) or "HttpUser" not in locustfile:
        raise Failed("the answer must be a locustfile's text, with a class based on HttpUser")
    with tempfile.TemporaryDirectory(prefix="labkit-check-") as folder:
        path = Path(folder) / "review_page.py"
        path.write_text(locustfile, encoding="utf-8")
        try:
            result = run(
                live_shop(), path, users=_USERS, duration=_SECONDS, progress=False, record=False
            )
        except LabkitError as exc:
            raise Failed(f"the load run failed: {exc}") from None
    _judge(result)


def _judge(result: LoadRun) -> None:
    rows = [name for name in result.stats.index if name != "Aggregated"]
    if not rows:
        raise Failed("the run made no requests")
    failures = int(result.stats["failures"].sum()) if "failures" in result.stats else 0
    if failures:
        raise Failed(f"{failures} request(s) failed; a load test measures working requests first")
    if len(rows) > _MAX_ROWS:
        raise Failed(
            f"{len(rows)} statistics rows (e.g. {rows[0]}, {rows[1]}): one per URL, so no row has "
            "enough samples for a percentile"
        )
    if not any("review" in name for name in rows):
        raise Failed(f"no request reads reviews; the rows are {rows}")
