"""Bundle a description split over several files (or URLs) into one document, as `redocly bundle`.

A schema referenced from another file moves into `components/schemas` under its own name and is
referenced from there, so a recursive or shared schema stays one definition; anything else a
`$ref` names in another file (a path item, an operation, a parameter) is copied in place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from labkit.contract._base import SpecLoadError, escape, unescape

__all__ = ["bundle", "has_external_refs"]

Reader = Callable[[str], Any]
# Keys below which every `$ref` names a schema, and keys whose value maps names to schemas
# (a `$ref` in place of such a map is copied, not made a schema).
_SCHEMA_KEYS = frozenset({"schema", "schemas"})
_SCHEMA_MAPS = frozenset(
    {"schemas", "properties", "patternProperties", "dependentSchemas", "$defs", "definitions"}
)


def has_external_refs(node: Any) -> bool:
    """Whether any `$ref` in `node` names another file or URL."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _join(base: str, ref: str) -> str:
    if urlsplit(base).scheme in ("http", "https"):
        return urljoin(base, ref)
    from pathlib import Path

    return str((Path(base).parent / unquote(ref)).resolve())


class _Bundler:
    def __init__(self, root: dict[str, Any], origin: str, read: Reader) -> None:
        self.root, self.origin, self.read = root, origin, read
        self.docs: dict[str, Any] = {origin: root}
        self.hoisted: dict[tuple[str, str], str] = {}
        self.copying: list[tuple[str, str]] = []
        self.schemas: dict[str, Any] = {}

    def target(self, where: str, pointer: str) -> Any:
        if where not in self.docs:
            self.docs[where] = self.read(where)
        node = self.docs[where]
        for token in unquote(pointer).split("/")[1:]:
            token = unescape(token)
            try:
                node = node[int(token)] if isinstance(node, list) else node[token]
            except (KeyError, IndexError, ValueError, TypeError):
                raise SpecLoadError(
                    f"$ref {where}#{pointer} points at nothing; check the file and the pointer.",
                    where=f"{where}#{pointer}",
                ) from None
        return node

    def rewrite(self, node: Any, where: str, in_schema: bool, is_map: bool = False) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                return self.reference(ref, where, in_schema, is_map)
            return {
                k: self.rewrite(
                    v,
                    where,
                    in_schema or k in _SCHEMA_KEYS,
                    (in_schema or k == "schemas") and k in _SCHEMA_MAPS and not is_map,
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [self.rewrite(v, where, in_schema) for v in node]
        return node

    def reference(self, ref: str, where: str, in_schema: bool, is_map: bool) -> Any:
        file, _, pointer = ref.partition("#")
        target = _join(where, file) if file else where
        if target == self.origin and where == self.origin:
            return {"$ref": ref}  # a local reference of the root document stays as it is
        if in_schema and not is_map:
            return {"$ref": self.hoist(target, pointer)}
        key = (target, pointer)
        if key in self.copying:
            raise SpecLoadError(
                f"$ref {ref!r} in {where} refers back to itself outside a schema; "
                "only schemas may be recursive.",
                where=where,
            )
        self.copying.append(key)
        copied = self.rewrite(self.target(target, pointer), target, in_schema, is_map)
        self.copying.pop()
        return copied

    def hoist(self, where: str, pointer: str) -> str:
        """The local `$ref` of a schema from another file, moved into components once."""
        if where == self.origin:
            return f"#{pointer}"
        key = (where, pointer)
        if key not in self.hoisted:
            stem = urlsplit(where).path.rsplit("/", 1)[-1].split(".")[0]
            name = unescape(pointer.rsplit("/", 1)[-1]) if pointer.strip("/") else stem
            taken = set(self.schemas) | set(
                (self.root.get("components") or {}).get("schemas") or {}
            )
            unique, n = name, 1
            while unique in taken:
                n += 1
                unique = f"{name}_{n}"
            self.schemas[unique] = None  # reserved before the walk: recursion finds the name
            self.hoisted[key] = f"#/components/schemas/{escape(unique)}"
            self.schemas[unique] = self.rewrite(self.target(where, pointer), where, True)
        return self.hoisted[key]


def bundle(doc: Mapping[str, Any], origin: str, read: Reader) -> dict[str, Any]:
    """`doc` (read from `origin`) with every `$ref` to another file or URL brought inside it.

    `read` parses the file or URL it is given; a missing one raises `SpecLoadError`.
    """
    bundler = _Bundler(dict(doc), origin, read)
    result: dict[str, Any] = bundler.rewrite(bundler.root, origin, False)
    if bundler.schemas:
        components = result.setdefault("components", {})
        components["schemas"] = {**(components.get("schemas") or {}), **bundler.schemas}
    return result
