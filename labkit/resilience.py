"""Measuring resilience: the payments provider as a live service, and calls timed one by one.

Taught in 11_resilience. `PaymentsProvider` runs the shop's payments provider on its own port
with faults set at run time; `fire` sends calls from several threads and returns one row per
attempt; `Load` does the same in the background until told to stop; `Sampler` reads one
Prometheus series of a live service over time.

>>> with lk.PaymentsProvider() as provider:
...     provider.faults(error_rate=0.3, seed=1)
...     provider.stats()["attempts"]
0
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from labkit.errors import LabkitError
from labkit.service import LiveService

__all__ = [
    "Call",
    "Load",
    "PaymentsProvider",
    "Sampler",
    "fire",
    "metric",
    "order_calls",
    "summary",
]

PROVIDER_APP = "sample_service.payments.provider:app"
Targets = str | LiveService | Sequence[str | LiveService]


class PaymentsProvider(LiveService):
    """The payments provider (`sample_service.payments`) in a child process on a loopback port.

    Taught in 11_resilience.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(PROVIDER_APP, ready_path="/health", **kwargs)

    def faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the provider's faults (names as in `GET /faults`; unset ones turn off)."""
        with self.client() as http:
            response = http.put("/faults", json=faults)
        if response.status_code != 200:
            raise LabkitError(
                f"the provider refused faults {faults}: {response.text[:300]}; "
                f"see {self.url}/docs for the names and ranges"
            )
        body: dict[str, Any] = response.json()
        return body

    def stats(self) -> dict[str, Any]:
        """What reached the provider since the last `reset_stats()`."""
        with self.client() as http:
            body: dict[str, Any] = http.get("/stats").json()
        return body

    def arrivals(self) -> pd.DataFrame:
        """Every authorization attempt that arrived: second since the reset, key, attempt number."""
        frame = pd.DataFrame(self.stats()["arrivals"], columns=["second", "key"])
        frame["attempt"] = frame.groupby("key").cumcount() + 1
        return frame

    def wait_until(self, stat: str, at_least: int, *, timeout: float = 10.0) -> int:
        """Wait until `stats()[stat]` reaches `at_least` (e.g. requests held by a hang)."""
        deadline = time.monotonic() + timeout
        while (value := int(self.stats()[stat])) < at_least:
            if time.monotonic() > deadline:
                raise LabkitError(
                    f"the provider's {stat} stayed at {value}, below {at_least}, for "
                    f"{timeout:.0f} s; are the calls reaching it?"
                )
            time.sleep(0.05)
        return value

    def reset_stats(self) -> None:
        """Start counting afresh."""
        with self.client() as http:
            http.delete("/stats")

    def charges(self, reference: str | None = None) -> int:
        """Payments authorized (and not undone by a retry), for one reference or all."""
        params = {} if reference is None else {"reference": reference}
        with self.client() as http:
            return len(http.get("/v1/payments", params=params).json())


@dataclass(frozen=True)
class Call:
    """One HTTP request to send; headers go with every attempt (an idempotency key too).

    Taught in 11_resilience.
    """

    method: str
    path: str
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def order_calls(
    n: int | None,
    *,
    product_id: int | Sequence[int],
    headers: Mapping[str, str],
    quantity: int = 1,
) -> Iterator[Call]:
    """`n` order placements (endless when None), each with an Idempotency-Key of its own.

    Several product ids are used in turn, so concurrent orders do not queue on one row lock.

    Taught in 11_resilience.
    """
    products = itertools.cycle([product_id] if isinstance(product_id, int) else product_id)
    for _ in itertools.count() if n is None else range(n):
        body = {"items": [{"product_id": next(products), "quantity": quantity}]}
        yield Call("POST", "/v1/orders", body, {**headers, "Idempotency-Key": str(uuid.uuid4())})


def fire(
    targets: Targets,
    calls: Iterable[Call],
    *,
    concurrency: int = 8,
    timeout: float = 5.0,
    attempts: int = 1,
    duration: float | None = None,
) -> pd.DataFrame:
    """Send `calls` from `concurrency` threads and time every attempt; one row per attempt.

    `attempts` > 1 makes the client retry a 5xx or a transport error at once (a naive client).
    Several targets are used in turn, and a GET that fails in transport moves on to the next
    one (what a load balancer does). `duration` stops taking new calls after that many
    seconds, so `calls` may be endless. Columns: call, attempt, target, path, start, end
    (`time.monotonic()`), seconds, status (0 when no response came), error, final.

    Taught in 11_resilience.
    """
    with Load(targets, calls, concurrency=concurrency, timeout=timeout, attempts=attempts) as load:
        load.wait(duration)
    return load.result


