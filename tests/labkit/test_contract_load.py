"""Loading accepts every source a reviewer has and names where a broken document breaks."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

from labkit import contract
from labkit._process import free_port
from labkit.contract import SpecLoadError
from labkit.errors import LabkitError

CONTRACTS = Path(__file__).resolve().parents[2] / "notebooks" / "contracts"
MINIMAL = {
    "openapi": "3.0.3",
    "info": {"title": "Tiny", "version": "1.0.0"},
    "paths": {
        "/v1/things": {
            "get": {
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        },
                    }
                }
            }
        }
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "nullable": True},
                    "parent": {"$ref": "#/components/schemas/Thing"},
                },
            }
        }
    },
}


def _doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(MINIMAL))
    doc.update(changes)
    return doc


def test_loads_yaml_and_json_files_alike(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(MINIMAL))
    (tmp_path / "a.json").write_text(json.dumps(MINIMAL))
    specs = [contract.load(tmp_path / "a.yaml"), contract.load(str(tmp_path / "a.json"))]
    assert [s.doc for s in specs] == [MINIMAL, MINIMAL]
    assert specs[0].openapi == "3.0.3" and specs[0].title == "Tiny"


def test_loads_yaml_text_and_keeps_dict_input_untouched() -> None:
    doc = _doc()
    spec = contract.load(doc)
    spec.doc["info"]["title"] = "changed"
    assert doc["info"]["title"] == "Tiny"
    assert contract.load(yaml.safe_dump(MINIMAL)).title == "Tiny"


def test_loads_a_fastapi_app_as_openapi_31() -> None:
    app = FastAPI(title="Shop", version="0.1.0")

    @app.get("/v1/ping")
    def ping() -> dict[str, str]:
        return {"ping": "pong"}

    spec = contract.load(app)
    assert spec.openapi.startswith("3.1")
    assert [op.key for op in spec.operations] == ["GET /v1/ping"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "openapi.json").write_text(json.dumps(MINIMAL))
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_loads_from_a_service_url_and_its_openapi_json(served: str) -> None:
    assert contract.load(served).doc == MINIMAL
    assert contract.load(f"{served}/openapi.json").doc == MINIMAL


def test_loads_from_anything_with_a_url(served: str) -> None:
    class Running:
        url = served

    assert contract.load(Running()).title == "Tiny"


def test_resolved_inlines_refs_and_keeps_recursion() -> None:
    spec = contract.load(MINIMAL)
    schema = spec.resolved["paths"]["/v1/things"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    assert schema["properties"]["name"] == {"type": "string", "nullable": True}
    assert schema["properties"]["parent"] == {"$ref": "#/components/schemas/Thing"}
    assert (
        "$ref"
        in spec.doc["paths"]["/v1/things"]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"]
    )


@pytest.mark.parametrize(
    ("name", "text", "at"),
    [
        ("broken.yaml", "openapi: 3.1.0\ninfo:\n  title: x\n   version: 1\n", "4:11"),
        ("broken.json", '{\n  "openapi": "3.1.0",\n  "info": {,}\n}', "3:12"),
    ],
)
def test_broken_document_names_line_and_column(
    tmp_path: Path, name: str, text: str, at: str
) -> None:
    broken = tmp_path / name
    broken.write_text(text)
    with pytest.raises(SpecLoadError) as caught:
        contract.load(broken)
    assert caught.value.where == f"{broken}:{at}"


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"swagger": "2.0"}, "/swagger"),
        (_doc(openapi="2.0"), "/openapi"),
        (_doc(info={"title": "x"}), "/info"),
        (_doc(paths=[]), "/paths"),
        (_doc(paths={"v1/things": {}}), "/paths/v1~1things"),
        (_doc(paths={"/v1/things": {"get": "list them"}}), "/paths/~1v1~1things/get"),
        (
            _doc(paths={"/v1/things": {"get": {"responses": []}}}),
            "/paths/~1v1~1things/get/responses",
        ),
        (
            _doc(paths={"/a": {"get": {"responses": {}, "parameters": [{"in": "query"}]}}}),
            "/paths/~1a/get/parameters/0",
        ),
        (_doc(paths={"/a": {"get": {"responses": {"200": "ok"}}}}), "/paths/~1a/get/responses/200"),
        (
            _doc(
                paths={"/a": {"get": {"responses": {"200": {"description": "x", "content": []}}}}}
            ),
            "/paths/~1a/get/responses/200/content",
        ),
        (
            _doc(paths={"/a": {"post": {"responses": {}, "requestBody": "json"}}}),
            "/paths/~1a/post/requestBody",
        ),
        (_doc(paths={"/a": {"parameters": {"name": "x"}}}), "/paths/~1a/parameters"),
        (_doc(servers={"url": "https://x"}), "/servers"),
        (
            _doc(components={"schemas": {"Thing": {"$ref": "#/components/schemas/Nope"}}}),
            "/components/schemas/Thing",
        ),
        (
            _doc(components={"schemas": {"Thing": {"$ref": "other.yaml#/Thing"}}}),
            "/components/schemas/Thing",
        ),
        (
            _doc(
                components={
                    "schemas": {
                        "Thing": {"$ref": "#/components/schemas/Other"},
                        "Other": {"$ref": "#/components/schemas/Thing"},
                    }
                }
            ),
            "/components/schemas/Other",
        ),
    ],
)
def test_malformed_document_names_where_it_breaks(doc: dict[str, Any], where: str) -> None:
    with pytest.raises(SpecLoadError) as caught:
        contract.load(doc)
    assert caught.value.where == where
    assert where in str(caught.value)


def test_missing_file_and_unreachable_url_are_labkit_errors(tmp_path: Path) -> None:
    with pytest.raises(LabkitError, match="no OpenAPI file"):
        contract.load(tmp_path / "nope.yaml")
    with pytest.raises(LabkitError, match="could not fetch"):
        contract.load(f"http://127.0.0.1:{free_port()}/openapi.json")
    with pytest.raises(LabkitError, match="cannot load"):
        contract.load(42)


def test_operations_merge_path_level_parameters() -> None:
    spec = contract.load(contract.make_large_spec(5))
    op = spec.operation("get", "/v1/red-widgets/{red_widget_id}")
    assert [p["name"] for p in op.parameters] == ["red_widget_id"]
    assert op.secured and "404" in op.responses


def test_openapi_30_nullable_reads_like_31_null_type() -> None:
    old = _doc()
    new = _doc()
    new["openapi"] = "3.1.0"
    new["components"]["schemas"]["Thing"]["properties"]["name"] = {"type": ["string", "null"]}
    assert contract.diff(old, new).changes == []


def _mutate(doc: Any, rng: random.Random) -> str:
    """Delete or replace one random node; return where."""
    spots: list[tuple[Any, Any, str]] = []
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        node, where = stack.pop()
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else []
        )
        for key, value in items:
            spots.append((node, key, f"{where}/{key}"))
            stack.append((value, f"{where}/{key}"))
    parent, key, where = rng.choice(spots)
    if isinstance(parent, dict) and rng.random() < 0.5:
        del parent[key]
    else:
        parent[key] = rng.choice(
            [None, 1, "x", [], {}, True, {"$ref": "#/nope"}, {"type": ["string", "null"]}]
        )
    return where


@pytest.mark.parametrize("seed", range(2))
def test_damaged_documents_load_lint_and_diff_or_fail_clearly(seed: int) -> None:
    rng = random.Random(seed)
    clean = yaml.safe_load((CONTRACTS / "shop-v1.yaml").read_text())
    for _ in range(50):
        doc = json.loads(json.dumps(clean))
        where = _mutate(doc, rng)
        try:
            contract.lint(doc)
            contract.diff(clean, doc)
        except SpecLoadError:
            pass
        except Exception as e:  # anything else is a traceback a reader would meet
            pytest.fail(f"damage at {where} raised {type(e).__name__}: {e}")


def test_components_only_document_lints_and_diffs() -> None:
    doc = _doc(openapi="3.1.0")
    del doc["paths"]
    assert contract.load(doc).operations == []
    assert "rate-limits-declared" not in contract.lint(doc).rules_fired
    assert contract.diff(doc, MINIMAL).codes == {"path-added"}


def _yaml(summary_lines: str) -> str:
    return (
        "openapi: 3.1.0\ninfo: {title: t, version: 2024-06-20}\n"
        f"paths:\n  /v1/a:\n    get:\n{summary_lines}"
        "      responses: {'200': {description: ok}}\n"
    )


def test_yaml_is_read_as_yaml_1_2() -> None:
    spec = contract.load(_yaml("      summary: yes\n"))
    assert spec.api_version == "2024-06-20" and spec.operations[0].node["summary"] == "yes"


def test_duplicate_yaml_keys_keep_the_last_value() -> None:
    spec = contract.load(_yaml("      summary: first\n      summary: second\n"))
    assert spec.operations[0].node["summary"] == "second"


def test_non_utf8_file_is_refused_in_one_line(tmp_path: Any) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(
        "openapi: 3.1.0\ninfo: {title: Caf\u00e9, version: '1'}\npaths: {}\n".encode("latin-1")
    )
    with pytest.raises(contract.SpecLoadError, match="not UTF-8") as e:
        contract.load(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_percent_encoded_ref_fragments_are_decoded() -> None:
    doc = _doc()
    doc["components"]["schemas"]["A B"] = {"type": "string"}
    doc["paths"]["/v1/things"]["get"]["parameters"] = [
        {"name": "q", "in": "query", "schema": {"$ref": "#/components/schemas/A%20B"}}
    ]
    spec = contract.load(doc)
    assert spec.operations[0].parameters[0]["name"] == "q"
    assert spec.schema({"$ref": "#/components/schemas/A%20B"}) == {"type": "string"}


def test_openapi_3_2_loads() -> None:
    assert contract.load(_doc(openapi="3.2.0")).openapi == "3.2.0"


def test_url_with_a_query_string_is_taken_as_given(served: str) -> None:
    assert contract.load(f"{served}/openapi.json?version=1").doc == MINIMAL


def test_a_404_from_a_running_server_says_so(served: str) -> None:
    with pytest.raises(SpecLoadError, match="answered 404") as e:
        contract.load(f"{served}/docs/api")
    assert "is the service running" not in str(e.value)
