"""Each lint rule fires on a one-edit break of a clean contract and stays quiet on the clean one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from labkit import contract
from labkit.errors import LabkitError

LIST, ITEM = "/v1/red-widgets", "/v1/red-widgets/{red_widget_id}"
Doc = dict[str, Any]


def _clean() -> Doc:
    return contract.make_large_spec(5)


def _op(doc: Doc, method: str, path: str = LIST) -> Doc:
    return doc["paths"][path][method]  # type: ignore[no-any-return]


def _schema(doc: Doc, name: str) -> Doc:
    return doc["components"]["schemas"][name]  # type: ignore[no-any-return]


def _rename_path(doc: Doc, old: str, new: str) -> None:
    doc["paths"][new] = doc["paths"].pop(old)


def _add_get(doc: Doc, path: str, **extra: Any) -> None:
    doc["paths"][path] = {"get": {**_op(doc, "get", ITEM), **extra}}
    doc["paths"][path]["get"]["operationId"] = "extra"


def _set_param(doc: Doc, method: str, path: str, index: int, **changes: Any) -> None:
    _op(doc, method, path)["parameters"][index].update(changes)


def _problem_response(doc: Doc, name: str) -> Doc:
    return doc["components"]["responses"][name]  # type: ignore[no-any-return]


def _inline_429(doc: Doc, method: str = "get", path: str = LIST) -> Doc:
    response = dict(_problem_response(doc, "TooManyRequests"))
    response["headers"] = dict(response["headers"])
    _op(doc, method, path)["responses"]["429"] = response
    return response


def _list_returns_array(doc: Doc) -> None:
    page = _schema(doc, "RedWidgetPage")
    _op(doc, "get")["responses"]["200"]["content"]["application/json"]["schema"] = page[
        "properties"
    ]["items"]


BREAKS: dict[str, Callable[[Doc], Any]] = {
    "info-description": lambda d: d["info"].pop("description"),
    "openapi-schema-valid": lambda d: _op(d, "get")["responses"]["200"].update(description=5),
    "info-contact": lambda d: d["info"].pop("contact"),
    "info-version-semver": lambda d: d["info"].update(version="v1"),
    "servers-https": lambda d: d.update(servers=[{"url": "http://api.example.com"}]),
    "security-scheme-defined": lambda d: d["components"].pop("securitySchemes"),
    "rate-limits-declared": lambda d: [
        r.pop("429")
        for item in d["paths"].values()
        for k, r in ((m, o["responses"]) for m, o in item.items() if m != "parameters")
    ],
    "path-kebab-case": lambda d: _rename_path(d, LIST, "/v1/redWidgets"),
    "path-plural-resources": lambda d: _rename_path(d, ITEM, "/v1/red-widget/{red_widget_id}"),
    "path-no-verbs": lambda d: _add_get(d, "/v1/get-widgets/{red_widget_id}"),
    "path-version-segment": lambda d: _rename_path(d, LIST, "/red-widgets"),
    "path-no-trailing-slash": lambda d: _rename_path(d, LIST, "/v1/red-widgets/"),
    "path-parameters-declared": lambda d: _rename_path(d, ITEM, "/v1/red-widgets/{widget_id}"),
    "parameter-casing-consistent": lambda d: _set_param(d, "get", LIST, 1, name="nextCursor"),
    "no-secrets-in-query": lambda d: _op(d, "get")["parameters"].append(
        {"name": "api_key", "in": "query", "schema": {"type": "string"}}
    ),
    "limit-has-maximum": lambda d: _op(d, "get")["parameters"][0]["schema"].pop("maximum"),
    "property-casing-consistent": lambda d: _schema(d, "RedWidget")["properties"].update(
        displayName={"type": "string"}
    ),
    "timestamp-suffix-at": lambda d: _schema(d, "RedWidget")["properties"].update(
        shipped={"type": "string", "format": "date-time"}
    ),
    "money-not-float": lambda d: _schema(d, "RedWidget")["properties"].update(
        price={"type": "number"}
    ),
    "response-no-sensitive-fields": lambda d: _schema(d, "RedWidget")["properties"].update(
        password_hash={"type": "string"}
    ),
    "request-body-closed": lambda d: _schema(d, "RedWidgetWrite").pop("additionalProperties"),
    "request-body-no-server-fields": lambda d: _schema(d, "RedWidgetWrite")["properties"].update(
        owner_id={"type": "integer"}
    ),
    "request-bounds": lambda d: _schema(d, "RedWidgetWrite")["properties"]["name"].pop("maxLength"),
    "operation-id-present": lambda d: _op(d, "get").pop("operationId"),
    "operation-id-unique": lambda d: _op(d, "post").update(operationId="list_red_widgets"),
    "operation-summary": lambda d: _op(d, "get").pop("summary"),
    "examples-present": lambda d: _op(d, "get")["responses"]["200"]["content"][
        "application/json"
    ].pop("example"),
    "success-response-documented": lambda d: _op(d, "get")["responses"].pop("200"),
    "response-schema-defined": lambda d: _op(d, "get")["responses"]["200"]["content"][
        "application/json"
    ].pop("schema"),
    "get-no-request-body": lambda d: _op(d, "get").update(
        requestBody=_op(d, "post")["requestBody"]
    ),
    "delete-no-request-body": lambda d: _op(d, "delete", ITEM).update(
        requestBody=_op(d, "post")["requestBody"]
    ),
    "no-content-204": lambda d: _op(d, "delete", ITEM)["responses"]["204"].update(
        content={"application/json": {"schema": {"type": "object"}}}
    ),
    "collection-paginated": lambda d: _op(d, "get")["parameters"].pop(0),
    "collection-cursor-pagination": lambda d: _set_param(d, "get", LIST, 1, name="offset"),
    "collection-object-response": _list_returns_array,
    "create-returns-201": lambda d: _op(d, "post")["responses"].update(
        {"200": _op(d, "post")["responses"].pop("201")}
    ),
    "create-location-header": lambda d: _op(d, "post")["responses"]["201"].pop("headers"),
    "delete-returns-204": lambda d: _op(d, "delete", ITEM)["responses"].update(
        {"200": _op(d, "delete", ITEM)["responses"].pop("204")}
    ),
    "create-idempotency-key": lambda d: _op(d, "post").pop("parameters"),
    "error-problem-json": lambda d: _op(d, "get", ITEM)["responses"].update(
        {"404": {"description": "Not found"}}
    ),
    "problem-schema-fields": lambda d: _schema(d, "Problem")["properties"].pop("detail"),
    "error-responses-documented": lambda d: _op(d, "delete", ITEM).update(
        responses={"204": {"description": "Deleted"}}, security=[]
    ),
    "not-found-documented": lambda d: _op(d, "get", ITEM)["responses"].pop("404"),
    "validation-error-documented": lambda d: _op(d, "get")["responses"].pop("422"),
    "write-operations-secured": lambda d: d.pop("security"),
    "secured-401-documented": lambda d: _op(d, "get")["responses"].pop("401"),
    "secured-403-documented": lambda d: _op(d, "get")["responses"].pop("403"),
    "security-scheme-known": lambda d: _op(d, "get").update(security=[{"oauth": []}]),
    "rate-limit-429-documented": lambda d: (
        _op(d, "get")["responses"].pop("429"),
        _op(d, "get").update({"x-rate-limit": {"limit": 100, "window": "1m"}}),
    ),
    "rate-limit-retry-after": lambda d: _inline_429(d)["headers"].pop("Retry-After"),
    "rate-limit-headers": lambda d: _inline_429(d).update(
        headers={"Retry-After": {"schema": {"type": "integer"}}}
    ),
    "conditional-update": lambda d: (
        _op(d, "patch", ITEM)["responses"].pop("412"),
        _op(d, "patch", ITEM).pop("parameters"),
    ),
}


def test_every_rule_has_a_breaking_case() -> None:
    assert set(BREAKS) == {r.id for r in contract.rules()}


def test_there_are_at_least_thirty_rules() -> None:
    assert len(contract.rules()) >= 30


def test_clean_contract_has_no_findings() -> None:
    report = contract.lint(_clean())
    assert report.findings == [], report.to_frame()
    assert report.ok


@pytest.mark.parametrize("rule_id", sorted(BREAKS))
def test_rule_fires_on_its_break(rule_id: str) -> None:
    doc = _clean()
    BREAKS[rule_id](doc)
    report = contract.lint(doc)
    assert rule_id in report.rules_fired, report.to_frame()
    finding = report.of(rule_id)[0]
    assert finding.location.startswith("/")
    assert finding.why and finding.fix and finding.source


def test_finding_location_points_into_the_document() -> None:
    doc = _clean()
    _op(doc, "get", ITEM)["responses"].pop("404")
    [finding] = contract.lint(doc).of("not-found-documented")
    assert contract.load(doc).at(finding.location) is not None
    assert finding.location == "/paths/~1v1~1red-widgets~1{red_widget_id}/get/responses"


def test_config_turns_a_rule_off_and_regrades_another() -> None:
    doc = _clean()
    doc["info"].pop("contact")
    _op(doc, "get").pop("summary")
    report = contract.lint(doc, {"info-contact": "off", "operation-summary": "error"})
    assert "info-contact" not in report.rules_fired
    assert [f.severity for f in report.of("operation-summary")] == ["error"]
    assert report.counts["error"] == 1


def test_config_from_yaml_file(tmp_path: Any) -> None:
    config = tmp_path / "lint.yaml"
    config.write_text("rules:\n  info-contact: off\n")
    doc = _clean()
    doc["info"].pop("contact")
    assert "info-contact" not in contract.lint(doc, config).rules_fired


@pytest.mark.parametrize("config", [{"no-such-rule": "off"}, {"info-contact": "fatal"}])
def test_config_with_unknown_rule_or_severity_is_refused(config: dict[str, str]) -> None:
    with pytest.raises(LabkitError):
        contract.lint(_clean(), config)


def test_report_renders_as_frame_and_html() -> None:
    doc = _clean()
    doc["info"].pop("contact")
    report = contract.lint(doc)
    frame = report.to_frame()
    assert list(frame.columns) == [
        "rule",
        "severity",
        "location",
        "message",
        "why",
        "fix",
        "source",
    ]
    assert "info-contact" in report._repr_html_()
    assert report.html().startswith("<!doctype html>")
    assert "1 info" in repr(report)
    assert report.by_rule()["rule"].tolist() == ["info-contact"]


def test_report_saves_a_standalone_html_page(tmp_path: Any) -> None:
    doc = _clean()
    doc["info"].pop("contact")
    saved = contract.lint(doc).save(tmp_path / "lint.html")
    assert "info-contact" in saved.read_text(encoding="utf-8")


def test_majority_casing_decides_camel_case_apis() -> None:
    doc = _clean()
    for name in ("RedWidget", "RedWidgetWrite"):
        props = _schema(doc, name)["properties"]
        props["priceCents"] = props.pop("price_cents")
    _schema(doc, "RedWidget")["properties"]["createdAt"] = _schema(doc, "RedWidget")[
        "properties"
    ].pop("created_at")
    _schema(doc, "RedWidgetPage")["properties"]["nextCursor"] = _schema(doc, "RedWidgetPage")[
        "properties"
    ].pop("next_cursor")
    _schema(doc, "RedWidget")["properties"]["legacy_code"] = {"type": "string"}
    [finding] = contract.lint(doc).of("property-casing-consistent")
    assert "legacy_code" in finding.message and "camelCase" in finding.message


@pytest.mark.parametrize("n", [200, 500, 1000])
def test_large_generated_contracts_lint_clean(n: int) -> None:
    report = contract.lint(contract.make_large_spec(n))
    assert report.operations == n
    assert report.findings == []


def test_large_contract_reports_every_broken_operation() -> None:
    doc = contract.make_large_spec(500)
    for item in doc["paths"].values():
        for method in ("get", "post", "patch", "delete"):
            if method in item:
                item[method].pop("summary")
    assert len(contract.lint(doc).of("operation-summary")) == 500
