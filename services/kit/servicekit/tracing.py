"""OpenTelemetry traces, off unless an OTLP endpoint is configured.

With OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set,
each worker sends spans over OTLP/HTTP: one per request, named after its
route template and continuing an incoming W3C `traceparent`, with spans for
its dependencies, endpoint and serialization inside (FastAPI's own
telemetry, which starts once a tracer provider is set); one per SQL
statement and per pool checkout (`connect`); one per outgoing HTTP request
(the JWKS fetch, whose `traceparent` the auth service continues). The log
lines carry `trace_id` and `span_id`. The SDK's other variables apply as
they are: OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
(default: every trace the caller did not mark unsampled),
OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*.

The provider is made when the app starts, that is in each gunicorn worker
after the fork, never in the master: a span processor's export thread does
not survive a fork. Off, nothing is imported from the SDK or the
instrumentations, and a request runs the code it ran before.
"""

import os
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Liveness probes and scrapes come every few seconds and touch nothing. The
# readiness and health probes are traced: they query the database, and their
# statements would otherwise be traces of their own.
UNTRACED_PATHS = frozenset({"/livez", "/metrics"})

# This worker's provider while tracing is on.
_provider: "TracerProvider | None" = None


def configured() -> bool:
    """Whether the environment names an endpoint to send spans to."""
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def untraced(scope: MutableMapping[str, Any]) -> bool:
    """FastAPI's telemetry `exclude`: requests that get no span."""
    return scope.get("path") in UNTRACED_PATHS


def span_processor() -> "SpanProcessor":
    """Where the spans go: batched to the OTLP/HTTP endpoint, which the
    exporter reads from the standard variables. Tests replace it."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(OTLPSpanExporter())


def start(service_name: str, engine: "AsyncEngine") -> None:
    """Tracing on in this process, for requests and `engine`'s statements."""
    global _provider
    from opentelemetry import trace
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider

    # The environment's OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our name.
    resource = Resource.create({SERVICE_NAME: service_name}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(span_processor())
    # Global: FastAPI's request spans, and any tracer asked for later, use it.
    trace.set_tracer_provider(provider)
    # The instrumentation declares sqlalchemy < 2.1 and, when its check
    # refuses, only logs it and records nothing; it works with our 2.1
    # (tests/kit/test_tracing.py fails when a request shows no statement).
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True)
    _provider = provider


def stop() -> None:
    """Send the spans still waiting and turn tracing off; nothing when it is off."""
    global _provider
    if _provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().uninstrument()
    _provider.shutdown()
    _provider = None


def trace_client(client: "httpx.AsyncClient") -> None:
    """Spans for `client`'s requests, which carry the trace to the service
    they call; nothing while tracing is off."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_provider)


def add_trace_ids(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current span's `trace_id` and `span_id` (hex)
    on the line, so a request's lines and its trace find each other. Only a
    global lookup while tracing is off."""
    if _provider is None:
        return event
    from opentelemetry import trace

    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        event["trace_id"] = trace.format_trace_id(span.trace_id)
        event["span_id"] = trace.format_span_id(span.span_id)
    return event
