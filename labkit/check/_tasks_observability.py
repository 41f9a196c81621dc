"""Module 10 (observability): P95 per route from a live service's access log; burn-rate pages
for an SLO whose period is a week."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import duckdb
import numpy as np
import pandas as pd

from labkit.check._registry import Failed, task
from labkit.check._shop import live_shop
from labkit.slo import SLO, BurnRateRule

_COLUMNS = ("route", "requests", "p95_ms")


def _of_run(log: pd.DataFrame, since: float) -> pd.DataFrame:
    """The access-log lines of the API (routes under /v1/) answered since the run began."""
    return log[(log["ts"] >= since) & log["route"].str.startswith("/v1/", na=False)]


def _run() -> tuple[float, pd.DataFrame]:
    """Requests before the run (a sign-in, reads), then the run; its start and the log."""
    service = live_shop()
    with service.login("customer") as client:
        for _ in range(5):
            client.get("/v1/categories")
        time.sleep(0.05)
        since = time.time()
        for i in range(30):  # the first read of each product misses the cache, the next hits
            client.get(f"/v1/products/{1 + i % 15}")
        for i in range(20):  # a few large pages among small ones: a tail worth a percentile
            client.get("/v1/products", params={"limit": 100 if i % 4 == 0 else 2})
        for _ in range(10):
            client.get("/v1/categories")
    deadline = time.monotonic() + 5
    while True:  # the service writes each line after its response; wait for the last ones
        log = service.logs().df()
        if len(_of_run(log, since)) >= 60 or time.monotonic() > deadline:
            return since, log
        time.sleep(0.05)


@task(
    "10.1",
    "p95_per_route",
    title="P95 per route from the access log, for one run only",
    given={"columns": ["ts", "method", "route", "path", "status", "duration_ms", "request_id"]},
    hints=(
        "The check signs in and reads a little, then runs 60 requests over 3 routes, and runs "
        "your query on its service's log as `log` with $since = the run's start (epoch seconds).",
        "`path` is the URL (one per product id); `route` is the template the service matched. "
        "An average is not a percentile.",
        "Filter `ts` against $since, group by the template rather than the URL, and let one of "
        "DuckDB's quantile functions compute the 95th percentile.",
    ),
)
def p95_per_route(sql: str) -> None:
    """One row per route the run used, its request count, and a P95 between the right samples."""
    if not isinstance(sql, str) or "log" not in sql:
        raise Failed("the answer must be a DuckDB query (text) that reads the relation `log`")
    since, log = _run()
    con = duckdb.connect()
    con.register("log", log)
    try:
        got = con.execute(sql, {"since": since} if "$since" in sql else None).df()
    except duckdb.Error as exc:
        raise Failed(f"DuckDB refused the query: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    missing = [column for column in _COLUMNS if column not in got]
    if missing:
        raise Failed(f"the result needs columns {list(_COLUMNS)}; missing {missing}")
    run = _of_run(log, since)
    expected = run.groupby("route")["duration_ms"]
    rows, routes = sorted(map(str, got["route"])), sorted(expected.groups)
    if rows != routes:
        odd = [row for row in rows if row not in routes] or [r for r in routes if r not in rows]
        raise Failed(
            f"{len(rows)} row(s) for the {len(routes)} routes the run used ({', '.join(routes)}); "
            f"not matching them: {', '.join(odd[:4])}{' …' if len(odd) > 4 else ''}"
        )
    for route, durations in expected:
        row = got[got["route"] == route].iloc[0]
        if int(row["requests"]) != len(durations):
            raise Failed(f"{route}: {row['requests']} requests, but the run made {len(durations)}")
        low, high = (
            np.quantile(durations, 0.95, method="lower"),
            np.quantile(durations, 0.95, method="higher"),
        )
        if not low - 1e-6 <= float(row["p95_ms"]) <= high + 1e-6:
            raise Failed(
                f"{route}: p95_ms = {float(row['p95_ms']):.3f}, but the run's P95 lies between "
                f"{low:.3f} and {high:.3f} ms"
            )


_HOUR = 3600
_SLO = SLO("availability", 0.999)
_OUTAGE = (7 * _HOUR, 7 * _HOUR + 20 * 60)  # 10 % of requests fail for 20 minutes
_PAGE_WITHIN_S = 3 * 60
_QUIET_AFTER_S = 35 * 60


def _log(hours: float, bad: Callable[[np.ndarray], np.ndarray]) -> pd.DataFrame:
    """One request a second for `hours`; those where `bad(ts)` holds answered 500."""
    ts = np.arange(0, hours * _HOUR, dtype=float)
    return pd.DataFrame({"ts": ts, "status": np.where(bad(ts), 500, 200), "duration_ms": 5.0})


def _firing(rules: tuple[BurnRateRule, ...], log: pd.DataFrame) -> pd.Series:
    """Whether any page fires, every 30 s of the log (index: seconds from its start)."""
    frame = _SLO.evaluate(log, rules=rules, step=30.0).frame
    return pd.Series(frame.filter(like="fires").any(axis=1).to_numpy(), index=frame["t"])


@task(
    "10.2",
    "weekly_burn_rate_pages",
    title="Burn-rate pages for an SLO measured over a week",
    given={"objective": 0.999, "period_days": 7},
    hints=(
        "The check replays 4 access logs it does not show you (1 request a second, hours "
        "long): a quiet week, a blip, an outage and a slow burn, and judges your page rules.",
        "A burn rate of 1 spends the budget in exactly the SLO's period; the SRE workbook's "
        "14.4 and 6 are worked out for a 30-day period, not for 7 days.",
        "burn rate = share of the budget * period / long window; keep each short window a "
        "twelfth of its long one.",
    ),
)
def weekly_burn_rate_pages(rules: Iterable[BurnRateRule]) -> None:
    """Quiet on budget-rate errors and on a blip; an outage paged fast and briefly; a slow burn paged."""
    rules = tuple(rules) if isinstance(rules, list | tuple) else ()
    pages = tuple(r for r in rules if isinstance(r, BurnRateRule) and r.severity == "page")
    if not pages:
        raise Failed("give a list of lk.slo.BurnRateRule(long_s, short_s, burn_rate, 'page')")
    quiet = _firing(pages, _log(10, lambda ts: ts % 1000 == 999))  # 0.1 %: burn rate 1
    if quiet.any():
        raise Failed(
            "paged during a quiet week: errors at exactly the budgeted rate (0.1 %) spend the "
            f"budget in 7 days, which is the plan (first page after {quiet.idxmax() / 60:.0f} min)"
        )
    if _firing(pages, _log(4, lambda ts: (ts >= 2 * _HOUR) & (ts < 2 * _HOUR + 10))).any():
        raise Failed("paged on a blip: 10 failed requests in 10 s, on an otherwise clean day")
    start, end = _OUTAGE
    outage = _firing(pages, _log(8, lambda ts: (ts >= start) & (ts < end) & (ts % 10 == 0)))
    during = outage[outage.index >= start]
    if not during.any():
        raise Failed("never paged during 20 minutes in which 10 % of requests failed")
    if (after := during.idxmax() - start) > _PAGE_WITHIN_S:
        raise Failed(
            f"paged {after / 60:.1f} min after 10 % of requests began to fail; a page should "
            f"come within {_PAGE_WITHIN_S // 60} min"
        )
    if (late := outage[outage.index > end + _QUIET_AFTER_S]).any():
        raise Failed(
            f"still paging {(late[late].index.max() - end) / 60:.0f} min after the errors "
            f"stopped; it should end within {_QUIET_AFTER_S // 60}"
        )
    if not _firing(pages, _log(10, lambda ts: ts % 500 == 499)).any():
        raise Failed(
            "never paged while 0.2 % of requests failed for 10 hours: that spends a week's "
            "budget in 3.5 days"
        )
