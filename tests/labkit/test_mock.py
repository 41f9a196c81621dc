"""lk.mock serves a contract: requests checked, answers valid against it, no process left behind.

Most checks call the mock's ASGI app in process (fast); the server tests start it for real,
run Schemathesis against it, and kill its owner to see it go too.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30Validator, OAS31Validator

import labkit as lk
from labkit import contract
from labkit._process import is_running
from labkit.contract._testing import DEFAULT_CHECKS
from labkit.errors import BadArgument
from labkit.mock._app import MockApp

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "notebooks" / "contracts" / "shop-v1.yaml"
CORPUS = ROOT / "tests" / "data" / "openapi" / "corpus"
# Public descriptions of every shape: 3.0 and 3.1, JSON and YAML, form bodies, 3 to 200 paths.
DESCRIPTIONS = [
    SHOP,
    CORPUS / "petstore-expanded.yaml.gz",
    CORPUS / "uspto.yaml.gz",
    CORPUS / "link-example.yaml.gz",
    CORPUS / "spotify.yaml.gz",
    CORPUS / "twilio-messaging-v1.json.gz",
    CORPUS / "adyen-checkout-v71.yaml.gz",
    CORPUS / "box-v2025.0.json.gz",
]


def _client(app: MockApp) -> httpx.Client:
    """A client that calls the ASGI app in this process (no server, no port)."""
    import asyncio

    class Sync(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            async def call() -> httpx.Response:
                transport = httpx.ASGITransport(app=app)
                response = await transport.handle_async_request(request)
                body = await response.aread()
                return httpx.Response(response.status_code, headers=response.headers, content=body)

            return asyncio.run(call())

    return httpx.Client(transport=Sync(), base_url="http://mock")


@pytest.fixture(scope="module")
def shop() -> Iterator[httpx.Client]:
    with _client(MockApp(contract.load(SHOP))) as client:
        yield client


def _problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    body = response.json()
    assert body["status"] == response.status_code
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_a_bad_query_parameter_is_refused_with_a_problem_naming_it(shop: httpx.Client) -> None:
    response = shop.get("/v1/products", params={"limit": "many"})
    assert response.status_code == 422  # the status the shop's contract documents for it
    errors = _problem(response)["errors"]
    assert [(e["where"], e["name"]) for e in errors] == [("query", "limit")]
    assert shop.get("/v1/products", params={"limit": "101"}).status_code == 422  # maximum 100
    assert shop.get("/v1/products", params={"limit": "100"}).status_code == 200


def test_a_bad_body_lists_every_violation(shop: httpx.Client) -> None:
    auth = {"Authorization": "Bearer any"}
    response = shop.post("/v1/categories", json={"name": 7}, headers=auth)
    assert response.status_code == 422
    details = " ".join(e["detail"] for e in _problem(response)["errors"])
    assert "slug" in details and "7" in details  # the missing field and the wrong type
    assert (
        shop.post("/v1/categories", json={"name": "Toys", "slug": "toys"}, headers=auth).status_code
        == 201
    )
    wrong_type = shop.post(
        "/v1/categories", content=b"name=x", headers={**auth, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415


def test_unknown_paths_methods_and_missing_credentials_are_problems(shop: httpx.Client) -> None:
    assert _problem(shop.get("/v1/nothing-here"))["status"] == 404
    response = shop.delete("/v1/categories")
    assert _problem(response)["status"] == 405
    assert response.headers["allow"] == "GET, POST"
    assert _problem(shop.post("/v1/categories", json={"name": "a", "slug": "a"}))["status"] == 401


def test_prefer_picks_a_documented_response(shop: httpx.Client) -> None:
    response = shop.get("/v1/products/1", headers={"Prefer": "code=404"})
    assert response.status_code == 404
    assert shop.get("/v1/products/1", headers={"Prefer": "code=418"}).status_code == 404
    assert _problem(shop.get("/v1/products/1", headers={"Prefer": "code=418"}))["title"] == (
        "Response Not Documented"
    )


def _validator(doc: dict[str, Any], schema: Any) -> Any:
    """The OpenAPI project's own schema validator (not the mock's); `#/components` refs resolve."""
    kind = OAS30Validator if str(doc["openapi"]).startswith("3.0") else OAS31Validator
    root = (
        {**schema, "components": doc.get("components") or {}}
        if isinstance(schema, dict)
        else schema
    )
    return kind(root, format_checker=kind.FORMAT_CHECKER)


@pytest.mark.parametrize("path", DESCRIPTIONS, ids=lambda p: p.name)
def test_every_answer_validates_against_its_contract(path: Path) -> None:
    spec = contract.load(path)
    app = MockApp(spec)
    checked = 0
    for op in spec.operations:
        answer = app.responder.answer(op, prefer={})
        response = op.responses.get(str(answer.status))
        content = (response or {}).get("content") or {}
        media = content.get(answer.media or "", {})
        if "schema" not in media or "json" not in (answer.media or ""):
            continue
        errors = list(_validator(spec.doc, media["schema"]).iter_errors(answer.body))
        assert not errors, (op.key, answer.body, errors[0].message)
        checked += 1
    assert checked >= min(3, len(spec.operations) // 2), checked


def test_without_examples_a_value_is_made_from_the_schema() -> None:
    doc = yaml.safe_load(
        """
openapi: 3.0.3
info: {title: Shapes, version: "1"}
paths:
  /things:
    get:
      responses:
        "200":
          description: a thing
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
              example: {id: "not a number"}
