"""Lint findings hold on real-world designs: each misfire seen on public APIs stays fixed.

Every case starts from the lint-clean generated contract and makes one real-world choice that a
rule used to misread; the rule must stay quiet on it and still fire on the defect next to it.
"""

from __future__ import annotations

from typing import Any

import pytest

from labkit import contract
from labkit.contract._lint import LintConfigError
from labkit.contract._rules import RULES

LIST, ITEM = "/v1/red-widgets", "/v1/red-widgets/{red_widget_id}"
Doc = dict[str, Any]
# What the default profile may call an error: an invalid or contradictory contract, or a leak.
DEFINITE = {
    "openapi-schema-valid",
    "path-parameters-declared",
    "no-secrets-in-query",
    "operation-id-unique",
    "success-response-documented",
    "get-no-request-body",
    "no-content-204",
    "security-scheme-known",
}


def _base() -> Doc:
    return contract.make_large_spec(5)


def _fired(doc: Doc, rule: str, profile: str = "default") -> list[str]:
    return [f.location for f in contract.lint(doc, profile=profile).of(rule)]


def test_default_profile_keeps_errors_for_definite_defects() -> None:
    errors = {r.id for r in contract.rules() if r.severity == "error"}
    assert errors == DEFINITE
    assert all(r.strict == "error" for r in RULES.values() if r.id in DEFINITE)


def test_strict_profile_grades_house_rules_higher_and_config_still_overrides() -> None:
    doc = _base()
    doc["paths"]["/v1/redWidgets"] = doc["paths"].pop(LIST)
    default, strict = contract.lint(doc), contract.lint(doc, profile="strict")
    assert {f.severity for f in default.of("path-kebab-case")} == {"info"}
    assert {f.severity for f in strict.of("path-kebab-case")} == {"error"}
    assert strict.profile == "strict" and "strict profile" in repr(strict)
    relaxed = contract.lint(doc, {"path-kebab-case": "off"}, profile="strict")
    assert "path-kebab-case" not in relaxed.rules_fired


def test_profile_is_read_from_a_config_file(tmp_path: Any) -> None:
    config = tmp_path / "lint.yaml"
    config.write_text("profile: strict\nrules:\n  info-contact: 'off'\n", encoding="utf-8")
    doc = _base()
    doc["paths"]["/v1/redWidgets"] = doc["paths"].pop(LIST)
    report = contract.lint(doc, config)
    assert report.profile == "strict" and report.counts["error"] > 0


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(LintConfigError, match="profile"):
        contract.lint(_base(), profile="lenient")


def _rename_params(doc: Doc, names: dict[str, str]) -> None:
    for p in doc["components"].get("parameters", {}).values():
        p["name"] = names.get(p["name"], p["name"])
    for item in doc["paths"].values():
        for op in [item, *[v for v in item.values() if isinstance(v, dict)]]:
            for p in op.get("parameters") or []:
                if "name" in p:
                    p["name"] = names.get(p["name"], p["name"])


def test_a_consistently_pascal_case_api_is_consistent() -> None:
    doc = _base()
    _rename_params(doc, {"red_widget_id": "RedWidgetId"})
    doc["paths"]["/v1/red-widgets/{RedWidgetId}"] = doc["paths"].pop(ITEM)
    doc["paths"][LIST]["get"]["parameters"] += [
        {"name": "SortOrder", "in": "query", "schema": {"type": "string", "enum": ["a"]}},
        {"name": "PageToken", "in": "query", "schema": {"type": "string", "maxLength": 9}},
    ]
    assert _fired(doc, "parameter-casing-consistent") == []
    doc["paths"][LIST]["get"]["parameters"].append(
        {"name": "max_price", "in": "query", "schema": {"type": "integer", "maximum": 9}}
    )
    assert len(_fired(doc, "parameter-casing-consistent")) == 1


def test_delete_returning_the_deleted_object_is_allowed() -> None:
    doc = _base()
    responses = doc["paths"][ITEM]["delete"]["responses"]
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/RedWidget"}}}
    responses["200"] = {"description": "Deleted", "content": body}
    responses.pop("204")
    assert _fired(doc, "delete-returns-204", "strict") == []
    responses["200"].pop("content")
    assert _fired(doc, "delete-returns-204", "strict")


