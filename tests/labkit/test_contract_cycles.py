"""Reference cycles and shared references end, and the work they cost grows with the document.

Hypothesis builds valid documents whose schemas reference each other at random through every
keyword that holds a sub-schema, cycles included; load, lint, diff and `resolved` must finish
and stay within a budget proportional to the document's size (counted, not timed).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import contract

KEYWORDS = ("properties", "items", "additionalProperties", "anyOf", "oneOf", "allOf", "not")


def _ref(i: int) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/S{i}"}


def _schema(links: list[tuple[str, int]], nullable: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["object", "null"] if nullable else "object"}
    for n, (keyword, target) in enumerate(links):
        if keyword == "properties":
            schema.setdefault("properties", {})[f"p{n}"] = _ref(target)
            schema.setdefault("required", []).append(f"p{n}")
        elif keyword in ("anyOf", "oneOf", "allOf"):
            schema.setdefault(keyword, []).append(_ref(target))
        else:
            schema[keyword] = _ref(target)
    return schema


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid 3.1 document: n schemas linked at random (cycles likely), m operations using them."""
    n = draw(st.integers(1, 12))
    link = st.tuples(st.sampled_from(KEYWORDS), st.integers(0, n - 1))
    schemas = {
        f"S{i}": _schema(draw(st.lists(link, max_size=4)), draw(st.booleans())) for i in range(n)
    }
    paths: dict[str, Any] = {}
    for j in range(draw(st.integers(1, 4))):
        body = {"content": {"application/json": {"schema": _ref(draw(st.integers(0, n - 1)))}}}
        reply = {"description": "ok", **body}
        paths[f"/v1/things-{j}"] = {
            "post": {"requestBody": body, "responses": {"201": reply}},
            "get": {"responses": {"200": reply}},
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "cycles", "version": "1.0.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _nodes(node: Any) -> int:
    if isinstance(node, dict):
        return 1 + sum(_nodes(v) for v in node.values())
    if isinstance(node, list):
        return 1 + sum(_nodes(v) for v in node)
    return 1


def _distinct(node: Any, seen: set[int]) -> int:
    """Containers reachable from `node`, each shared one counted once."""
    if not isinstance(node, dict | list) or id(node) in seen:
        return 0
    seen.add(id(node))
    children = node.values() if isinstance(node, dict) else node
    return 1 + sum(_distinct(v, seen) for v in children)


def _mutate(doc: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    schemas = new["components"]["schemas"]
    name = data.draw(st.sampled_from(sorted(schemas)))
    change = data.draw(st.sampled_from(["drop-property", "nullable", "bound", "branch"]))
    target = schemas[name]
    if change == "drop-property" and target.get("properties"):
        target["properties"].pop(next(iter(target["properties"])))
    elif change == "nullable":
        target["type"] = ["object", "null"]
    elif change == "bound":
        target["maxProperties"] = 3
    else:
        target.setdefault("oneOf", []).append({"type": "string"})
    return new


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents(), data=st.data())
def test_cyclic_and_shared_documents_load_lint_and_diff_within_a_linear_budget(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    spec = contract.load(doc)
    size = _nodes(doc)
    assert _distinct(spec.resolved, set()) <= 2 * size  # shared, not copied per path
    report = contract.lint(spec)
    assert report.operations == len(spec.operations)
    assert len(spec.memo) <= 4 * size  # each schema read once per question
    changed = contract.diff(doc, _mutate(doc, data))
    assert contract.diff(doc, doc).changes == []
    assert all(c.level in ("breaking", "potentially-breaking", "safe") for c in changed)


def _chain(length: int) -> dict[str, Any]:
    """Each schema refers to the next one four times: 4**length paths through the document."""
    schemas: dict[str, Any] = {
        f"S{i}": {
            "type": "object",
            "properties": {"a": _ref(i + 1), "b": _ref(i + 1)},
            "anyOf": [_ref(i + 1)],
            "allOf": [_ref(i + 1)],
        }
        for i in range(length)
    }
    schemas[f"S{length}"] = {"type": "object", "anyOf": [_ref(0)]}  # and back to the start
    body = {"content": {"application/json": {"schema": _ref(0)}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "chain", "version": "1.0.0"},
        "paths": {
            "/v1/x": {
                "post": {"requestBody": body, "responses": {"200": body | {"description": "ok"}}}
            }
        },
        "components": {"schemas": schemas},
    }


def test_a_long_chain_of_shared_references_is_read_once_per_schema() -> None:
    doc = _chain(18)
    spec = contract.load(doc)
    assert _distinct(spec.resolved, set()) <= 2 * _nodes(doc)
    contract.lint(spec)
    new = copy.deepcopy(doc)
    new["components"]["schemas"]["S17"]["properties"]["c"] = {"type": "string"}
    report = contract.diff(doc, new)
    assert {"request-field-added", "response-field-added"} <= report.codes
