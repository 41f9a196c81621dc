"""Load an OpenAPI 3.x document from a file, text, dict, URL or app into a checked `Spec`."""

from __future__ import annotations

import copy
import gzip
import json
import marshal
import pickle
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
import yaml_rs

from labkit.contract._base import METHODS, ContractError, SpecLoadError, escape, unescape
from labkit.contract._bundle import bundle, has_external_refs
from labkit.contract._validate import check_structure

__all__ = ["Operation", "Spec", "load"]


@dataclass(frozen=True)
class Operation:
    """One method on one path, with path-level parameters merged in and `$ref`s followed on demand."""

    path: str
    method: str
    node: Mapping[str, Any]
    spec: Spec = field(repr=False, compare=False)
    root: str = field(default="paths", repr=False)  # "webhooks" for a 3.1 webhook

    @property
    def pointer(self) -> str:
        return f"/{self.root}/{escape(self.path)}/{self.method}"

    @property
    def key(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @cached_property
    def parameters(self) -> list[dict[str, Any]]:
        """Path-level and operation-level parameters, resolved; the operation's win on (name, in)."""
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        item = self.spec.deref(self.spec.doc[self.root][self.path])
        for source in (item.get("parameters") or [], self.node.get("parameters") or []):
            for raw in source:
                param = self.spec.deref(raw)
                merged[(str(param.get("name")), str(param.get("in")))] = param
        return list(merged.values())

    @cached_property
    def responses(self) -> dict[str, dict[str, Any]]:
        return {str(k): self.spec.deref(v) for k, v in (self.node.get("responses") or {}).items()}

    @cached_property
    def request_body(self) -> dict[str, Any] | None:
        body = self.node.get("requestBody")
        return None if body is None else self.spec.deref(body)

    @property
    def security(self) -> list[dict[str, Any]]:
        """Effective security requirements: the operation's own, else the document's."""
        if "security" in self.node:
            return list(self.node["security"] or [])
        return list(self.spec.doc.get("security") or [])

    @property
    def secured(self) -> bool:
        return any(bool(req) for req in self.security)

    def param(self, name: str, where: str = "query") -> dict[str, Any] | None:
        lowered = name.lower()
        for p in self.parameters:
            if str(p.get("name", "")).lower() == lowered and p.get("in") == where:
                return p
        return None


_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Spec:
    """A checked OpenAPI document: `doc` keeps `$ref`s (for exact locations), `resolved` inlines them."""

    def __init__(self, doc: dict[str, Any], *, origin: str = "<dict>") -> None:
        self.doc = doc
        self.origin = origin
        self._targets: dict[str, Any] = {}
        # What schema readers computed per node (`_schemas`): shared references are read once.
        self.memo: dict[tuple[str, int], Any] = {}
        check_structure(doc)
        self._check_refs()
        self._resolved: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return (
            f"Spec({self.title!r} {self.api_version}, OpenAPI {self.openapi}, "
            f"{len(self.operations)} operations, from {self.origin})"
        )

    @property
    def openapi(self) -> str:
        return str(self.doc["openapi"])

    @property
    def title(self) -> str:
        return str(self.doc.get("info", {}).get("title", ""))

    @property
    def api_version(self) -> str:
        return str(self.doc.get("info", {}).get("version", ""))

    @cached_property
    def operations(self) -> list[Operation]:
        """Every operation in document order (read once: treat a loaded document as read-only)."""
        return self._operations("paths")

    @cached_property
    def webhooks(self) -> list[Operation]:
        """Every operation under 3.1 `webhooks`: requests the API sends, keyed by webhook name."""
        return self._operations("webhooks")

    def _operations(self, root: str) -> list[Operation]:
        ops: list[Operation] = []
        for path, item in (self.doc.get(root) or {}).items():
            item = self.deref(item)
            if isinstance(item, Mapping):
                ops.extend(Operation(path, m, item[m], self, root) for m in METHODS if m in item)
        return ops

    def operation(self, method: str, path: str) -> Operation:
        for op in self.operations:
            if op.method == method.lower() and op.path == path:
                return op
        raise ContractError(
            f"no operation {method.upper()} {path} in {self.title!r}; "
            f"the document has {len(self.operations)} operations: see `spec.operations`."
        )

    def at(self, pointer: str) -> Any:
        """The node at a JSON pointer such as `#/components/schemas/Product`."""
        if pointer in self._targets:
            return self._targets[pointer]
        node: Any = self.doc
        # A `$ref` fragment is percent-encoded first, then JSON-pointer escaped (RFC 6901 §6).
        for token in unquote(pointer.lstrip("#")).split("/")[1:]:
            token = unescape(token)
            node = node[int(token)] if isinstance(node, list) else node[token]
        self._targets[pointer] = node
        return node

    def deref(self, node: Any) -> Any:
        """Follow `$ref` chains at the top of `node` (a cycle of refs is refused at load time)."""
        # `type(...) is dict` first: parsed documents are dicts, and ABC checks are slow in bulk.
        while (type(node) is dict or isinstance(node, Mapping)) and type(node.get("$ref")) is str:
            node = self.at(node["$ref"])
        return node

    def schema(self, node: Any) -> Mapping[str, Any]:
        """A schema with its `$ref` followed; a boolean schema (3.1 `true`/`false`) reads as `{}`."""
        found = self.deref(node)
        return found if type(found) is dict or isinstance(found, Mapping) else _EMPTY

    @property
    def resolved(self) -> dict[str, Any]:
        """The document with every `$ref` inlined; a recursive schema keeps its `$ref` where it recurs.

        Each target is inlined once and shared wherever it is referenced, so the result grows with
        the document, not with the number of paths through it: treat it as read-only.
        """
        if self._resolved is None:
            self._resolved = _inline(self, self.doc, (), {})
        return self._resolved

    def _check_refs(self) -> None:
        """Refuse refs that leave the document, point at nothing, or only point at each other."""
        refs = list(_refs(self.doc, ""))
        for where, ref in refs:
            if not ref.startswith("#/"):
                raise SpecLoadError(
                    f"$ref {ref!r} at {where} points outside the document; load the document "
                    "from its file or URL so the files it names can be bundled in.",
                    where=where,
                )
            try:
                self.at(ref)
            except (KeyError, IndexError, ValueError, TypeError):
                raise SpecLoadError(
                    f"$ref {ref!r} at {where} points at nothing; "
                    "check the spelling of the component it names.",
                    where=where,
                ) from None
        for _, ref in refs:
            chain = [ref]
            target = self.at(ref)
            while isinstance(target, Mapping) and isinstance(target.get("$ref"), str):
                if target["$ref"] in chain:
                    where = chain[-1].lstrip("#")
                    raise SpecLoadError(
                        f"$ref at {where} closes a cycle of references ({' -> '.join(chain)}) "
                        "that never reaches a value; make one of them a real object.",
                        where=where,
                    )
                chain.append(target["$ref"])
                target = self.at(target["$ref"])


def _refs(node: Any, where: str) -> Iterator[tuple[str, str]]:
    # Concrete types, not Mapping: parsed documents are dicts, and ABC checks dominate big specs.
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield where, ref
        for k, v in node.items():
            if isinstance(v, dict | list):
                yield from _refs(v, f"{where}/{escape(str(k))}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _refs(v, f"{where}/{i}")


def _inline(spec: Spec, node: Any, stack: tuple[str, ...], done: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in stack:
                return dict(node)
            if ref not in done:
                done[ref] = _inline(spec, spec.at(ref), (*stack, ref), done)
            return done[ref]
        return {k: _inline(spec, v, stack, done) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(spec, v, stack, done) for v in node]
    return node


# yaml-rs (Rust) parses a large description ~20x faster than PyYAML, whose constructor runs in
# Python even over libyaml. It reads YAML 1.2 (`yes` and `1:20` stay strings, as OpenAPI 3.1
# asks); a document it refuses (duplicate keys) goes to PyYAML with libyaml's safe loader,
# whose errors also name the line and column.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Parsed files by (path, modification time, size): a notebook lints and diffs the same file often.
_PARSED: dict[tuple[str, int, int], tuple[Callable[[bytes], Any], bytes]] = {}


def _parse_text(text: str, origin: str) -> Any:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecLoadError(
                f"{origin}:{e.lineno}:{e.colno}: broken JSON ({e.msg}); fix the document there.",
                where=f"{origin}:{e.lineno}:{e.colno}",
            ) from None
    try:
        return yaml_rs.loads(text, parse_datetime=False)
    except (yaml_rs.YAMLDecodeError, ValueError):
        pass
    try:
        return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader, libyaml's when built
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecLoadError(
            f"{at}: broken YAML ({problem}); fix the indentation or quoting there.", where=at
        ) from None


def _fetch(url: str) -> str:
    """The document at `url` as given; a bare service root gets FastAPI's `/openapi.json`."""
    import httpx

    if urlsplit(url).path in ("", "/"):
        url = url.rstrip("/") + "/openapi.json"
    try:
        response = httpx.get(url, timeout=10.0, follow_redirects=True)
    except httpx.HTTPError as e:
        raise SpecLoadError(
            f"could not fetch {url} ({type(e).__name__}: {e}); is the service running? "
            "Start it with `lk.LiveService()`."
        ) from None
    if response.status_code >= 400:
        raise SpecLoadError(
            f"{url} answered {response.status_code} {response.reason_phrase}: the server runs but "
            "serves no document there; check the URL's path (FastAPI serves /openapi.json)."
        )
    return response.text


def _read_file(path: Path) -> Any:
    """Parse a file once per modification: later loads copy the cached parse (far faster)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _PARSED:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise SpecLoadError(
                f"{path} is not UTF-8 (byte {raw[e.start]:#04x} at offset {e.start}); "
                "OpenAPI files are UTF-8: re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
            ) from None
        if len(_PARSED) >= 32:
            del _PARSED[next(iter(_PARSED))]
        _PARSED[key] = _freeze(_parse_text(text, str(path)))
    thaw, blob = _PARSED[key]
    return thaw(blob)  # bytes this module wrote itself


def _freeze(doc: Any) -> tuple[Callable[[bytes], Any], bytes]:
    """A parsed document as bytes a fresh copy is made from (3x faster than parsing again).

    marshal copies plain JSON types fastest; a YAML date or other object needs pickle.
    """
    try:
        return marshal.loads, marshal.dumps(doc)
    except ValueError:
        return pickle.loads, pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL)


def _read_ref(where: str) -> Any:
    """A file or URL a `$ref` names (or the document itself), parsed."""
    if urlsplit(where).scheme in ("http", "https"):
        return _parse_text(_fetch(where), where)
    path = Path(where)
    if not path.is_file():
        raise SpecLoadError(
            f"a $ref names {where}, which is not a file; check the relative path in the $ref.",
            where=where,
        )
    return _read_file(path)


def _bundled(doc: Any, origin: str) -> Any:
    """The document with `$ref`s to other files or URLs bundled in (most have none)."""
    if isinstance(doc, dict) and has_external_refs(doc):
        return bundle(doc, origin, _read_ref)
    return doc


def load(source: Any) -> Spec:
    """Load an OpenAPI 3.0/3.1/3.2 document and check it, so every later step can trust its shape.

    `source` is a `Spec`, a dict, a YAML/JSON file path (gzipped too), YAML/JSON text, an
    http(s) URL (of the document, taken as given, or of a service root serving `/openapi.json`),
    a running service with a `.url`, or a FastAPI app. A file or URL whose `$ref`s name other
    files or URLs is bundled into one document. A malformed document raises `SpecLoadError`
    naming where it breaks.

    >>> spec = lk.contract.load("notebooks/contracts/shop-v1.yaml")
    """
    if isinstance(source, Spec):
        return source
    if isinstance(source, Mapping):
        return Spec(copy.deepcopy(dict(source)))
    if hasattr(source, "openapi") and callable(source.openapi):
        return Spec(copy.deepcopy(source.openapi()), origin=type(source).__name__)
    if isinstance(getattr(source, "url", None), str):
        return Spec(_parse_text(_fetch(source.url), source.url), origin=source.url)
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        return Spec(_bundled(_read_ref(source), source), origin=source)
    if isinstance(source, str) and "\n" in source:
        return Spec(_parse_text(source, "<text>"), origin="<text>")
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise SpecLoadError(
                f"no OpenAPI file at {str(path)!r} (working directory {Path.cwd()}); "
                "check the path, or pass a dict, a URL or YAML text."
            )
        return Spec(_bundled(_read_file(path), str(path.resolve())), origin=str(path))
    raise SpecLoadError(
        f"cannot load an OpenAPI document from {type(source).__name__} {source!r}; "
        "pass a file path, a dict, a URL, YAML text, a LiveService or a FastAPI app."
    )