components:
  schemas:
    Thing:
      type: object
      required: [id, code, when, kind, size, owner, tags, secret]
      properties:
        id: {type: integer, minimum: 10, exclusiveMinimum: true, multipleOf: 5}
        code: {type: string, pattern: "^[A-Z]{3}-[0-9]{2}$"}
        when: {type: string, format: date-time}
        kind: {type: string, enum: [box, bag]}
        size: {type: number, nullable: true, maximum: -1.5}
        owner: {oneOf: [{type: integer}, {type: string, minLength: 4}]}
        parent: {allOf: [{$ref: "#/components/schemas/Thing"}], nullable: true}
        tags: {type: array, minItems: 2, items: {type: string, format: uuid}}
        secret: {type: string, writeOnly: true}
        children: {type: array, items: {$ref: "#/components/schemas/Thing"}}
"""
    )
    spec = contract.load(doc)
    answer = MockApp(spec).responder.answer(spec.operations[0], prefer={})
    body = answer.body
    assert body["id"] != "not a number"  # the example breaks its schema, so it is not used
    assert body["id"] > 10 and body["id"] % 5 == 0
    assert body["kind"] == "box" and len(body["tags"]) == 2 and "secret" not in body
    schema = doc["paths"]["/things"]["get"]["responses"]["200"]["content"]["application/json"]
    errors = list(_validator(doc, schema["schema"]).iter_errors(body))
    assert errors == []  # `secret` is required but write-only: responses leave it out


def test_a_bad_latency_is_refused_in_one_line() -> None:
    with pytest.raises(BadArgument, match="latency_ms"):
        lk.mock(SHOP, latency_ms=(50, 10))


def test_the_mock_serves_its_contract_with_latency_and_stops() -> None:
    with lk.mock(SHOP, latency_ms=150) as api:
        pid = api.pid
        with api.client() as client:
            assert contract.load(api).title == "Shop API"  # served at /openapi.json
            started = time.perf_counter()
            response = client.get("/v1/categories")
            elapsed = time.perf_counter() - started
        assert response.status_code == 200 and response.json()["items"][0]["slug"] == "books"
        assert elapsed >= 0.15
        deadline = time.monotonic() + 5  # uvicorn logs a request once its answer is sent
        while not any("GET /v1/categories" in line for line in api.log_lines()):
            assert time.monotonic() < deadline, api.log_lines()
            time.sleep(0.05)
    assert pid is not None and not is_running(pid)
    assert not api.running


def test_the_mock_dies_with_its_owner_even_on_sigkill() -> None:
    script = (
        "import time, labkit as lk\n"
        f"api = lk.mock({str(SHOP)!r}).start()\n"
        "print(api.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        pid = int(owner.stdout.readline())
        assert is_running(pid)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        deadline = time.monotonic() + 15
        while is_running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not is_running(pid)
    finally:
        owner.kill()


@pytest.mark.parametrize(
    ("path", "examples"),
    [
        (SHOP, 10),
        (CORPUS / "petstore-expanded.yaml.gz", 10),
        (CORPUS / "uspto.yaml.gz", 10),
        (CORPUS / "twilio-messaging-v1.json.gz", 2),  # 58 operations, form bodies
    ],
    ids=lambda p: getattr(p, "name", str(p)),
)
def test_schemathesis_finds_the_mock_true_to_its_contract(path: Path, examples: int) -> None:
    """Every generated valid request is accepted, and every answer conforms."""
    with lk.mock(path, security=False) as api:
        report = contract.test(
            api,
            path,
            max_examples=examples,
            checks=(*DEFAULT_CHECKS, "positive_data_acceptance"),
            timeout=240,
        )
    assert report.complete and report.cases >= min(examples, 3) * len(report.operations)
    assert report.ok, report.to_frame()


PARAMETERS = """
openapi: 3.1.0
info: {title: Parameters, version: "1"}
paths:
  /orders/{order_id}:
    get:
      parameters:
        - {name: order_id, in: path, required: true, schema: {type: integer, minimum: 1}}
        - {name: X-Tenant, in: header, required: true, schema: {type: string, pattern: "^t-[0-9]+$"}}
        - {name: ids, in: query, explode: false, schema: {type: array, items: {type: integer}}}
        - {name: filter, in: query, style: deepObject, schema: {type: object, properties: {max: {type: integer}}}}
      responses:
        "200":
          description: an order
          content:
            application/json:
              schema: {type: object, required: [state], properties: {state: {enum: [new, paid]}}}
              examples:
                fresh: {value: {state: new}}
                settled: {value: {state: paid}}
        "400": {description: a bad request}
"""


def test_path_header_and_query_styles_are_read_as_documented() -> None:
    with _client(MockApp(contract.load(PARAMETERS))) as client:
        tenant = {"X-Tenant": "t-1"}
        ok = client.get("/orders/7", params={"ids": "1,2,3", "filter[max]": "5"}, headers=tenant)
        assert ok.status_code == 200 and ok.json() == {"state": "new"}
        named = client.get("/orders/7", headers={**tenant, "Prefer": "example=settled"})
        assert named.json() == {"state": "paid"}
        bad = client.get(
            "/orders/0",
            params={"ids": "1,x", "filter[max]": "many"},
            headers={"X-Tenant": "nobody"},
        )
        assert bad.status_code == 400  # the status this contract documents for a bad request
        names = sorted((e["where"], e["name"]) for e in _problem(bad)["errors"])
        assert names == [
            ("header", "X-Tenant"),
            ("path", "order_id"),
            ("query", "filter"),
            ("query", "ids"),
        ]
        missing = client.get("/orders/7")
        assert [e["name"] for e in _problem(missing)["errors"]] == ["X-Tenant"]
