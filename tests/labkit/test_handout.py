"""`labkit handout`: the learners' copy has the exercises and never their solutions."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from labkit.cli import main
from labkit.errors import BadArgument
from labkit.handout import handout


def test_a_folder_handout_has_exercises_and_notebooks_but_no_solutions(tmp_path: Path) -> None:
    result = handout(tmp_path / "room")
    names = {p.relative_to(result.path).as_posix() for p in result.path.rglob("*") if p.is_file()}
    assert any(n.startswith("exercises/") and n.endswith(".ipynb") for n in names)
    assert any(n.startswith("notebooks/") for n in names) and "Makefile" in names
    assert not [n for n in names if n.startswith("exercises/solutions")]
    assert result.files == len(names) - result.wheels


def test_a_zip_handout_has_no_solutions_either(tmp_path: Path) -> None:
    assert main(["handout", str(tmp_path / "room.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "room.zip") as archive:
        names = archive.namelist()
    assert any("/exercises/" in n for n in names)
    assert not [n for n in names if "/exercises/solutions/" in n]


def test_an_existing_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "room").mkdir()
    (tmp_path / "room" / "mine.txt").write_text("keep me")
    with pytest.raises(BadArgument, match="already exists"):
        handout(tmp_path / "room")
    assert main(["handout", str(tmp_path / "room")]) == 2
