"""The mock's process: uvicorn imports `app` from here, configured by `LABKIT_MOCK` (JSON)."""

from __future__ import annotations

import json
import os

from labkit.contract import load
from labkit.mock._app import MockApp

__all__ = ["app"]


def _from_environment() -> MockApp:
    config = json.loads(os.environ["LABKIT_MOCK"])
    low, high = config["latency_ms"]
    return MockApp(
        load(config["contract"]),
        latency_ms=(low, high),
        security=config["security"],
        seed=config["seed"],
    )


app = _from_environment()
