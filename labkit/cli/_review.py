"""`labkit review`: the design review from a config file, with an exit code a CI job can use.

Exit 0 when no risk reaches `--fail-on`, 1 when one does, 2 when the input is unusable.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_command"]

_LEVELS = ("error", "warning", "info", "never")


def add_command(commands: Any) -> None:
    """Add `review` to the `labkit` subcommands."""
    review = commands.add_parser(
        "review",
        help="review a design (contract, schema, workload, load) from a YAML config",
        description="Runs the design review the config names and writes one report as "
        "offline HTML and Markdown. Exits 1 when a risk at or above --fail-on is found.",
    )
    review.add_argument("config", help="a YAML file naming the inputs (see notebook 14)")
    review.add_argument(
        "--fail-on", choices=_LEVELS, default="error",
        help="exit 1 when a risk this severe or worse is found (never: always exit 0)",
    )  # fmt: skip
    review.add_argument(
        "-o", "--out", default="design-review",
        help="where the report goes: OUT.html and OUT.md (default: ./design-review)",
    )  # fmt: skip
    review.set_defaults(run=_review)


def _review(args: argparse.Namespace) -> int:
    from labkit.review import load_config, review

    report = review(**load_config(args.config))
    page, text = report.save(Path(args.out))
    print(report)
    for risk in report.risks():
        print(f"  {risk.severity:<7} {risk.area:<8} {risk.title}")
    for area, reason in report.not_reviewed.items():
        print(f"  {'-':<7} {area:<8} not reviewed: {reason}")
    print(f"report: {page.resolve()} (and {text.name})")
    failing = [] if args.fail_on == "never" else report.at_or_above(args.fail_on)
    if failing:
        print(f"{len(failing)} risk(s) at or above {args.fail_on}: failing")
    return 1 if failing else 0
