"""`labkit load` and `labkit bench`: the load-testing lab from a terminal.

Kept apart from cli.py so the other commands start without importing pandas or Locust's tooling.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from labkit.errors import BadArgument

if TYPE_CHECKING:
    from labkit.load._monitor import Tick

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Add `load` and `bench` to the `labkit` subcommands."""
    load = commands.add_parser(
        "load",
        help="load-test a service with Locust (headless) and keep the run in the journal",
        description="One Locust process uses one core at most; `labkit bench ceiling "
        "--generator locust` measures what it drives here. Use --processes beyond that.",
    )
    load.add_argument("target", nargs="?", help="URL to load; default: start the sample service")
    load.add_argument(
        "-s",
        "--scenario",
        default="catalog",
        help="catalog, orders, reviews, shop_day or a locustfile",
    )
    load.add_argument("-u", "--users", type=int, default=10)
    load.add_argument(
        "-r", "--spawn-rate", type=float, default=None, help="users started per second"
    )
    load.add_argument("-d", "--duration", type=float, default=10.0, help="seconds of load")
    load.add_argument(
        "-p", "--processes", type=int, default=1, help="Locust processes (--processes)"
    )
    load.add_argument("--db", default="sqlite", help="database of the started sample service")
    load.add_argument("--scale", type=int, default=1_000, help="orders seeded into it")
    load.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="a setting of the started service (repeatable), e.g. --set latency_ms=20; "
        "a lesson switch turns lab mode on",
    )  # fmt: skip
    load.add_argument("--p95-ms", type=float, default=None, help="judge the run against this P95")
    load.add_argument(
        "--error-rate", type=float, default=0.01, help="with --p95-ms: allowed errors"
    )
    load.add_argument("--label", default=None, help="free text kept in the journal")
    load.add_argument("--no-journal", action="store_true", help="do not record the run")
    load.set_defaults(run=_load)

    bench = commands.add_parser(
        "bench",
        help="measure the service's key endpoints against a bare ASGI ceiling, and more",
        description="HTTP items report throughput and P50/P99 as ratios to a bare ASGI app "
        "served the same way; wrk generates the load when installed, else Locust.",
    )
    bench.add_argument("items", nargs="*", help="items to run (default: all)")
    bench.add_argument(
        "--quick", action="store_true", help="2 s per endpoint, 20,000 seeded orders"
    )
    bench.add_argument("-d", "--duration", type=float, default=5.0, help="seconds per endpoint")
    bench.add_argument("-c", "--connections", type=int, default=8, help="requests in flight")
    bench.add_argument("--generator", choices=["auto", "wrk", "locust"], default="auto")
    bench.add_argument("--orders", type=int, default=1_000_000, help="orders the seed items load")
    bench.add_argument(
        "--memory-seconds", type=float, default=60.0,
        help="seconds of load before the memory item reads the service's resident memory",
    )  # fmt: skip
    bench.add_argument("--no-journal", action="store_true", help="do not record the results")
    bench.set_defaults(run=_bench)


def _load(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from labkit import load
    from labkit.journal import LESSON_SWITCHES
    from labkit.service import LiveService

    if args.target is not None and args.set:
        raise BadArgument(
            "--set configures the service labkit starts; with a target URL, set those "
            "settings on that service yourself, or leave the URL out."
        )
    settings: dict[str, Any] = {"rate_limit_enabled": False, **_settings(args.set)}
    if LESSON_SWITCHES & settings.keys():
        settings.setdefault("lab_mode", True)  # the service refuses switches outside lab mode
    with ExitStack() as stack:
        target: Any = args.target
        if target is None:
            print(
                f"starting the sample service ({args.db}, {args.scale:,} orders)…", file=sys.stderr
            )
            target = stack.enter_context(
                LiveService(db=args.db, scale=args.scale, settings=settings)
            )
        result = load.run(
            target,
            args.scenario,
            users=args.users,
            spawn_rate=args.spawn_rate,
            duration=args.duration,
            processes=args.processes,
            settings=settings if args.target is None else None,
            progress=_terminal_progress,
            record=not args.no_journal,
            label=args.label,
        )
    print(result.stats.round(1).to_string())
    print(f"\n{result.limits}")
    for warning in result.warnings:
        print(f"Locust: {warning}")
    if result.journal_id is not None:
        print(f"journal: run {result.journal_id} (lk.journal.runs())")
    if args.p95_ms is None:
        return 0
    verdict = result.slo(p95_ms=args.p95_ms, error_rate=args.error_rate)
    print(repr(verdict))
    return 0 if verdict else 1


def _bench(args: argparse.Namespace) -> int:
    from labkit import bench

    report = bench.run(
        only=args.items or None,
        quick=args.quick,
        duration=args.duration,
        connections=args.connections,
        generator=args.generator,
        seed_orders=args.orders,
        memory_seconds=args.memory_seconds,
        record=not args.no_journal,
        on_item=lambda item: print(f"measured {item.name}: {item.what}", file=sys.stderr),
    )
    print(report.text())
    generators = sorted({i.generator for i in report.items if i.generator})
    if generators:
        print(
            f"\nload generator: {', '.join(generators)}; ratios x_* are to the ceiling item, "
            "fastapi_x_* to the FastAPI hello-world"
        )
    return 0


def _settings(pairs: list[str]) -> dict[str, str]:
    """Parse repeated KEY=VALUE options."""
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadArgument(f"--set {pair!r} is not KEY=VALUE; write e.g. --set latency_ms=20.")
        settings[key.strip()] = value.strip()
    return settings


def _terminal_progress(tick: Tick | None) -> None:
    """Redraw one status line on stderr while Locust runs."""
    if tick is None:
        print(file=sys.stderr)
        return
    line = f"{tick.elapsed:5.1f}/{tick.duration:.0f} s  {tick.summary}"
    print(f"\r{line:<60}", end="", file=sys.stderr, flush=True)  # pad over a longer last line
