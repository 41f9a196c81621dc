"""labkit's errors: one tree under LabkitError, one line in a notebook, the traceback one switch away."""

from __future__ import annotations

import inspect

import nbformat
import pytest
from nbclient import NotebookClient

import labkit as lk
from labkit import errors
from labkit.errors import DatabaseSpecError, LabkitError


def _error_classes() -> list[type[LabkitError]]:
    return [
        obj
        for _name, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, LabkitError)
    ]


def test_every_error_class_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""

    missing = [cls.__name__ for cls in _error_classes() if f" {cls.__name__} " not in doc]

    assert missing == []


def test_the_error_renders_as_its_class_and_message_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LABKIT_DEBUG", raising=False)

    with pytest.raises(DatabaseSpecError) as caught:
        lk.database("nosuchkind")

    lines = caught.value._render_traceback_()
    assert len(lines) == 1 and lines[0].startswith("DatabaseSpecError: 'nosuchkind'")


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_labkit_debug_hides_the_one_line_hook(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LABKIT_DEBUG", value)

    assert not hasattr(LabkitError("x"), "_render_traceback_")


def test_a_notebook_cell_shows_one_line_and_the_traceback_only_under_labkit_debug() -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import os\nos.environ.pop('LABKIT_DEBUG', None)\nimport labkit as lk"
        ),
        nbformat.v4.new_code_cell('lk.database("nosuchkind")'),
        nbformat.v4.new_code_cell("os.environ['LABKIT_DEBUG'] = '1'"),
        nbformat.v4.new_code_cell('lk.database("nosuchkind")'),
    ]

    NotebookClient(notebook, timeout=120, allow_errors=True).execute()

    plain, debug = (notebook.cells[i].outputs for i in (1, 3))
    assert [o["output_type"] for o in plain] == ["error"]
    assert plain[0]["ename"] == "DatabaseSpecError"
    assert len(plain[0]["traceback"]) == 1
    assert not any("labkit" in line and "File " in line for line in plain[0]["traceback"])
    assert any("_database.py" in line for line in debug[0]["traceback"])
