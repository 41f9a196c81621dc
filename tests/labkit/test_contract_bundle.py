"""A description split over files or URLs loads as one document, its schemas defined once."""

from __future__ import annotations

import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from labkit import contract
from labkit.contract._bundle import has_external_refs

CORPUS = Path(__file__).parents[1] / "data" / "openapi" / "corpus"
ROOT = """
openapi: 3.1.0
info: {title: Split, version: 1.0.0}
paths:
  /v1/things:
    $ref: paths/things.yaml
  /v1/things/{thing_id}:
    get:
      $ref: operations/get-thing.yaml
components:
  schemas:
    Local: {type: string}
"""
THINGS = """
get:
  responses:
    '200':
      description: the things
      content:
        application/json:
          schema:
            type: array
            items: {$ref: '../schemas/thing.yaml'}
post:
  requestBody:
    content:
      application/json:
        schema: {$ref: '../schemas/thing.yaml'}
  responses:
    '201': {description: created}
"""
GET_THING = """
parameters:
  - {$ref: '../parameters.yaml#/thing_id'}
responses:
  '200':
    description: one thing
    content:
      application/json:
        schema: {$ref: '../schemas/thing.yaml'}
"""
THING = """
type: object
properties:
  name: {type: string}
  label: {$ref: '../openapi.yaml#/components/schemas/Local'}
  parent: {$ref: '#'}
  children:
    type: array
    items: {$ref: 'thing.yaml'}
"""
PARAMETERS = """
thing_id: {name: thing_id, in: path, required: true, schema: {type: integer}}
"""


def _write(folder: Path) -> Path:
    files = {
        "openapi.yaml": ROOT,
        "paths/things.yaml": THINGS,
        "operations/get-thing.yaml": GET_THING,
        "schemas/thing.yaml": THING,
        "parameters.yaml": PARAMETERS,
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder / "openapi.yaml"


def _check(spec: contract.Spec) -> None:
    assert [op.key for op in spec.operations] == [
        "GET /v1/things",
        "POST /v1/things",
        "GET /v1/things/{thing_id}",
    ]
    assert not has_external_refs(spec.doc)
    schemas = spec.doc["components"]["schemas"]
    assert set(schemas) == {"Local", "thing"}  # the shared, recursive schema is defined once
    thing = schemas["thing"]["properties"]
    assert thing["parent"] == thing["children"]["items"] == {"$ref": "#/components/schemas/thing"}
    assert thing["label"] == {"$ref": "#/components/schemas/Local"}
    assert spec.operations[2].parameters[0]["name"] == "thing_id"


def test_a_split_description_is_bundled_on_load(tmp_path: Path) -> None:
    spec = contract.load(_write(tmp_path))
    _check(spec)
    assert contract.lint(spec).operations == 3
    assert contract.diff(spec, spec).changes == []


def test_a_missing_file_is_named_in_one_line(tmp_path: Path) -> None:
    root = _write(tmp_path)
    (tmp_path / "parameters.yaml").unlink()
    with pytest.raises(contract.SpecLoadError, match=r"parameters\.yaml") as e:
        contract.load(root)
    assert "\n" not in str(e.value)


def test_external_refs_in_a_dict_say_to_load_from_the_file() -> None:
    doc = yaml.safe_load(ROOT)
    with pytest.raises(contract.SpecLoadError, match="load the document from its file or URL"):
        contract.load(doc)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    _write(tmp_path)
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_split_description_is_bundled_from_urls(served: str) -> None:
    _check(contract.load(f"{served}/openapi.yaml"))


def test_a_real_multi_file_description_bundles(tmp_path: Path) -> None:
    with tarfile.open(CORPUS / "digitalocean-multifile.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    spec = contract.load(tmp_path / "specification" / "DigitalOcean-public.v2.yaml")
    assert len(spec.operations) >= 600
    assert not has_external_refs(spec.doc)
    assert contract.lint(spec).operations == len(spec.operations)
