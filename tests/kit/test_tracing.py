"""Traces: off by default; with an OTLP endpoint configured, each request is a
trace holding its statements and continuing the caller's `traceparent`, its
log lines carry the trace id, the JWKS fetch is a span the auth service
continues, and the provider is made when a worker starts.

In-process the spans land in the SDK's in-memory exporter; under gunicorn, in
a small OTLP/HTTP collector, as they would in production."""

import logging
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id
from opentelemetry.util._once import Once

from hoststack.procs import wait_until
from migrations.roles import RESOURCE_ROLE
from resource_service.main import create_app
from servicekit import tracing
from servicekit.middleware import HeadAsGet, RequestContextMiddleware
from tests.helpers.accounts import Account
from tests.helpers.apps import JWKS_URL, client_for, jwks_from, make_resource_settings, running_resource
from tests.helpers.database import RESOURCE_DB_PASSWORD, Database
from tests.helpers.gunicorn import resource_under_gunicorn
from tests.helpers.keys import public_pem
from tests.helpers.logs import log_lines

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Where spans land if any are made. No endpoint configured, and no
    global tracer provider before or after the test: the API lets a process
    set one once, and each test's app starts its own."""
    exporter = InMemorySpanExporter()
    monkeypatch.setattr(tracing, "span_processor", lambda: SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    for name in (*tracing.ENDPOINT_VARIABLES, "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    return exporter


@pytest.fixture
def spans(exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Tracing on, as an OTLP endpoint in the environment turns it on."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.invalid:4318")
    return exporter


@pytest.fixture
async def traced(
    spans: InMemorySpanExporter, database: Database, auth_app: FastAPI
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_resource(database, auth_app) as app, client_for(app) as client:
        yield client


def added_middleware(app: FastAPI) -> list[object]:
    return [middleware.cls for middleware in app.user_middleware]


def server_span(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (span,) = [span for span in exporter.get_finished_spans() if span.kind is SpanKind.SERVER and span.name == name]
    return span


def statements_under(exporter: InMemorySpanExporter, request: ReadableSpan) -> list[ReadableSpan]:
    """The SQL statements' spans below `request`, at any depth."""
    finished = exporter.get_finished_spans()
    parents = {span.context.span_id: span.parent for span in finished}

    def below_request(span: ReadableSpan) -> bool:
        parent = span.parent
        while parent is not None and parent.span_id != request.context.span_id:
            parent = parents.get(parent.span_id)
        return parent is not None

    return [span for span in finished if "db.statement" in (span.attributes or {}) and below_request(span)]


async def test_a_request_is_a_trace_of_its_route_holding_its_statements(
    traced: httpx.AsyncClient, spans: InMemorySpanExporter, account: Account
) -> None:
    created = await traced.post("/items/", json={"title": "Lamp"}, headers=account.headers)
    read = await traced.get(created.headers["location"], headers=account.headers)
    assert (created.status_code, read.status_code) == (201, 200)
    # A write (in a transaction) and a read (autocommit, an engine of its own options).
    for name, route, status in (("POST /items/", "/items/", 201), ("GET /items/{id}", "/items/{id}", 200)):
        request = server_span(spans, name)
        assert request.attributes is not None
        assert request.attributes["http.route"] == route
        assert request.attributes["http.response.status_code"] == status
        assert request.resource.attributes["service.name"] == "resource"
        # The SQLAlchemy instrumentation records nothing where its dependency check refuses (sqlalchemy >= 2.1).
        statements = statements_under(spans, request)
        assert statements, f"no database span under {name}: {[span.name for span in spans.get_finished_spans()]}"
        assert {span.attributes["db.system"] for span in statements if span.attributes} == {"postgresql"}


async def test_the_callers_traceparent_is_continued(traced: httpx.AsyncClient, spans: InMemorySpanExporter) -> None:
    assert (await traced.get("/health", headers={"traceparent": TRACEPARENT})).status_code == 200
    request = server_span(spans, "GET /health")
    assert format_trace_id(request.context.trace_id) == TRACE_ID
    assert request.parent is not None and request.parent.is_remote
    assert format_span_id(request.parent.span_id) == CALLER_SPAN_ID


async def test_probes_that_query_are_traced_heartbeats_are_not(
    traced: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    """/readyz's statements belong to its trace: no statement is a trace of its own."""
    spans.clear()  # the start-up's JWKS fetch
    for path in ("/livez", "/metrics", "/readyz"):
        assert (await traced.get(path)).status_code == 200
    finished = spans.get_finished_spans()
    assert [span.name for span in finished if span.kind is SpanKind.SERVER] == ["GET /readyz"]
    assert statements_under(spans, server_span(spans, "GET /readyz"))
    assert [span.name for span in finished if span.parent is None] == ["GET /readyz"]


async def test_log_lines_carry_the_trace_and_span_ids(traced: httpx.AsyncClient, spans: InMemorySpanExporter) -> None:
    with log_lines() as lines:
        assert (await traced.get("/health", headers={"traceparent": TRACEPARENT})).status_code == 200
    served = [line for line in lines if line["logger"] != "httpx"]  # not the test client's own line
    (access,) = [line for line in served if line["event"] == "request"]
    assert {line["trace_id"] for line in served} == {TRACE_ID}
    assert access["span_id"] == format_span_id(server_span(spans, "GET /health").context.span_id)


async def test_stdlib_log_lines_carry_the_trace_id_too(traced: httpx.AsyncClient) -> None:
    """gunicorn's, uvicorn's and SQLAlchemy's lines go through the same processors."""
    with log_lines() as lines, trace.get_tracer(__name__).start_as_current_span("work") as span:
        logging.getLogger("sqlalchemy.pool").warning("pool_event")
    (line,) = lines
    assert line["trace_id"] == format_trace_id(span.get_span_context().trace_id)


async def test_the_jwks_fetch_is_a_span_the_auth_service_continues(
    traced: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    """The resource app fetched the JWKS as it started."""
    finished = spans.get_finished_spans()
    (fetch,) = [
        span
        for span in finished
        if span.kind is SpanKind.CLIENT and (span.attributes or {}).get("http.url") == JWKS_URL
    ]
    served = server_span(spans, "GET /.well-known/jwks.json")
    assert served.parent is not None and served.parent.span_id == fetch.context.span_id
    assert served.context.trace_id == fetch.context.trace_id


@pytest.mark.parametrize(("service_name", "expected"), [(None, "resource"), ("resource-eu", "resource-eu")])
async def test_the_provider_is_made_when_a_worker_starts_the_app(
    spans: InMemorySpanExporter,
    database: Database,
    auth_app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    service_name: str | None,
    expected: str,
) -> None:
    """Not when the app is built (gunicorn's master may build it), but in its
    lifespan, which runs in each worker after the fork; OTEL_SERVICE_NAME wins."""
    if service_name:
        monkeypatch.setenv("OTEL_SERVICE_NAME", service_name)
    keys = jwks_from(auth_app)
    app = create_app(make_resource_settings(database), key_source=keys)
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    async with app.router.lifespan_context(app):
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
        assert provider.resource.attributes["service.name"] == expected
    await keys.aclose()
    # Request spans come from FastAPI itself: no middleware is added.
    assert added_middleware(app) == [RequestContextMiddleware, HeadAsGet]


async def test_off_no_span_no_provider_no_trace_id(
    exporter: InMemorySpanExporter, database: Database, auth_app: FastAPI
) -> None:
    async with running_resource(database, auth_app) as app, client_for(app) as client:
        with log_lines() as lines:
            assert (await client.get("/health", headers={"traceparent": TRACEPARENT})).status_code == 200
    assert exporter.get_finished_spans() == ()
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    assert added_middleware(app) == [RequestContextMiddleware, HeadAsGet]
    assert lines
    assert not [line for line in lines if "trace_id" in line or "span_id" in line]


# What a worker without an endpoint has loaded after starting and serving.
_LOADED_WHEN_OFF = """
import asyncio, sys, httpx
from resource_service.main import create_app

async def main():
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            for path in ("/health", "/items/"):
                await client.get(path)
    heavy = ("opentelemetry.sdk", "opentelemetry.instrumentation", "opentelemetry.exporter")
    print(sorted(name for name in sys.modules if name.startswith(heavy)))

asyncio.run(main())
"""


def test_off_nothing_of_the_sdk_or_the_instrumentations_is_loaded(
    database: Database, signing_key_file: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "public.pem"
    key_file.write_bytes(public_pem(signing_key_file))
    environment = {name: value for name, value in os.environ.items() if name not in tracing.ENDPOINT_VARIABLES}
    environment |= database.env(RESOURCE_ROLE, RESOURCE_DB_PASSWORD)
    environment |= {"ENVIRONMENT": "test", "JWT_PUBLIC_KEY_FILE": str(key_file)}
    result = subprocess.run(
        [sys.executable, "-c", _LOADED_WHEN_OFF], env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


@contextmanager
def otlp_collector() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """An OTLP/HTTP trace receiver on 127.0.0.1: its endpoint, and what it received."""
    received: list[ExportTraceServiceRequest] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


def test_under_gunicorn_the_workers_export_their_spans(
    database: Database, signing_key_file: Path, tmp_path: Path
) -> None:
    """The deployed path: gunicorn's forked workers, the batch processor, the
    OTLP/HTTP exporter configured by the standard variables alone."""
    with otlp_collector() as (endpoint, received):
        environment = {
            "WEB_CONCURRENCY": "2",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            # process.pid on every span: which process sent it.
            "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "process",
        }
        with resource_under_gunicorn(database, signing_key_file, tmp_path, **environment) as served:
            workers = served.workers()
            with httpx.Client(base_url=served.base, timeout=10) as client:
                for _ in range(10):
                    assert client.get("/readyz").status_code == 200

            def exported() -> list[tuple[dict[str, Any], Any]]:
                return [
                    ({kv.key: kv.value for kv in batch.resource.attributes}, span)
                    for request in received
                    for batch in request.resource_spans
                    for scope in batch.scope_spans
                    for span in scope.spans
                ]

            def requests_exported() -> int:
                return sum(span.name == "GET /readyz" for _, span in exported())

            wait_until(lambda: requests_exported() == 10, timeout=10, what="10 request spans exported")
    for resource, _ in exported():
        assert resource["service.name"].string_value == "resource"
        assert resource["process.pid"].int_value in workers
    spans = {span.span_id: span for _, span in exported()}

    def trace_root(span: Any) -> Any:
        while span.parent_span_id in spans:
            span = spans[span.parent_span_id]
        return span

    statements = [span for span in spans.values() if any(kv.key == "db.statement" for kv in span.attributes)]
    assert statements
    assert {trace_root(span).name for span in statements} == {"GET /readyz"}
