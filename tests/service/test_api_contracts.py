"""The GraphQL and protobuf contracts evolve by their rules: SDL diffed, field numbers kept."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from labkit.styles import PROTO, cross_decode, graphql_changes, proto_changes
from sample_service.graphql import SDL_PATH, build_schema, sdl

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_sdl_is_the_schema_served() -> None:
    assert SDL_PATH.read_text() == sdl(), (
        "the GraphQL schema changed: review the diff, then regenerate with "
        "`python -c 'from sample_service.graphql import sdl, SDL_PATH; SDL_PATH.write_text(sdl())'`"
    )


def test_the_served_schema_breaks_nothing_in_the_committed_one() -> None:
    changes = graphql_changes(SDL_PATH.read_text(), sdl())
    assert (changes["verdict"] != "breaking").all(), changes


def test_every_deprecation_gives_a_reason() -> None:
    fields = [
        field
        for graphql_type in build_schema()._schema.type_map.values()
        for field in (getattr(graphql_type, "fields", None) or {}).values()
        if getattr(field, "deprecation_reason", None) is not None
    ]
    assert fields, "the schema deprecates at least one field (Product.price)"
    assert all(len(field.deprecation_reason) > 20 for field in fields)


def test_removing_a_deprecated_field_is_reported_breaking() -> None:
    current = sdl()
    without = "\n".join(line for line in current.splitlines() if "price: Float!" not in line)
    changes = graphql_changes(current, without)
    removed = changes[changes["kind"] == "FIELD_REMOVED"]
    assert list(removed["verdict"]) == ["breaking"]
    assert "Product.price" in removed["description"].iloc[0]


# -- protobuf ----------------------------------------------------------------------------------


def _history() -> list[str]:
    """Every committed version of the catalog's .proto (skipped outside a git checkout)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the .proto history cannot be read")
    path = PROTO.relative_to(ROOT).as_posix()
    revs = subprocess.run(
        ["git", "log", "--format=%H", "--", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [
        subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        for rev in revs
    ]


def test_no_committed_proto_version_is_broken_by_the_current_one() -> None:
    current = PROTO.read_text()
    for old in _history():
        changes = proto_changes(old, current)
        assert (changes["verdict"] != "breaking").all(), changes


def test_reusing_a_field_number_is_caught() -> None:
    current = PROTO.read_text()
    reused = current.replace("string description = 8;", "string colour = 8;")
    changes = proto_changes(current, reused)
    assert changes.loc[changes["verdict"] == "breaking", "number"].tolist() == [8]


def test_a_removed_field_is_safe_only_with_its_number_reserved() -> None:
    current = PROTO.read_text()
    dropped = current.replace("  string description = 8;\n", "")
    reserved = current.replace(
        "  string description = 8;\n", '  reserved 8;\n  reserved "description";\n'
    )
    assert "breaking" in set(proto_changes(current, dropped)["verdict"])
    assert set(proto_changes(current, reserved)["verdict"]) == {"safe"}


def test_an_old_reader_decodes_a_message_with_a_new_field() -> None:
    current = PROTO.read_text()
    newer = current.replace(
        "string description = 8;", "string description = 8;\n  string colour = 9;"
    )
    seen = cross_decode(newer, current, "Product", id=7, name="Kettle", colour="red")
    assert seen == {"id": "7", "name": "Kettle"}


def test_no_generated_stubs_are_committed() -> None:
    generated = [p for p in (ROOT / "sample_service").rglob("*_pb2*.py")]
    assert generated == [], "stubs are generated from the .proto at import time"
