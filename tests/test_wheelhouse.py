"""The trainer's offline install: `make wheelhouse`, then `make setup` with the index disabled."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NO_INDEX = "http://127.0.0.1:9/no-index-here"  # any index use fails at once


@pytest.mark.timeout(900)
def test_a_checkout_with_a_wheelhouse_sets_up_with_no_index(tmp_path: Path) -> None:
    if shutil.which("make") is None or shutil.which("git") is None:
        pytest.skip("needs make and git")
    checkout = tmp_path / "workbench"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(checkout)], check=True)
    for name in ("Makefile", "pyproject.toml"):  # the working tree's, as a trainer would copy it
        shutil.copy(ROOT / name, checkout / name)
    subprocess.run(["make", "-C", str(checkout), "wheelhouse"], check=True, capture_output=True)
    offline = {**os.environ, "PIP_INDEX_URL": NO_INDEX, "PIP_NO_CACHE_DIR": "1"}
    setup = subprocess.run(
        ["make", "-C", str(checkout), "setup"], env=offline, capture_output=True, text=True
    )
    assert setup.returncode == 0, setup.stderr[-2000:]
    python = checkout / ".venv" / "bin" / "python"
    for check in (
        ["-c", "import labkit, sample_service, jupyterlab, nbval"],
        ["-m", "locust", "-V"],
    ):
        ran = subprocess.run([str(python), *check], capture_output=True, text=True)
        assert ran.returncode == 0, ran.stderr[-2000:]
