"""The set-up files agree with each other, and `make` behaves as the README says."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {str(Requirement(spec)) for spec in specs}


def _environment_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [item["pip"] for item in env["dependencies"] if isinstance(item, dict)]
    specs = [spec for section in pip_sections for spec in section if not spec.startswith("-")]
    return {str(Requirement(spec)) for spec in specs}


def test_environment_yml_lists_the_same_requirements_as_pyproject() -> None:
    assert _environment_requirements() == _pyproject_requirements()


def test_environment_yml_installs_the_project_itself() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert "--editable ." in pip


@pytest.fixture
def make_project(tmp_path: Path) -> Path:
    """A copy of the Makefile and pyproject.toml with an already installed fake venv."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(shutil.which("python3") or "/usr/bin/python3")
    # The Makefile names its stamp by the checksum of pyproject.toml.
    checksum = subprocess.run(
        ["cksum", "pyproject.toml"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()[0]
    (tmp_path / ".venv" / f".installed-{checksum}").touch()
    return tmp_path


def test_make_without_a_target_lists_the_targets() -> None:
    out = subprocess.run(
        ["make", "-s"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for target in ("lab", "test", "setup"):
        assert f"make {target}" in out


def test_make_setup_installs_nothing_when_pyproject_is_unchanged(make_project: Path) -> None:
    up_to_date = subprocess.run(["make", "-q", "setup"], cwd=make_project)
    assert up_to_date.returncode == 0


def test_make_setup_reinstalls_when_pyproject_changes(make_project: Path) -> None:
    pyproject = make_project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# a new dependency\n")
    stale = subprocess.run(["make", "-q", "setup"], cwd=make_project)
    assert stale.returncode == 1
