"""One pure-ASGI middleware for per-request bookkeeping.

It assigns the request id, marks answers `Cache-Control: no-store` unless a
route set its own, writes exactly one access-log line, records the request
metrics, and is the last line of defence: an unhandled exception
becomes a 500 problem body with no internals, logged with its traceback.
"""

import time

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import metrics
from servicekit.context import REQUEST_ID_HEADER, accept_or_make_request_id, request_id_var
from servicekit.errors import problem_response
from servicekit.logs import get_logger

access_log = get_logger("access")
error_log = get_logger("servicekit.errors")

UNMATCHED_ROUTE = "<unmatched>"
# Probes and scrapes arrive every few seconds from the orchestrator and
# Prometheus: their access lines are DEBUG while they succeed, so the
# access log shows traffic, not heartbeats. A failing probe stays INFO.
QUIET_ROUTES = frozenset({"/livez", "/readyz", "/metrics"})


class HeadAsGet:
    """HEAD is GET without the body (RFC 9110 §9.3.2): every GET route
    answers it, with the same status and headers (Content-Length included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED_ROUTE


class RequestContextMiddleware:
    """The request id (and the service's name, for a process that runs more
    than one app, as the tests do) on every log line of a request, and its
    access line and metrics."""

    def __init__(self, app: ASGIApp, service: str | None = None) -> None:
        self.app = app
        self.service = {"service": service} if service else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = accept_or_make_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, **self.service)
        token = request_id_var.set(request_id)
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                # Answers carry personal data (accounts, rows, tokens): no
                # cache may keep them (ASVS 14.3.2) unless a route says
                # otherwise (the JWKS is public and cacheable).
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        started = time.perf_counter()
        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            error_log.exception("unhandled_exception", method=scope["method"], path=scope["path"])
            if not response_started:
                response = problem_response(500, "An unexpected error occurred; it has been logged.")
                await response(scope, receive, send_with_request_id)
        finally:
            metrics.IN_FLIGHT.dec()
            duration = time.perf_counter() - started
            route = route_template(scope)
            metrics.observe_request(scope["method"], route, status, duration)
            client = scope.get("client")
            quiet = route in QUIET_ROUTES and status < 400
            (access_log.debug if quiet else access_log.info)(
                "request",
                method=scope["method"],
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=round(duration * 1000, 2),
                client_ip=client[0] if client else None,
            )
            request_id_var.reset(token)
