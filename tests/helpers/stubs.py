"""Stub upstreams for the gateway tests: small HTTP servers standing where
the two services are, echoing what they receive (the path, the headers, the
body's length) and failing on request (`/stub-problem`, `/stub-429`,
`/stub-500` anywhere in the path); `/stub-csp` adds a Content-Security-Policy
of the service's own (`STUB_CSP`), as the docs pages do."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hoststack.gateway import Gateway
from tests.helpers.gateway import log_entries

STUB_CSP = "default-src 'none'; script-src 'self'"


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StubServer

    def _handle(self) -> None:
        self.server.arrived.append(self.path)  # the head, before any of the body
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
        status, headers, payload = 200, {"Content-Type": "application/json"}, None
        if "/stub-problem" in self.path:
            status = 409
            headers = {"Content-Type": "application/problem+json"}
            payload = {"type": "about:blank", "title": "Conflict", "status": 409, "detail": "from the service"}
        elif "/stub-429" in self.path:
            status = 429
            headers = {"Content-Type": "application/problem+json", "Retry-After": "42"}
            payload = {"type": "about:blank", "title": "Too Many Requests", "status": 429, "detail": "service"}
        elif "/stub-500" in self.path:
            status = 500
            headers = {"Content-Type": "application/problem+json"}
            payload = {"type": "about:blank", "title": "Internal Server Error", "status": 500, "detail": "svc"}
        if "/stub-csp" in self.path:
            headers["Content-Security-Policy"] = STUB_CSP
        if payload is None:
            payload = {
                "upstream": self.server.name,
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "body_length": len(body),
                "padding": "x" * 2048,  # big enough for gzip
            }
        data = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        # What a service does: echo a request id. The gateway must send one.
        self.send_header("X-Request-ID", "set-by-upstream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.name = name
        self.arrived: list[str] = []
        self.seen: list[dict[str, Any]] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@dataclass
class StubGateway:
    url: str
    access_log: Path
    auth: StubServer
    resource: StubServer
    gateway: Gateway

    def access_entries(self) -> list[dict[str, Any]]:
        return log_entries(self.access_log)
