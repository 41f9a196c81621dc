"""lk.contract holds on public API descriptions: every one loads, lints and diffs without a crash.

The corpus (tests/data/openapi/corpus, sources and licences in SOURCES.md) spans OpenAPI 3.0 and
3.1, JSON and YAML, 3 to 290 operations and up to 3 MB. Bounds are on CPU time, not wall time,
with a margin over the `labkit bench` targets so a busy machine cannot flip them.
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labkit import contract
from labkit.contract import _load

CORPUS = Path(__file__).parents[1] / "data" / "openapi" / "corpus"
DOCUMENTS = sorted(
    p.name for p in CORPUS.glob("*.gz") if "swagger2" not in p.name and ".tar" not in p.suffixes
)


def _cpu(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """The result of `fn(*args)` and the CPU seconds it took (other processes do not count)."""
    start = time.process_time()
    result = fn(*args)
    return result, time.process_time() - start


def test_the_corpus_has_at_least_ten_public_descriptions() -> None:
    assert len(DOCUMENTS) >= 10
    listed = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in listed for name in DOCUMENTS)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_public_description_loads_lints_and_diffs_within_bounds(name: str) -> None:
    path = CORPUS / name
    spec, loading = _cpu(contract.load, path)
    report, linting = _cpu(contract.lint, spec)
    same, diffing = _cpu(contract.diff, spec, contract.load(path))
    assert spec.operations and report.operations == len(spec.operations)
    assert same.changes == [], same.to_frame().head()
    megabytes = len(gzip.decompress(path.read_bytes())) / 1e6
    # A blow-up (exponential resolution, a cycle) takes minutes; these bounds catch it with room
    # for a busy CI machine. The speed targets themselves live in `labkit bench`.
    assert loading + linting <= 5.0 + 3.0 * megabytes, (loading, linting)
    assert diffing <= 10.0, diffing


def test_two_releases_of_a_payments_api_diff_into_graded_changes() -> None:
    old, new = CORPUS / "adyen-checkout-v70.yaml.gz", CORPUS / "adyen-checkout-v71.yaml.gz"
    report = contract.diff(old, new)
    assert report.changes and set(report.summary()) == {
        "breaking",
        "potentially-breaking",
        "safe",
    }
    assert report.bump == "major" and report.version_ok  # "70" → "71": a major version
    backwards = contract.diff(new, old)
    assert {c.code for c in backwards} != report.codes  # direction matters


def test_swagger_2_is_refused_in_one_line() -> None:
    with pytest.raises(contract.SpecLoadError, match=r"Swagger 2\.0 is OpenAPI 2") as e:
        contract.load(CORPUS / "slack-web-swagger2.json.gz")
    assert "\n" not in str(e.value)


def test_a_file_is_parsed_again_only_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: list[str] = []
    parse = _load._parse_text
    monkeypatch.setattr(
        _load, "_parse_text", lambda text, origin: parses.append(origin) or parse(text, origin)
    )
    path = tmp_path / "box.json.gz"
    path.write_bytes((CORPUS / "box-v2025.0.json.gz").read_bytes())
    first, second = contract.load(path), contract.load(path)
    assert second.doc == first.doc and second.doc is not first.doc  # each caller its own copy
    assert len(parses) == 1
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    contract.load(path)
    assert len(parses) == 2


def test_an_llm_api_is_read_without_the_old_misfires() -> None:
    report = contract.lint(CORPUS / "openai.yaml.gz")
    assert report.of("response-no-sensitive-fields") == []  # `token` is text, not a credential
    assert not {"openapi-schema-valid", "path-parameters-declared"} & report.rules_fired
    assert report.counts["error"] == 0
    strict = contract.lint(CORPUS / "openai.yaml.gz", profile="strict")
    assert strict.counts["error"] > 0  # the house profile still holds it to kebab-case and more