class Load:
    """`fire` in the background: calls go out until the calls run out or the block ends.

    >>> with lk.resilience.Load(svc, itertools.repeat(call), concurrency=4) as load:
    ...     svc.restart()
    >>> load.result                      # one row per attempt

    Taught in 11_resilience.
    """

    def __init__(
        self,
        targets: Targets,
        calls: Iterable[Call],
        *,
        concurrency: int = 8,
        timeout: float = 5.0,
        attempts: int = 1,
    ) -> None:
        self._urls = [_url(target) for target in _as_list(targets)]
        self._calls = iter(enumerate(calls))
        self._take = threading.Lock()
        self._stop = threading.Event()
        self._timeout = timeout
        self._attempts = attempts
        self._rows: list[dict[str, Any]] = []
        self._turn = itertools.count()
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="labkit-load")
        self._workers = [self._pool.submit(self._work) for _ in range(concurrency)]
        self.result = pd.DataFrame()

    def wait(self, seconds: float | None = None) -> None:
        """Block until the calls run out, or for at most `seconds`."""
        deadline = None if seconds is None else time.monotonic() + seconds
        for worker in self._workers:
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            try:
                worker.result(left)
            except TimeoutError:
                return

    def __enter__(self) -> Load:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)
        self.result = pd.DataFrame(self._rows, columns=_COLUMNS)

    def _next(self) -> tuple[int, Call] | None:
        with self._take:
            if self._stop.is_set():
                return None
            return next(self._calls, None)

    def _work(self) -> None:
        clients = {url: httpx.Client(base_url=url, timeout=self._timeout) for url in self._urls}
        try:
            while (item := self._next()) is not None:
                self._send(clients, *item)
        finally:
            for client in clients.values():
                client.close()

    def _send(self, clients: dict[str, httpx.Client], number: int, call: Call) -> None:
        url = self._urls[next(self._turn) % len(self._urls)]
        tries = self._attempts + (len(self._urls) - 1 if call.method == "GET" else 0)
        for attempt in range(1, tries + 1):
            row = _attempt(clients[url], call, number=number, attempt=attempt, target=url)
            transport_failed = row["status"] == 0
            retry = attempt < tries and (transport_failed or row["status"] >= 500)
            row["final"] = not retry
            self._rows.append(row)
            if not retry:
                return
            if transport_failed and call.method == "GET" and len(self._urls) > 1:
                url = self._urls[(self._urls.index(url) + 1) % len(self._urls)]


_COLUMNS = ["call", "attempt", "target", "path", "start", "end", "seconds", "status", "error"]
_COLUMNS += ["final"]


def _attempt(
    client: httpx.Client, call: Call, *, number: int, attempt: int, target: str
) -> dict[str, Any]:
    start = time.monotonic()
    status, error = 0, ""
    try:
        response = client.request(call.method, call.path, json=call.json, headers=call.headers)
        status = response.status_code
        if response.headers.get("content-type") == "application/problem+json":
            error = str(response.json().get("detail", ""))
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    end = time.monotonic()
    return {
        "call": number,
        "attempt": attempt,
        "target": target,
        "path": call.path,
        "start": start,
        "end": end,
        "seconds": end - start,
        "status": status,
        "error": error,
    }


def summary(frame: pd.DataFrame, by: str = "path") -> pd.DataFrame:
    """Per group: calls, the share answered 2xx, P50 and P99 in milliseconds.

    Taught in 11_resilience.
    """
    final = frame[frame["final"]] if "final" in frame else frame
    grouped = final.groupby(by)
    return pd.DataFrame(
        {
            "calls": grouped.size(),
            "ok_share": grouped["status"].apply(lambda s: float(s.between(200, 299).mean())),
            "p50_ms": grouped["seconds"].quantile(0.5) * 1000,
            "p99_ms": grouped["seconds"].quantile(0.99) * 1000,
        }
    ).round(3)


class Sampler:
    """Read one series of a live service's /metrics every `every` seconds while the block runs.

    >>> with lk.resilience.Sampler(svc, "shop_breaker_state", {"dependency": "payments"}) as s:
    ...     lk.resilience.fire(svc, calls)
    >>> s.result                         # columns: at (time.monotonic()), value

    Taught in 11_resilience.
    """

    def __init__(
        self,
        service: LiveService,
        metric: str,
        labels: Mapping[str, str] | None = None,
        *,
        every: float = 0.05,
    ) -> None:
        self._url = service.url
        self._metric = metric
        self._labels = dict(labels or {})
        self._every = every
        self._stop = threading.Event()
        self._rows: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="labkit-sampler", daemon=True)
        self.result = pd.DataFrame(columns=["at", "value"])

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.result = pd.DataFrame(self._rows, columns=["at", "value"])

    def _run(self) -> None:
        with httpx.Client(base_url=self._url, timeout=2.0) as http:
            while not self._stop.is_set():
                at = time.monotonic()
                with contextlib.suppress(httpx.HTTPError):  # a restarting service: try again
                    value = _value(http.get("/metrics").text, self._metric, self._labels)
                    self._rows.append({"at": at, "value": value})
                self._stop.wait(self._every)


def metric(
    service: LiveService, name: str, labels: Mapping[str, str] | None = None
) -> float | None:
    """The current value of one series of `service`'s /metrics (None when absent).

    Taught in 11_resilience.
    """
    with service.client() as http:
        return _value(http.get("/metrics").text, name, dict(labels or {}))


def _value(text: str, metric: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for point in family.samples:
            if point.name == metric and all(point.labels.get(k) == v for k, v in labels.items()):
                return float(point.value)
    return None


def _as_list(targets: Targets) -> list[str | LiveService]:
    if isinstance(targets, (str, LiveService)):
        return [targets]
    return list(targets)


def _url(target: str | LiveService) -> str:
    return target.url if isinstance(target, LiveService) else target
