"""Each diff code is found on a pair of contracts that differ by exactly that change."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from labkit import contract
from labkit.contract._compare import SCHEMA_CODES
from labkit.contract._diff import CODES

LIST, ITEM = "/v1/red-widgets", "/v1/red-widgets/{red_widget_id}"
Doc = dict[str, Any]


def _base() -> Doc:
    doc = contract.make_large_spec(5)
    widget = doc["components"]["schemas"]["RedWidget"]["properties"]
    widget["status"] = {"type": "string", "enum": ["draft", "live"]}
    write = doc["components"]["schemas"]["RedWidgetWrite"]["properties"]
    write["status"] = {"type": "string", "enum": ["draft", "live"]}
    write["note"] = {"type": "string", "maxLength": 200}
    return doc


def _op(doc: Doc, method: str, path: str = LIST) -> Doc:
    return doc["paths"][path][method]  # type: ignore[no-any-return]


def _props(doc: Doc, name: str) -> Doc:
    return doc["components"]["schemas"][name]["properties"]  # type: ignore[no-any-return]


def _required(doc: Doc, name: str) -> list[str]:
    return doc["components"]["schemas"][name]["required"]  # type: ignore[no-any-return]


def _require(doc: Doc, field: str, schema: Doc | None = None) -> None:
    if schema is not None:
        _props(doc, "RedWidgetWrite")[field] = schema
    _required(doc, "RedWidgetWrite").append(field)


def _query(name: str, *, required: bool = False, **schema: Any) -> Doc:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema or {"type": "string"},
    }


CHANGES: dict[str, Callable[[Doc], Any]] = {
    "path-removed": lambda d: d["paths"].pop(ITEM),
    "operation-removed": lambda d: _op(d, "delete", ITEM) and d["paths"][ITEM].pop("delete"),
    "required-parameter-added": lambda d: _op(d, "get")["parameters"].append(
        _query("region", required=True)
    ),
    "parameter-became-required": lambda d: _op(d, "get")["parameters"][1].update(required=True),
    "parameter-type-changed": lambda d: d["paths"][ITEM]["parameters"][0].update(
        schema={"type": "string"}
    ),
    "parameter-format-changed": lambda d: d["paths"][ITEM]["parameters"][0]["schema"].update(
        format="int64"
    ),
    "pagination-changed": lambda d: _op(d, "get")["parameters"].pop(1),
    "request-body-became-required": lambda d: _op(d, "post")["requestBody"].update(required=True),
    "required-request-field-added": lambda d: _require(d, "colour", {"type": "string"}),
    "request-field-became-required": lambda d: _require(d, "note"),
    "request-enum-narrowed": lambda d: _props(d, "RedWidgetWrite")["status"].update(enum=["draft"]),
    "request-type-changed": lambda d: _props(d, "RedWidgetWrite")["price_cents"].update(
        type="string"
    ),
    "request-format-changed": lambda d: _props(d, "RedWidgetWrite")["note"].update(format="email"),
    "response-field-removed": lambda d: _props(d, "RedWidget").pop("created_at"),
    "response-type-changed": lambda d: _props(d, "RedWidget")["price_cents"].update(type="string"),
    "response-format-changed": lambda d: _props(d, "RedWidget")["created_at"].update(format="date"),
    "status-code-removed": lambda d: _op(d, "get", ITEM)["responses"].pop("200"),
    "media-type-removed": lambda d: _op(d, "get", ITEM)["responses"]["200"].update(
        content={"application/xml": {"schema": {"type": "object"}}}
    ),
    "security-added": lambda d: _op(d, "get").update(security=[{"bearer": ["admin"]}]),
    "parameter-removed": lambda d: _op(d, "post").pop("parameters"),
    "request-field-removed": lambda d: _props(d, "RedWidgetWrite").pop("note"),
    "request-constraint-tightened": lambda d: _props(d, "RedWidgetWrite")["note"].update(
        maxLength=20
    ),
    "request-constraint-added": lambda d: _props(d, "RedWidgetWrite")["note"].update(minLength=2),
    "request-constraint-loosened": lambda d: _props(d, "RedWidgetWrite")["note"].pop("maxLength"),
    "request-constraint-changed": lambda d: _props(d, "RedWidgetWrite")["note"].update(
        contentMediaType="text/html"
    ),
    "request-pattern-changed": lambda d: _props(d, "RedWidgetWrite")["note"].update(pattern="^b"),
    "request-default-changed": lambda d: _props(d, "RedWidgetWrite")["note"].update(default="b"),
    "parameter-default-changed": lambda d: _op(d, "get")["parameters"][1]["schema"].update(
        default=7
    ),
    "request-type-narrowed": lambda d: _props(d, "RedWidgetWrite")["note"].update(type="string"),
    "request-branch-removed": lambda d: _props(d, "RedWidgetWrite")["note"].update(anyOf=[{}]),
    "request-branch-added": lambda d: _props(d, "RedWidgetWrite")["note"].update(
        anyOf=[{}, {"$ref": "#/components/schemas/RedWidget"}]
    ),
    "request-all-of-added": lambda d: _props(d, "RedWidgetWrite")["note"].update(
        allOf=[{"minLength": 1}]
    ),
    "request-all-of-removed": lambda d: _props(d, "RedWidgetWrite")["note"].pop("allOf"),
    "response-one-of-added": lambda d: _props(d, "RedWidget")["name"].update(
        oneOf=[{"type": "string"}]
    ),
    "response-type-widened": lambda d: _props(d, "RedWidget")["price_cents"].update(
        type=["integer", "string"]
    ),
    "response-type-narrowed": lambda d: _props(d, "RedWidget")["name"].update(type="string"),
    "response-optional-field-removed": lambda d: _props(d, "RedWidget").pop("tag"),
    "request-body-removed": lambda d: _op(d, "post").pop("requestBody"),
    "required-request-body-added": lambda d: _op(d, "get").update(
        requestBody={"required": True, "content": {"text/plain": {"schema": {}}}}
    ),
    "request-body-added": lambda d: _op(d, "get").update(
        requestBody={"content": {"text/plain": {"schema": {}}}}
    ),
    "request-media-type-removed": lambda d: _op(d, "post")["requestBody"]["content"].pop(
        "application/json"
    ),
    "request-media-type-added": lambda d: _op(d, "post")["requestBody"]["content"].update(
        {"text/csv": {"schema": {"type": "string"}}}
    ),
    "media-type-added": lambda d: _op(d, "get", ITEM)["responses"]["200"]["content"].update(
        {"text/csv": {"schema": {"type": "string"}}}
    ),
    "error-status-removed": lambda d: _op(d, "post")["responses"].pop("409"),
    "webhook-removed": lambda d: d.pop("webhooks"),
    "webhook-added": lambda d: d["webhooks"].update(
        {"widgetGone": copy.deepcopy(d["webhooks"]["widgetSold"])}
    ),
    "response-field-became-optional": lambda d: _required(d, "RedWidget").remove("created_at"),
    "response-field-became-nullable": lambda d: _props(d, "RedWidget")["name"].update(
        type=["string", "null"]
    ),
    "response-enum-widened": lambda d: _props(d, "RedWidget")["status"].update(
        enum=["draft", "live", "archived"]
    ),
    "success-status-added": lambda d: _op(d, "post")["responses"].update(
        {"200": {"description": "Replayed"}}
    ),
    "operation-id-changed": lambda d: _op(d, "get").update(operationId="listRedWidgets"),
    "path-added": lambda d: d["paths"].update({"/v1/blue-gizmos": copy.deepcopy(d["paths"][LIST])}),
    "operation-added": lambda d: d["paths"][ITEM].update(put=copy.deepcopy(_op(d, "patch", ITEM))),
    "optional-parameter-added": lambda d: _op(d, "get")["parameters"].append(_query("q")),
    "request-field-added": lambda d: _props(d, "RedWidgetWrite").update(tag={"type": "string"}),
    "request-enum-widened": lambda d: _props(d, "RedWidgetWrite")["status"]["enum"].append("gone"),
    "request-type-widened": lambda d: _props(d, "RedWidgetWrite")["note"].update(
        type=["string", "null"]
    ),
    "response-field-added": lambda d: _props(d, "RedWidget").update(tag={"type": "string"}),
    "error-status-added": lambda d: _op(d, "post")["responses"].update(
        {"409": {"description": "Conflict"}}
    ),
    "security-removed": lambda d: _op(d, "get").update(security=[]),
    "operation-deprecated": lambda d: _op(d, "get").update(deprecated=True),
}


# Starting points for changes the clean base cannot show: an optional body, an open operation.
BEFORE: dict[str, Callable[[Doc], Any]] = {
    "request-body-became-required": lambda d: _op(d, "post").update(
        requestBody={**_op(d, "post")["requestBody"], "required": False}
    ),
    "security-added": lambda d: _op(d, "get").update(security=[]),
    "request-type-narrowed": lambda d: _props(d, "RedWidgetWrite")["note"].update(
        type=["string", "null"]
    ),
    "request-pattern-changed": lambda d: _props(d, "RedWidgetWrite")["note"].update(pattern="^a"),
    "request-constraint-changed": lambda d: _props(d, "RedWidgetWrite")["note"].update(
        contentMediaType="text/plain"
    ),
    "request-branch-removed": lambda d: _props(d, "RedWidgetWrite")["note"].update(
        anyOf=[{}, {"$ref": "#/components/schemas/RedWidget"}]
    ),
    "request-branch-added": lambda d: _props(d, "RedWidgetWrite")["note"].update(anyOf=[{}]),
    "request-all-of-removed": lambda d: _props(d, "RedWidgetWrite")["note"].update(
        allOf=[{"minLength": 1}]
    ),
    "response-type-narrowed": lambda d: _props(d, "RedWidget")["name"].update(
        type=["string", "integer"]
    ),
    "response-optional-field-removed": lambda d: _props(d, "RedWidget").update(
        tag={"type": "string"}
    ),
    "error-status-removed": lambda d: _op(d, "post")["responses"].update(
        {"409": {"description": "Conflict"}}
    ),
    "webhook-removed": lambda d: d.update(webhooks={"widgetSold": {"post": _op(d, "post")}}),
    "webhook-added": lambda d: d.update(webhooks={"widgetSold": {"post": _op(d, "post")}}),
}


def _suffix(code: str) -> str:
    return code.removeprefix("required-").split("-", 1)[1]


def test_every_code_has_a_case() -> None:
    """Every operation code has a case; every schema change has one on some side of the wire."""
    assert set(CHANGES) <= set(CODES)
    operation_codes = set(CODES) - set(SCHEMA_CODES)
    assert operation_codes <= set(CHANGES), operation_codes - set(CHANGES)
    covered = {_suffix(c) for c in CHANGES if c in SCHEMA_CODES}
    assert {_suffix(c) for c in SCHEMA_CODES} <= covered


def test_identical_contracts_have_no_changes() -> None:
    report = contract.diff(_base(), _base())
    assert report.changes == []
    assert report.required_bump == "none" and report.version_ok


@pytest.mark.parametrize("code", sorted(CHANGES))
def test_change_is_classified(code: str) -> None:
    old, new = _base(), _base()
    for doc in (old, new):
        if code in BEFORE:
            BEFORE[code](doc)
    CHANGES[code](new)
    report = contract.diff(old, new)
    found = [c for c in report.changes if c.code == code]
    assert found, report.to_frame()
    assert found[0].level == CODES[code]
    assert found[0].location.startswith(("/paths", "/webhooks", "/components"))


@pytest.mark.parametrize("name", ["page_token", "skip", "per_page"])
def test_removing_any_paging_parameter_the_linter_knows_is_a_pagination_change(name: str) -> None:
    old = _base()
    _op(old, "get")["parameters"].append(_query(name))
    report = contract.diff(old, _base())
    assert report.codes == {"pagination-changed"}, report.to_frame()


def test_safe_change_does_not_report_breaking() -> None:
    new = _base()
    CHANGES["response-field-added"](new)
    report = contract.diff(_base(), new)
    assert report.breaking == []
    assert report.codes == {"response-field-added"}


def test_breaking_change_without_major_bump_is_flagged() -> None:
    new = _base()
    new["info"]["version"] = "1.1.0"
    CHANGES["response-field-removed"](new)
    report = contract.diff(_base(), new)
    assert report.required_bump == "major" and report.bump == "minor"
    assert not report.version_ok


def test_breaking_change_with_major_bump_is_accepted() -> None:
    new = _base()
    new["info"]["version"] = "2.0.0"
    CHANGES["response-field-removed"](new)
    assert contract.diff(_base(), new).version_ok


def test_addition_needs_a_minor_bump() -> None:
    new = _base()
    CHANGES["path-added"](new)
    report = contract.diff(_base(), new)
    assert report.required_bump == "minor" and not report.version_ok
    new["info"]["version"] = "1.1.0"
    assert contract.diff(_base(), new).version_ok


def test_path_version_prefix_change_matches_operations_and_counts_as_major() -> None:
    new = _base()
    new["paths"] = {p.replace("/v1/", "/v2/"): item for p, item in new["paths"].items()}
    CHANGES["response-field-removed"](new)
    report = contract.diff(_base(), new)
    assert "path-removed" not in report.codes
    assert report.codes == {"response-field-removed"}
    assert report.bump == "major" and report.version_ok


def test_renamed_path_parameter_is_not_a_removed_path() -> None:
    new = _base()
    item = new["paths"].pop(ITEM)
    item["parameters"][0]["name"] = "id"
    new["paths"]["/v1/red-widgets/{id}"] = item
    assert "path-removed" not in contract.diff(_base(), new).codes


def test_recursive_schemas_diff_without_looping() -> None:
    def tree(extra: bool) -> Doc:
        doc = _base()
        node: Doc = {
            "type": "object",
            "properties": {
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
            },
        }
        if extra:
            node["properties"]["label"] = {"type": "string"}
        doc["components"]["schemas"]["Node"] = node
        _props(doc, "RedWidget")["tree"] = {"$ref": "#/components/schemas/Node"}
        return doc

    report = contract.diff(tree(False), tree(True))
    assert report.codes == {"response-field-added"}


def test_large_contracts_diff_every_operation() -> None:
    old, new = contract.make_large_spec(500), contract.make_large_spec(500, version="2.0.0")
    for name, schema in new["components"]["schemas"].items():
        if name.endswith("Page"):
            schema["properties"].pop("next_cursor")
    report = contract.diff(old, new)
    assert len([c for c in report.breaking if c.code == "response-field-removed"]) == 100
    assert report.version_ok


def test_report_renders() -> None:
    new = _base()
    CHANGES["path-removed"](new)
    report = contract.diff(_base(), new)
    assert "breaking" in report._repr_html_()
    assert list(report.to_frame().columns) == ["level", "code", "operation", "location", "message"]
    assert "not enough" in report.verdict


def test_compare_splits_missing_extra_and_changed() -> None:
    served = _base()
    CHANGES["path-removed"](served)
    CHANGES["path-added"](served)
    CHANGES["response-field-removed"](served)
    result = contract.compare(_base(), served)
    assert {c.code for c in result.missing} == {"path-removed"}
    assert {c.code for c in result.extra} == {"path-added"}
    assert {c.code for c in result.changed} == {"response-field-removed"}
    assert set(result.to_frame()["verdict"]) == {
        "missing in the service",
        "only in the service",
        "differs",
    }


@pytest.mark.parametrize(
    ("old", "new", "bump"),
    [
        ("1.2.3", "2.0.0", "major"),
        ("v1", "v1.1", "minor"),
        ("1.0.0", "1.0.1-beta.1", "patch"),
        ("2024-01-01", "2024-06-20", "changed"),
        ("2024-01-01", "2024-01-01", "none"),
    ],
)
def test_versions_compare_as_semver_only_when_they_are(old: str, new: str, bump: str) -> None:
    a, b = _base(), _base()
    a["info"]["version"], b["info"]["version"] = old, new
    assert contract.diff(a, b).bump == bump


def test_renamed_path_parameter_is_not_a_change() -> None:
    new = _base()
    item = new["paths"].pop(ITEM)
    item["parameters"][0]["name"] = "id"
    new["paths"]["/v1/red-widgets/{id}"] = item
    assert contract.diff(_base(), new).changes == []


def test_a_long_diff_shows_its_first_changes_and_keeps_all_in_the_frame() -> None:
    old = contract.make_large_spec(200)
    report = contract.diff(old, contract.make_large_spec(5))
    shown = report._repr_html_()
    assert len(report) > 100 and "more changes" in shown
    assert shown.count("<tr>") <= 51 and len(report.to_frame()) == len(report)
