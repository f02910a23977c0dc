"""One pure-ASGI middleware for per-request bookkeeping.

It assigns the request id, writes exactly one access-log line, records the
request metrics, and is the last line of defence: an unhandled exception
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


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = accept_or_make_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        token = request_id_var.set(request_id)
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            error_log.exception("unhandled_exception", method=scope["method"], path=scope["path"])
            if not response_started:
                response = problem_response(500, "An unexpected error occurred; it has been logged.")
                await response(scope, receive, send_with_request_id)
        finally:
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
