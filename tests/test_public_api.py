"""labkit's public surface changes only on purpose, and every `lk.<name>` a notebook uses exists."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

import pytest

import labkit as lk

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIRS = (ROOT / "notebooks", ROOT / "exercises")
LK_NAME = re.compile(r"\blk((?:\.[A-Za-z_]\w*)+)")

PUBLIC_NAMES = {
    "Database",
    "Diagram",
    "FaultProxy",
    "LabkitError",
    "LiveService",
    "LiveWorker",
    "PaymentsProvider",
    "Plan",
    "backup",
    "bucket_bias",
    "caching",
    "check",
    "checksums",
    "compare",
    "concurrency",
    "contract",
    "count_queries",
    "course",
    "database",
    "database_outage",
    "doctor",
    "er_diagram",
    "etl",
    "events",
    "expect_faster",
    "explain",
    "histogram_quantile",
    "journal",
    "lint_schema",
    "load",
    "measure_overload",
    "mock",
    "profile",
    "profile_request",
    "replica",
    "request_queries",
    "resilience",
    "rest",
    "restore",
    "review",
    "scrape",
    "security",
    "seed",
    "sequence_diagram",
    "slo",
    "streams",
    "styles",
    "suggest_indexes",
    "synthesize",
    "transactions",
    "try_index",
    "webhooks",
}


def test_public_names_are_exactly_the_pinned_ones() -> None:
    assert set(lk.__all__) == PUBLIC_NAMES


def test_all_is_sorted_and_every_name_exists() -> None:
    assert lk.__all__ == sorted(lk.__all__)
    missing = [name for name in lk.__all__ if not hasattr(lk, name)]
    assert missing == []


def _notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")


def _lk_references() -> list[tuple[str, str]]:
    refs = []
    for folder in NOTEBOOK_DIRS:
        for notebook in sorted(folder.rglob("*.ipynb")):
            if ".ipynb_checkpoints" in notebook.parts:
                continue
            refs += [
                (notebook.name, m.group(1)[1:]) for m in LK_NAME.finditer(_notebook_code(notebook))
            ]
    return refs


def _resolves(dotted: str) -> bool:
    """True when `lk.<dotted>` resolves, following attributes as far as they are modules or labkit objects."""
    target: object = lk
    for part in dotted.split("."):
        if not hasattr(target, part):
            return False
        target = getattr(target, part)
        if not getattr(target, "__module__", "labkit").startswith("labkit") and not hasattr(
            target, "__path__"
        ):
            return True  # beyond labkit (e.g. a DataFrame method): not ours to check
    return True


@pytest.mark.parametrize(
    "notebook, dotted",
    sorted(set(_lk_references()))
    or [pytest.param("", "", marks=pytest.mark.skip("no notebooks yet"))],
)
def test_every_lk_name_a_notebook_uses_exists(notebook: str, dotted: str) -> None:
    assert _resolves(dotted), f"{notebook} uses lk.{dotted}, which labkit does not have"


# Names whose modules are being restructured elsewhere; their docstrings gain the notebook there.
NOT_YET_TAUGHT = {"Plan", "compare", "contract", "explain", "suggest_indexes", "try_index"}
NOTEBOOK_NAME = re.compile(r"\b(\d\d)_([a-z_]+[a-z])\b")


def _taught_helpers() -> list[str]:
    """Every labkit function or class a notebook calls as `lk.<name>` or `lk.<module>.<name>`."""
    names = set()
    for _notebook, dotted in _lk_references():
        parts = dotted.split(".")
        if parts[0] in NOT_YET_TAUGHT or not _resolves(dotted):
            continue
        target = getattr(lk, parts[0])
        if not (callable(target) or isinstance(target, types.ModuleType)):
            continue  # a constant (a query text, a table of strategies) has no docstring of its own
        names.add(parts[0])
        if hasattr(target, "__path__") or type(target).__name__ == "module":
            if len(parts) > 1 and callable(getattr(target, parts[1], None)):
                names.add(".".join(parts[:2]))
            names.discard(parts[0])
    return sorted(names)


@pytest.mark.parametrize("dotted", _taught_helpers())
def test_every_helper_a_notebook_calls_names_the_notebook_that_teaches_it(dotted: str) -> None:
    from labkit.course import course

    helper: object = lk
    for part in dotted.split("."):
        helper = getattr(helper, part)
    slugs = {f"{m.number}_{m.slug}" for m in course().modules}
    taught = {"_".join(m) for m in NOTEBOOK_NAME.findall(helper.__doc__ or "")}

    assert taught, f"lk.{dotted}'s docstring names no notebook (write 'Taught in NN_name.')"
    assert taught <= slugs, f"lk.{dotted} names notebooks the course lacks: {taught - slugs}"
