"""Protocol Buffers without generated files: compile ``.proto`` text, build its messages,
judge the field changes between two versions (what `lk.styles` shows in 13_api_styles)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from labkit.errors import BadArgument

__all__ = ["cross_decode", "proto_changes", "proto_messages"]


def _compile(proto_text: str, name: str = "shop_catalog.proto") -> Any:
    """A ``FileDescriptorSet`` of ``proto_text`` compiled by grpcio-tools' protoc."""
    from google.protobuf import descriptor_pb2

    with tempfile.TemporaryDirectory(prefix="labkit-proto-") as tmp:
        source = Path(tmp) / name
        source.write_text(proto_text)
        out = Path(tmp) / "set.pb"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{tmp}",
                f"--descriptor_set_out={out}",
                name,
            ],
            capture_output=True,
            text=True,
            cwd=tmp,
            check=False,
        )
        if run.returncode != 0:
            raise BadArgument(f"protoc refused the .proto: {run.stderr.strip()}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def proto_messages(proto_text: str) -> dict[str, Any]:
    """Message classes built from ``.proto`` text, by short name (no files generated)."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    files = _compile(proto_text).file
    for file in files:
        pool.Add(file)
    out: dict[str, Any] = {}
    for file in files:
        for message in file.message_type:
            descriptor = pool.FindMessageTypeByName(f"{file.package}.{message.name}")
            out[message.name] = message_factory.GetMessageClass(descriptor)
    return out


def cross_decode(writer: str, reader: str, message: str, **fields: Any) -> dict[str, Any]:
    """Encode ``fields`` with the ``writer`` schema, decode with ``reader``: what an old
    client sees of a newer server's message (unknown fields are skipped, not errors).

    Taught in 13_api_styles.
    """
    from google.protobuf.json_format import MessageToDict

    wire = proto_messages(writer)[message](**fields).SerializeToString()
    decoded = proto_messages(reader)[message].FromString(wire)
    decoded_fields: dict[str, Any] = MessageToDict(decoded, preserving_proto_field_name=True)
    return decoded_fields


def proto_changes(old: str, new: str) -> pd.DataFrame:
    """Field changes between two versions of a ``.proto``, each judged by protobuf's rules.

    A field number given to another name or type, or dropped without ``reserved``, is
    breaking (old data decodes into the wrong field); an added field is safe.
    Taught in 13_api_styles.
    """

    def fields(proto: str) -> tuple[dict[tuple[str, int], tuple[str, int]], dict[str, set[int]]]:
        found: dict[tuple[str, int], tuple[str, int]] = {}
        reserved: dict[str, set[int]] = {}
        for file in _compile(proto).file:
            for message in file.message_type:
                for field in message.field:
                    found[(message.name, field.number)] = (field.name, field.type)
                reserved[message.name] = {
                    n for r in message.reserved_range for n in range(r.start, r.end)
                }
        return found, reserved

    before, _ = fields(old)
    after, reserved = fields(new)
    rows = []
    for (message, number), (name, kind) in sorted(before.items()):
        now = after.get((message, number))
        if now is None:
            ok = number in reserved.get(message, set())
            rows.append(
                (
                    message,
                    number,
                    name,
                    "removed",
                    "safe" if ok else "breaking",
                    "number reserved" if ok else "number not reserved: it can be reused",
                )
            )
        elif now != (name, kind):
            rows.append(
                (
                    message,
                    number,
                    name,
                    f"now {now[0]}",
                    "breaking",
                    "a published field number was reused",
                )
            )
    for (message, number), (name, _kind) in sorted(after.items()):
        if (message, number) not in before:
            rows.append((message, number, name, "added", "safe", "old readers skip it"))
    return pd.DataFrame(rows, columns=["message", "number", "field", "change", "verdict", "why"])
