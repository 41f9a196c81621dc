"""A prototype from the contract: `lk.mock(contract)` serves it before any code exists.

What Stoplight's Prism does for JavaScript users: requests are checked against the contract
(problem+json listing each violation; 404 for an unknown path, 405 for an unknown method),
answers come from the contract's examples or, lacking a valid one, from its schemas, and
latency is yours to set. Contract tests, a client sketch and a load test then run against a
design. Taught in notebooks/14_design_review.ipynb.

>>> with lk.mock("notebooks/contracts/shop-v1.yaml", latency_ms=(5, 20)) as api:
...     api.client().get("/v1/products").json()
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labkit.contract import Spec, load
from labkit.mock._server import MockServer

__all__ = ["MockServer", "mock"]


def mock(
    contract: Spec | str | Path | Mapping[str, Any],
    *,
    latency_ms: float | tuple[float, float] = 0.0,
    security: bool = True,
    seed: int = 0,
    port: int | None = None,
) -> MockServer:
    """A mock server of `contract` (anything `lk.contract.load` reads); `with` starts it.

    Args:
        contract: a file, URL, dict, YAML text or `Spec`.
        latency_ms: added to every answer: a fixed delay, or a (low, high) uniform range.
        security: refuse (401) requests without credentials where the contract asks for
            them, as a gateway would; any token is accepted.
        seed: makes the latency range repeatable.
        port: a fixed port; by default a free one.

    Paths are served from the root (a `servers` base path is not prepended). A client steers
    it with `Prefer: code=404` (that documented response) or `Prefer: example=name`.
    """
    return MockServer(
        load(contract), latency_ms=latency_ms, security=security, seed=seed, port=port
    )
