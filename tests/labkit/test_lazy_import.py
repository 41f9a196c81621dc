"""`import labkit` and `labkit --help` load no heavy library; each `lk.` name loads on first use."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import labkit as lk

HEAVY = ("pandas", "matplotlib", "duckdb", "schemathesis", "sqlalchemy", "locust", "numpy")


def _modules_loaded_by(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running `code`."""
    script = (
        f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "code",
    [
        "import labkit",
        "import contextlib, io\nfrom labkit.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])",
    ],
    ids=["import labkit", "labkit --help"],
)
def test_starting_loads_no_heavy_library(code: str) -> None:
    assert _modules_loaded_by(code) & set(HEAVY) == set()


def test_a_name_loads_its_module_on_first_use() -> None:
    loaded = _modules_loaded_by("import labkit\nlabkit.journal")

    assert "duckdb" in loaded


def test_a_function_keeps_its_name_when_its_namesake_module_is_imported() -> None:
    for name in ("course", "doctor"):
        importlib.import_module(f"labkit.{name}")  # binds the module on the package

        assert callable(getattr(lk, name)), name
        assert getattr(lk, name).__module__ == f"labkit.{name}"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        lk.nothing_here  # noqa: B018


def test_dir_lists_every_public_name_before_it_is_loaded() -> None:
    assert set(lk.__all__) <= set(dir(lk))
