"""Module 01 (API contract): a collection the linter accepts; a v2 that breaks no client."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from labkit.check._registry import Failed, task
from labkit.contract import ContractError, diff, lint, load

CATEGORIES_V1 = files("labkit.check") / "data" / "categories-v1.yaml"
# What task 01.1 is about; the rest of the linter's findings are for the lesson, not this task.
_COLLECTION_RULES = (
    "collection-paginated",
    "collection-cursor-pagination",
    "collection-object-response",
    "rate-limit-retry-after",
)
_OPERATIONS = {("get", "/categories"), ("get", "/categories/{category_id}")}


def _spec(text: Any) -> Any:
    """The learner's YAML loaded, or Failed with the loader's one-line reason."""
    if not isinstance(text, str) or not text.strip():
        raise Failed("the answer is empty: give the contract as YAML text")
    try:
        return load(text)
    except ContractError as exc:
        raise Failed(f"the contract does not load: {exc}") from None


def _operations(spec: Any) -> set[tuple[str, str]]:
    return {
        (method.lower(), path)
        for path, item in (spec.doc.get("paths") or {}).items()
        for method in item
        if method.lower() in {"get", "put", "post", "patch", "delete"}
    }


@task(
    "01.1",
    "categories_collection",
    title="A category collection the linter accepts",
    given={"contract": CATEGORIES_V1.read_text(encoding="utf-8")},
    hints=(
        "Run lk.contract.lint on your YAML and read each finding's `fix`.",
        "A list that can grow needs a page size and a way to ask for the next page.",
        "Return an object that holds the items and the next cursor; say when to retry a 429.",
    ),
)
def categories_collection(text: str) -> None:
    """None of the collection and rate-limit findings is left, and both operations remain."""
    spec = _spec(text)
    missing = _OPERATIONS - _operations(spec)
    if missing:
        raise Failed(f"keep both operations; missing: {sorted(missing)}")
    report = lint(spec)
    left = [f for f in report.findings if f.rule in _COLLECTION_RULES]
    if left:
        first = left[0]
        raise Failed(f"{len(left)} finding(s) left, first: [{first.rule}] {first.message}")


@task(
    "01.2",
    "categories_v2",
    title="A v2 that adds search and slugs without breaking a v1 client",
    given={"v1": CATEGORIES_V1.read_text(encoding="utf-8")},
    hints=(
        "lk.contract.diff(v1, your_v2).breaking lists what would break a client.",
        "A new query parameter is safe only if a v1 client, which never sends it, still works.",
        "A response may gain a property; a request may not gain a requirement.",
    ),
)
def categories_v2(text: str) -> None:
    """`q` on the list, `slug` on Category, and no breaking change from v1."""
    spec = _spec(text)
    listing = (spec.doc.get("paths") or {}).get("/categories", {}).get("get", {})
    if not any(p.get("name") == "q" for p in listing.get("parameters", [])):
        raise Failed("GET /categories has no `q` query parameter yet")
    category = spec.doc.get("components", {}).get("schemas", {}).get("Category", {})
    if "slug" not in category.get("properties", {}):
        raise Failed("the Category schema has no `slug` property yet")
    breaking = diff(CATEGORIES_V1.read_text(encoding="utf-8"), spec).breaking
    if breaking:
        raise Failed(f"{len(breaking)} breaking change(s), first: {breaking[0].message}")
