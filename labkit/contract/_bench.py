"""What `labkit bench` measures of the contract tools: loading a large YAML file, linting, diffing.

Each function returns the fastest of a few timings with the rate and a note, for the bench
table; the targets are in the docstrings (2-core laptop).
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from labkit.contract._diff import diff
from labkit.contract._generate import make_large_spec
from labkit.contract._lint import lint
from labkit.contract._load import load

__all__ = ["bench_diff_500", "bench_load_lint_yaml"]

_OPERATIONS_PER_MB = 950  # what make_large_spec writes as YAML, measured


def _best_of(action: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        timings.append(time.perf_counter() - began)
    return min(timings)


def bench_load_lint_yaml(megabytes: float = 4.0, repeats: int = 3) -> dict[str, Any]:
    """Load (parse from disk, not from the cache) and lint a YAML description of `megabytes`.

    Target: 4 MB in at most 2 s.
    """
    doc = make_large_spec(int(megabytes * _OPERATIONS_PER_MB))
    text = yaml.dump(doc, sort_keys=False, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"openapi-{i}.yaml" for i in range(repeats)]
        for path in paths:  # a file of its own per run, so no run reads the parse cache
            path.write_text(text, encoding="utf-8")
        left = list(paths)
        seconds = _best_of(lambda: lint(load(left.pop())), repeats)
    size = len(text.encode()) / 1e6
    return {
        "name": "contract_load_lint_yaml",
        "seconds": seconds,
        "rate": size / seconds,
        "unit": "MB/s",
        "note": f"{size:.1f} MB, {len(doc['paths'])} paths, best of {repeats}",
    }


def bench_diff_500(repeats: int = 3) -> dict[str, Any]:
    """Diff two versions of a 500-operation description that differ in every resource.

    Target: at most 2 s.
    """
    old = make_large_spec(500)
    new = copy.deepcopy(old)
    for schema in new["components"]["schemas"].values():
        props = schema.get("properties") or {}
        if "name" in props:
            props["name"]["maxLength"] = 50  # a tightened request and a response constraint
            props["note"] = {"type": "string"}
    a, b = load(old), load(new)
    report = diff(a, b)
    seconds = _best_of(lambda: diff(a, b), repeats)
    return {
        "name": "contract_diff_500",
        "seconds": seconds,
        "rate": len(a.operations) / seconds,
        "unit": "operations/s",
        "note": f"{len(report)} changes, best of {repeats}",
    }
