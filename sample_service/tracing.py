"""OpenTelemetry tracing: a span per request, per service call and per SQL statement.

Off unless ``otel_traces_endpoint`` is set; then the official SDK exports OTLP/HTTP there
(labkit runs a receiver in-process, any collector works). Off means not installed at all:
no middleware, no listeners, no wrapped functions, so the hot read pays nothing.

The trace id doubles as the request id (both are 128 random bits), so a log line leads
straight to its trace; an incoming ``traceparent`` is honoured, and outbound httpx calls
carry one.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from sample_service import services
from sample_service.config import Settings
from sample_service.db import Database

# The tracer of the app serving this request: wrapped service functions are shared by every
# app in a process (tests build several), each app with its own provider.
_TRACER: ContextVar[trace.Tracer | None] = ContextVar("tracer", default=None)
_WRAPPED = "__traced__"


def install(app: FastAPI, settings: Settings, database: Database) -> TracerProvider | None:
    """Trace `app` when ``otel_traces_endpoint`` is set, else do nothing and return None.

    The provider is kept on ``app.state.tracer_provider`` (``force_flush()`` in tests).
    """
    if not settings.otel_traces_endpoint:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service}))
    exporter = OTLPSpanExporter(endpoint=settings.otel_traces_endpoint)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("sample_service")

    def enter_request(_span: Any, _scope: dict[str, Any]) -> None:
        _TRACER.set(tracer)  # the request's context: service spans below find their tracer

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        server_request_hook=enter_request,
        exclude_spans=["receive", "send"],
        excluded_urls="/metrics,/health",  # probes and scrapes every few seconds: noise
    )
    # Per engine, not SQLAlchemyInstrumentor().instrument(): that one patches
    # create_engine process-wide, and only once.
    usage = metrics.get_meter("sample_service").create_up_down_counter("db.client.connections")
    EngineTracer(tracer, database.engine, usage)  # type: ignore[no-untyped-call]
    database.tracer = tracer
    _wrap_services()
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)  # process-wide, once
    app.state.tracer_provider = provider
    return provider


def shutdown(app: FastAPI) -> None:
    """Flush and stop the app's exporter, if it traces."""
    provider: TracerProvider | None = getattr(app.state, "tracer_provider", None)
    if provider is not None:
        provider.shutdown()


def current_trace_id() -> str | None:
    """The trace id of the span in progress as 32 hex digits, or None outside a trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _wrap_services() -> None:
    """Give every public function of ``sample_service.services`` a span (once per process).

    Routers call them as module attributes (``catalog.get_product``), so replacing the
    attribute is enough; the module's own calls between functions stay unwrapped.
    """
    for info in pkgutil.iter_modules(services.__path__):
        module = importlib.import_module(f"{services.__name__}.{info.name}")
        for name, function in vars(module).items():
            if (
                inspect.isfunction(function)
                and function.__module__ == module.__name__
                and not name.startswith("_")
                and not getattr(function, _WRAPPED, False)
            ):
                setattr(module, name, _traced(function, f"{info.name}.{name}"))


def _traced(function: Callable[..., Any], span_name: str) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            tracer = _TRACER.get()
            if tracer is None:
                return await function(*args, **kwargs)
            with tracer.start_as_current_span(span_name, attributes={"code.function": span_name}):
                return await function(*args, **kwargs)

        setattr(run_async, _WRAPPED, True)
        return run_async

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        tracer = _TRACER.get()
        if tracer is None:
            return function(*args, **kwargs)
        with tracer.start_as_current_span(span_name, attributes={"code.function": span_name}):
            return function(*args, **kwargs)

    setattr(run, _WRAPPED, True)
    return run
