"""A review's inputs from one YAML file, so a team can keep it beside their design and run it in CI.

For example (every key optional):

contract: openapi-v2.yaml            # files are relative to this file
previous: openapi-v1.yaml
service_url: http://127.0.0.1:8000   # drift and contract tests here, else against a mock
schema: schema.sql                   # or a models module, an Alembic folder, a URL
workload: queries.yaml               # or the list of queries itself
locustfile: locustfile.py            # or a shipped scenario: catalog, orders, ...
url: http://127.0.0.1:8000
slo: p95 < 200ms and errors < 1% at 50 rps
scale: 5000                          # rows per table, or {table: rows}
engines: [sqlite, postgres]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from labkit.errors import ReviewError

__all__ = ["KEYS", "load_config"]

#: What a config file may name: the keyword arguments of `lk.review`.
KEYS = (
    "contract",
    "previous",
    "service_url",
    "schema",
    "workload",
    "locustfile",
    "url",
    "slo",
    "duration",
    "max_examples",
    "scale",
    "engines",
    "seed",
    "repeat",
)
_FILES = ("contract", "previous", "schema", "workload", "locustfile")


def load_config(path: str | Path) -> dict[str, Any]:
    """The keyword arguments of `lk.review` a config file names, its relative paths resolved.

    Taught in 14_design_review; `labkit review CONFIG` reads the same file.
    """
    source = Path(path)
    if not source.is_file():
        raise ReviewError(f"no review config at {source}; write a YAML file naming the inputs.")
    try:
        config = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0]
        raise ReviewError(f"{source} is not valid YAML ({first}).") from error
    if not isinstance(config, dict) or not config:
        raise ReviewError(f"{source} must be a YAML mapping of inputs, some of {list(KEYS)}.")
    unknown = sorted(set(config) - set(KEYS))
    if unknown:
        raise ReviewError(
            f"{source}: unknown key(s) {unknown}; a review config names {list(KEYS)}."
        )
    for key in _FILES:
        value = config.get(key)
        if isinstance(value, str) and "\n" not in value and (source.parent / value).exists():
            config[key] = source.parent / value
    if isinstance(config.get("engines"), str):
        config["engines"] = [config["engines"]]
    _check_shapes(source, config)
    return config


def _check_shapes(source: Path, config: dict[str, Any]) -> None:
    """Numbers are numbers and engines a list, so a typo is one line here, not a traceback."""
    scale = config.get("scale", 1)
    rows = scale.values() if isinstance(scale, dict) else [scale]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in rows):
        raise ReviewError(f"{source}: scale is rows per table (5000) or {{table: rows}}: {scale!r}")
    for key in ("duration", "max_examples", "seed", "repeat"):
        value = config.get(key, 1)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ReviewError(f"{source}: {key} must be a number, not {value!r}")
    engines = config.get("engines", [])
    if not isinstance(engines, list) or not all(isinstance(e, str) for e in engines):
        raise ReviewError(f"{source}: engines is a list such as [sqlite, postgres]: {engines!r}")
