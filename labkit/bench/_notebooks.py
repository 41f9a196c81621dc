"""The notebook items: each lesson run in a fresh kernel and timed, then the suite's total.

The course promises each notebook in well under a minute (aim: 30 s) and the whole suite in
4 minutes, run one after another; these items measure both on this machine. The run is the
one `labkit timings` makes (nbclient, the workbench's root as the working directory).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from labkit.bench._report import BenchItem

__all__ = ["NOTEBOOK_TARGET_S", "SUITE_TARGET_S", "bench_notebooks"]

NOTEBOOK_TARGET_S = 30.0
SUITE_TARGET_S = 240.0


def bench_notebooks(done: Callable[[BenchItem], None], root: Path | None = None) -> None:
    """Time every lesson notebook (one item each), then their sum (`notebooks_total`)."""
    from nbclient.exceptions import CellExecutionError

    from labkit.timings import ROOT, run_seconds

    lessons = sorted(((root or ROOT) / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    total, failed = 0.0, 0
    for lesson in lessons:
        note, errors = f"target <= {NOTEBOOK_TARGET_S:g} s", 0
        try:
            seconds = run_seconds(lesson)
        except CellExecutionError as exc:
            seconds, errors, failed = float("nan"), 1, failed + 1
            note = f"failed: {str(exc).strip().splitlines()[-1][:120]}"
        total += 0.0 if errors else seconds
        name, what = f"notebook_{lesson.stem[:2]}", f"{lesson.stem} in a fresh kernel"
        done(BenchItem(name=name, what=what, seconds=seconds, unit="s", errors=errors, note=note))
    done(
        BenchItem(
            name="notebooks_total",
            what=f"the {len(lessons)} lesson notebooks, one after another",
            seconds=total,
            unit="s",
            errors=failed,
            note=f"target <= {SUITE_TARGET_S:g} s; failed notebooks not counted",
        )
    )
