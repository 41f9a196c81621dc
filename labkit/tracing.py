"""Traces without a tracing server: an in-process OTLP/HTTP receiver and a waterfall view.

The service exports with the official OpenTelemetry SDK, exactly as it would to a
collector; `TraceCollector` is that collector, in the notebook's process, keeping spans in
memory. `LiveService(tracing=True)` starts one and points the service at it. Taught in
10_observability.

>>> with lk.LiveService(tracing=True) as svc, svc.client() as client:
...     rid = client.get("/v1/products/1").headers["x-request-id"]
...     svc.trace(rid)            # a Trace: a waterfall in a notebook
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import pandas as pd
from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from labkit.errors import LabkitError

__all__ = ["Span", "Trace", "TraceCollector"]

_CELL = "white-space:nowrap;font-family:monospace;text-align:left"
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(frozen=True)
class Span:
    """One finished span as the receiver got it."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    error: bool = False

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def layer(self) -> str:
        """Which layer made it: http, service or sql (from the instrumentation's attributes)."""
        if "db.system" in self.attributes or "db.system.name" in self.attributes:
            return "sql"
        if "code.function" in self.attributes:
            return "service"
        return "http" if self.kind in ("server", "client") else self.kind


class Trace:
    """The spans of one trace, ordered by start; renders as a waterfall in a notebook."""

    def __init__(self, spans: list[Span]) -> None:
        self.spans = sorted(spans, key=lambda span: (span.start_ns, -span.end_ns))
        self.trace_id = self.spans[0].trace_id if self.spans else ""

    @property
    def root(self) -> Span:
        """The span with no parent in this trace (the server span of the request)."""
        ids = {span.span_id for span in self.spans}
        return next(span for span in self.spans if span.parent_id not in ids)

    def count(self, layer: str) -> int:
        """How many spans of a layer ("http", "service", "sql") the trace holds."""
        return sum(span.layer == layer for span in self.spans)

    def parent_of(self, span: Span) -> Span | None:
        """The span's parent within this trace."""
        return next((other for other in self.spans if other.span_id == span.parent_id), None)

    def frame(self) -> pd.DataFrame:
        """One row per span: name, layer, depth, start offset and duration in ms."""
        origin = min(span.start_ns for span in self.spans)
        depth = self._depths()
        rows = [
            {
                "name": span.name,
                "layer": span.layer,
                "depth": depth[span.span_id],
                "start_ms": (span.start_ns - origin) / 1e6,
                "duration_ms": span.duration_ms,
                "error": span.error,
                "span_id": span.span_id,
                "parent_id": span.parent_id,
            }
            for span in self.spans
        ]
        return pd.DataFrame(rows)

    def _depths(self) -> dict[str, int]:
        by_id = {span.span_id: span for span in self.spans}
        depths: dict[str, int] = {}
        for span in self.spans:
            depth, parent = 0, span.parent_id
            while parent in by_id:
                depth, parent = depth + 1, by_id[parent].parent_id
            depths[span.span_id] = depth
        return depths

    def _repr_html_(self) -> str:
        frame = self.frame()
        total = max(float((frame.start_ms + frame.duration_ms).max()), 1e-6)
        colours = {"http": "#4c78a8", "service": "#f58518", "sql": "#54a24b"}
        rows = []
        for span, row in zip(self.spans, frame.itertuples(), strict=True):
            left, width = 100 * row.start_ms / total, max(100 * row.duration_ms / total, 0.3)
            colour = "#e45756" if span.error else colours.get(span.layer, "#9d9d9d")
            bar = f"margin-left:{left:.2f}%;width:{width:.2f}%;background:{colour};height:0.9em"
            rows.append(
                f"<tr><td style='padding-left:{row.depth}em;{_CELL}'>{_label(span)}</td>"
                f"<td>{span.layer}</td><td style='text-align:right'>{span.duration_ms:.2f}</td>"
                f"<td style='width:50%'><div style='{bar}'></div></td></tr>"
            )
        head = (
            f"<p>trace <code>{self.trace_id}</code>: {len(frame)} spans, "
            + ", ".join(f"{n} {layer}" for layer, n in frame.layer.value_counts().items())
            + f", {total:.1f} ms</p>"
        )
        return (
            head
            + "<table><tr><th>span</th><th>layer</th><th>ms</th><th>timeline</th></tr>"
            + "".join(rows)
            + "</table>"
        )

    def __repr__(self) -> str:
        return f"<Trace {self.trace_id} spans={len(self.spans)}>"


class TraceCollector:
    """An OTLP/HTTP trace receiver on a loopback port, keeping spans in memory.

    Point an exporter at `endpoint` (``…/v1/traces``); protobuf and JSON bodies are both
    accepted, as the OTLP specification asks of a receiver.
    """

    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self._receive))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        """The URL exporters send to."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/traces"

    @property
    def spans(self) -> list[Span]:
        """Every span received so far."""
        with self._lock:
            return list(self._spans)

    def trace(self, trace_id: str, *, timeout: float = 5.0, settle: float = 0.3) -> Trace:
        """The spans of one trace, waiting until its root span arrived and no more come."""
        deadline = time.monotonic() + timeout
        seen = -1
        while True:
            spans = [span for span in self.spans if span.trace_id == trace_id]
            complete = any(span.kind == "server" for span in spans) and len(spans) == seen
            if complete:
                return Trace(spans)
            if time.monotonic() > deadline:
                raise LabkitError(
                    f"no complete trace {trace_id!r} within {timeout:.0f} s ({len(spans)} spans "
                    "so far); was the service started with tracing=True, and is the id a "
                    "request id from a response of that service?"
                )
            seen = len(spans)
            time.sleep(settle)

    def close(self) -> None:
        """Stop receiving; safe to call twice."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def __enter__(self) -> TraceCollector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _receive(self, body: bytes, content_type: str) -> None:
        request = ExportTraceServiceRequest()
        if content_type.startswith("application/json"):
            Parse(body.decode(), request)
        else:
            request.ParseFromString(body)
        spans = list(_decode(request))
        with self._lock:
            self._spans.extend(spans)


def _label(span: Span) -> str:
    """A waterfall row's label: the SQL text for a statement, else the span's name."""
    text = span.attributes.get("db.statement") or span.attributes.get("db.query.text")
    return html.escape(" ".join(str(text or span.name).split())[:100])


def _decode(request: ExportTraceServiceRequest) -> Iterator[Span]:
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield Span(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex() or None,
                    name=span.name,
                    kind=_KINDS.get(span.kind, "unspecified"),
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    attributes={item.key: _value(item.value) for item in span.attributes},
                    error=span.status.code == 2,  # STATUS_CODE_ERROR
                )


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def _handler(receive: Callable[[bytes, str], None]) -> type[BaseHTTPRequestHandler]:
    class OtlpHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            content_type = self.headers.get("Content-Type", "application/x-protobuf")
            try:
                receive(body, content_type)
            except Exception:  # a malformed export: tell the exporter, keep serving
                self.send_response(400)
                self.end_headers()
                return
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a notebook is no place for a receiver's access log."""

    return OtlpHandler