def test_path_id_alone_needs_no_validation_error_and_4xx_or_default_documents_one() -> None:
    doc = _base()
    doc["paths"][ITEM]["get"]["responses"].pop("422")
    assert _fired(doc, "validation-error-documented") == []
    post = doc["paths"][LIST]["post"]["responses"]
    post["4XX"] = post.pop("422")
    assert _fired(doc, "validation-error-documented") == []
    post.pop("4XX")
    assert _fired(doc, "validation-error-documented")


def test_an_example_on_a_property_counts() -> None:
    doc = _base()
    for item in doc["paths"].values():
        for op in (v for k, v in item.items() if k != "parameters"):
            for part in [op.get("requestBody"), *(op.get("responses") or {}).values()]:
                for media in ((part or {}).get("content") or {}).values():
                    media.pop("example", None)
                    media.pop("examples", None)
    schemas = doc["components"]["schemas"]
    for schema in schemas.values():
        schema.pop("example", None)
        schema.pop("examples", None)
    assert _fired(doc, "examples-present")
    for schema in schemas.values():
        for prop in (schema.get("properties") or {}).values():
            prop["example"] = 1
    assert _fired(doc, "examples-present") == []


def test_a_version_in_the_server_url_counts() -> None:
    doc = _base()
    doc["paths"] = {p.removeprefix("/v1"): item for p, item in doc["paths"].items()}
    assert _fired(doc, "path-version-segment")
    doc["servers"] = [{"url": "https://api.example.com/v1"}]
    assert _fired(doc, "path-version-segment") == []


def test_explicit_empty_security_is_a_decision() -> None:
    doc = _base()
    doc.pop("security")
    assert _fired(doc, "write-operations-secured")
    doc["security"] = []
    assert _fired(doc, "write-operations-secured") == []


def _response_field(doc: Doc, name: str, schema: Doc) -> None:
    doc["components"]["schemas"]["RedWidget"]["properties"][name] = schema


def test_token_counts_and_credential_issuing_operations_are_not_leaks() -> None:
    doc = _base()
    _response_field(doc, "token", {"type": "string"})  # a text token in an LLM API
    _response_field(doc, "total_tokens", {"type": "integer"})
    assert _fired(doc, "response-no-sensitive-fields") == []
    _response_field(doc, "password", {"type": "string"})
    assert len(_fired(doc, "response-no-sensitive-fields")) == 1
    for path in list(doc["paths"]):
        doc["paths"][path.replace("red-widgets", "api-keys")] = doc["paths"].pop(path)
    assert _fired(doc, "response-no-sensitive-fields") == []


def test_a_report_of_thousands_of_findings_fits_a_notebook(tmp_path: Any) -> None:
    doc = contract.make_large_spec(1000)
    for item in doc["paths"].values():
        for op in item.values():
            if isinstance(op, dict):
                op.pop("summary", None)
                op.pop("operationId", None)
    report = contract.lint(doc, profile="strict")
    assert len(report) >= 2000
    shown = report._repr_html_()
    assert len(shown) < 50_000, len(shown)
    assert "more findings" in shown and len(report.to_frame()) == len(report)
    saved = report.save(tmp_path / "lint.html").read_text(encoding="utf-8")
    assert saved.count("<tr>") > len(report)


@pytest.mark.parametrize("version", ["3.0.3", "3.1.1", "3.2.0"])
def test_the_official_schema_of_each_version_finds_what_it_forbids(version: str) -> None:
    doc = _base()
    doc["openapi"] = version
    if version.startswith("3.0"):  # 3.0 has no type lists
        for schema in doc["components"]["schemas"].values():
            for prop in (schema.get("properties") or {}).values():
                if isinstance(prop.get("type"), list):
                    prop["type"] = prop["type"][0]
    assert _fired(doc, "openapi-schema-valid") == []
    doc["paths"][LIST]["get"]["responses"]["200"]["description"] = 5
    (where,) = _fired(doc, "openapi-schema-valid")
    assert where.startswith("/paths/~1v1~1red-widgets/get/responses/200")
