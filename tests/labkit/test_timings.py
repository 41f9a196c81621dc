"""`labkit timings`: stated times are read, modules pack into sessions, the guide is rewritten."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from labkit.errors import BadArgument
from labkit.timings import END, START, ModuleTiming, agendas, measure, render, write_guide


def _notebook(path: Path, header: str, code: str = "x = 1") -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(header), nbformat.v4.new_code_cell(code)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _timing(module: str, minutes: int) -> ModuleTiming:
    return ModuleTiming(module, f"{module} · t", minutes, 0, 0.0, None)


def test_a_lesson_and_its_exercise_are_run_and_their_stated_times_read(tmp_path: Path) -> None:
    _notebook(tmp_path / "notebooks" / "07_x.ipynb", "# 07 · X\n\n**Time:** ~25 min")
    _notebook(tmp_path / "exercises" / "07_x.ipynb", "# Ex\n\n**Time:** ~10 min")
    _notebook(tmp_path / "notebooks" / "08_y.ipynb", "# 08 · Y\n\n**Time:** ~5 min")
    first, second = measure(tmp_path)
    assert (first.module, first.lesson_min, first.exercise_min) == ("07", 25, 10)
    assert first.lesson_run_s > 0 and first.exercise_run_s is not None
    assert second.exercise_run_s is None and "none yet" in render([first, second])


def test_a_notebook_without_a_stated_time_is_named(tmp_path: Path) -> None:
    _notebook(tmp_path / "notebooks" / "01_x.ipynb", "# 01 · X")
    with pytest.raises(BadArgument, match=r"01_x\.ipynb states no"):
        measure(tmp_path, run=False)


def test_modules_fill_sessions_in_order_and_what_does_not_fit_is_named() -> None:
    plan = agendas([_timing("01", 60), _timing("02", 40), _timing("03", 80), _timing("04", 95)])
    assert plan["half day"] == [["01 (60 min)"], ["02 (40 min)"]]
    assert "04" not in str(plan["two days"])  # longer than any session: never placed
    assert "Does not fit: 03, 04" in render([_timing("01", 60), _timing("02", 40),
                                             _timing("03", 80), _timing("04", 95)])  # fmt: skip


def test_the_guide_is_rewritten_between_its_markers_only(tmp_path: Path) -> None:
    guide = tmp_path / "TRAINERS.md"
    guide.write_text(f"before\n{START}\nold\n{END}\nafter\n")
    write_guide(guide, "new table")
    assert guide.read_text() == f"before\n{START}\nnew table\n{END}\nafter\n"
    guide.write_text("no markers")
    with pytest.raises(BadArgument, match="markers"):
        write_guide(guide, "x")
