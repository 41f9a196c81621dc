"""`labkit handout`: what a trainer gives learners — the workbench without the solutions.

The handout is the checkout's tracked files (or, outside git, every file but caches and
virtual environments), less `exercises/solutions/`, plus `wheelhouse/` when one was built, so
the room installs offline. It goes to a new folder, or a zip when the target ends in `.zip`.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import BadArgument

__all__ = ["Handout", "handout"]

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = Path("exercises") / "solutions"
_NEVER = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache",
          ".ipynb_checkpoints", ".labkit"}  # fmt: skip


@dataclass(frozen=True)
class Handout:
    """Where the handout went and what it holds."""

    path: Path
    files: int
    wheels: int

    def __str__(self) -> str:
        wheels = f", {self.wheels} wheels for an offline install" if self.wheels else ""
        return f"handout at {self.path}: {self.files} files, no solutions{wheels}"


def handout(target: str | Path, *, root: Path = ROOT) -> Handout:
    """Write the learners' copy of `root` to `target` (a new folder, or a `.zip` file).

    Taught in exercises/TRAINERS.md. Example: `labkit handout ~/workshop.zip`
    """
    target = Path(target).expanduser().resolve()
    if target.exists() and (target.is_file() or any(target.iterdir())):
        raise BadArgument(f"{target} already exists; give a new folder or .zip name")
    files = [f for f in _files(root) if SOLUTIONS not in f.parents and f != SOLUTIONS]
    wheels = sorted((root / "wheelhouse").glob("*.whl"))
    everything = files + [w.relative_to(root) for w in wheels]
    if target.suffix == ".zip":
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for relative in everything:
                archive.write(root / relative, Path(root.name) / relative)
    else:
        for relative in everything:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / relative, target / relative)
    return Handout(target, len(files), len(wheels))


def _files(root: Path) -> list[Path]:
    """The files that make the workbench: git's list when this is a checkout."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=False
    )
    if listed.returncode == 0 and listed.stdout:
        names = [Path(n) for n in listed.stdout.decode().split("\0") if n]
        return [n for n in names if (root / n).is_file()]
    return [
        p.relative_to(root)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not _NEVER.intersection(p.relative_to(root).parts)
    ]
