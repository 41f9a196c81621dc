"""`labkit timings`: how long each module takes, measured, and the workshop agendas built from it.

Each notebook and exercise is run in a fresh kernel and timed (the machine's share), and its
header's **Time** is read (the learner's share: reading, thinking, typing). The trainer guide
quotes the table and agendas this writes between its markers; rerun it rather than edit them.
"""

from __future__ import annotations

import platform
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat

from labkit.errors import BadArgument

__all__ = ["ModuleTiming", "agendas", "measure", "render", "write_guide"]

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- timings:start -->", "<!-- timings:end -->"
_TIME = re.compile(r"\*\*Time:\*\*\s*~?\s*(\d+)\s*min")
# A workshop day: sessions of learning time between breaks, in minutes.
_FORMATS = {"half day": (90, 90), "one day": (90, 90, 90, 90), "two days": (90,) * 8}
_BREAK_MIN = 15


@dataclass(frozen=True)
class ModuleTiming:
    """One module: the learner's minutes (from the headers) and the machine's seconds (run)."""

    module: str
    title: str
    lesson_min: int
    exercise_min: int
    lesson_run_s: float
    exercise_run_s: float | None

    @property
    def total_min(self) -> int:
        """Minutes to plan for: both notebooks' stated times plus the machine's run time."""
        run_s = self.lesson_run_s + (self.exercise_run_s or 0.0)
        return self.lesson_min + self.exercise_min + round(run_s / 60)


def _read(notebook: Path) -> Any:
    return nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]


def stated_minutes(notebook: Path) -> int:
    """The **Time:** a notebook's first cell states, in minutes."""
    first = _read(notebook).cells[0].source
    found = _TIME.search(first)
    if found is None:
        raise BadArgument(f"{notebook} states no **Time:** in its first cell; add one (~N min)")
    return int(found.group(1))


def run_seconds(notebook: Path, *, timeout: int = 600) -> float:
    """Execute the notebook in a fresh kernel from its own folder and time it.

    Its folder, as JupyterLab and nbval run it: lessons open files beside them
    (``contracts/shop-v1.yaml``).
    """
    from nbclient import NotebookClient

    nb = _read(notebook)
    where = {"metadata": {"path": str(notebook.resolve().parent)}}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=where)
    started = time.perf_counter()
    client.execute()
    return time.perf_counter() - started


def measure(root: Path = ROOT, *, run: bool = True) -> list[ModuleTiming]:
    """Time every module present: its lesson and, when it has one, its exercise."""
    timings = []
    for lesson in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        exercise = root / "exercises" / lesson.name
        has_exercise = exercise.exists()
        title = _read(lesson).cells[0].source.splitlines()[0].lstrip("# ")
        timings.append(
            ModuleTiming(
                module=lesson.name[:2],
                title=title,
                lesson_min=stated_minutes(lesson),
                exercise_min=stated_minutes(exercise) if has_exercise else 0,
                lesson_run_s=run_seconds(lesson) if run else 0.0,
                exercise_run_s=(run_seconds(exercise) if run else 0.0) if has_exercise else None,
            )
        )
    return timings


def agendas(timings: list[ModuleTiming]) -> dict[str, list[list[str]]]:
    """Pack the modules, in course order, into each format's sessions; what does not fit is left
    for a longer format (a module is never split across a break)."""
    plans: dict[str, list[list[str]]] = {}
    for name, sessions in _FORMATS.items():
        queue = list(timings)
        plan: list[list[str]] = []
        for capacity in sessions:
            session, used = [], 0
            while queue and used + queue[0].total_min <= capacity:
                used += queue[0].total_min
                session.append(f"{queue[0].module} ({queue[0].total_min} min)")
                queue.pop(0)
            plan.append(session)
        plans[name] = plan
    return plans


def render(timings: list[ModuleTiming]) -> str:
    """The table and the agendas as Markdown, with where and when they were measured."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {when} on {platform.node()} ({platform.machine()}, "
        f"Python {platform.python_version()}) by `labkit timings --write`.",
        "",
        "| module | lesson (stated) | exercise (stated) | lesson run | exercise run | plan for |",
        "|---|---|---|---|---|---|",
    ]
    for t in timings:
        exercise_run = f"{t.exercise_run_s:.0f} s" if t.exercise_run_s is not None else "none yet"
        lines.append(
            f"| {t.title} | {t.lesson_min} min | {t.exercise_min} min | {t.lesson_run_s:.0f} s "
            f"| {exercise_run} | {t.total_min} min |"
        )
    for name, plan in agendas(timings).items():
        lines += [
            "",
            f"**{name}** (sessions of learning time, {_BREAK_MIN} min breaks between):",
            "",
        ]
        for number, session in enumerate(plan, start=1):
            lines.append(f"{number}. {', '.join(session) if session else 'questions, catch-up'}")
        placed = {entry.split()[0] for session in plan for entry in session}
        left = [t.module for t in timings if t.module not in placed]
        if left:
            lines.append(f"\nDoes not fit: {', '.join(left)}; set those as homework.")
    return "\n".join(lines)


def write_guide(guide: Path, text: str) -> None:
    """Replace what stands between the guide's timing markers with `text`."""
    content = guide.read_text(encoding="utf-8")
    if START not in content or END not in content:
        raise BadArgument(f"{guide} has no {START} … {END} markers to write between")
    head, rest = content.split(START, 1)
    tail = rest.split(END, 1)[1]
    guide.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")
