"""Fixtures for the gateway tests.

`stub_gateway`: the real nginx with the real gateway template, in front of two
small stub upstreams (one per service) that echo what they receive and can be
told to fail. Fast and deterministic: it tests nginx's own behaviour.

`stack`: the whole stack on the host - PostgreSQL, Redis, the migration job,
both services under gunicorn and nginx - started by the same launcher as
`make dev` (deploy/hoststack), once per session, on free ports.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from hoststack.gateway import Gateway
from hoststack.procs import free_port
from hoststack.stack import Stack, StackConfig

PASSWORD = "correct horse battery staple"
PROBLEM = "application/problem+json"
GATEWAY_429_DETAIL = "Rate limit exceeded at the gateway; retry later."


# --- stub upstreams ------------------------------------------------------------
class _StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _StubServer

    def _handle(self) -> None:
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


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _StubHandler)
        self.name = name
        self.seen: list[dict[str, Any]] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@dataclass
class StubGateway:
    url: str
    access_log: Path
    auth: _StubServer
    resource: _StubServer
    gateway: Gateway

    def access_entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.access_log.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def stub_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubGateway]:
    servers = [_StubServer("auth"), _StubServer("resource")]
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    run_dir = tmp_path_factory.mktemp("stub-gateway")
    gateway = Gateway(
        run_dir,
        listen=f"127.0.0.1:{free_port()}",
        auth_upstream=servers[0].address,
        resource_upstream=servers[1].address,
        env={},
    )
    try:
        gateway.start()
        yield StubGateway(gateway.url, gateway.access_log, servers[0], servers[1], gateway)
    finally:
        gateway.stop()
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(5)


# --- the whole stack -------------------------------------------------------------
@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        run_dir=tmp_path_factory.mktemp("hoststack"),
        environment="production",  # as in docker-compose.yml: real secrets, no defaults
        web_concurrency=2,
        # The services' own per-IP limits would trip first (every request
        # here comes from 127.0.0.1); these tests are about the gateway's.
        service_env={
            "LOGIN_RATE_LIMIT": "1000/minute",
            "LOGIN_ACCOUNT_RATE_LIMIT": "1000/minute",
            "REGISTER_RATE_LIMIT": "1000/minute",
            "REGISTER_ACCOUNT_RATE_LIMIT": "1000/minute",
            "WRITE_RATE_LIMIT": "10000/minute",  # the OpenAPI fuzz writes a lot
        },
    )
    with Stack(config) as running:
        yield running


@pytest.fixture
def gw(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=15.0) as client:
        yield client


def send(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request that waits out the gateway's strict credential zone (5 r/s)
    instead of failing on it: only the rate-limit test wants those 429s."""
    for _ in range(5):
        response = client.request(method, url, **kwargs)
        if not (response.status_code == 429 and _is_gateway_429(response)):
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return response


def _is_gateway_429(response: httpx.Response) -> bool:
    try:
        return response.json().get("detail") == GATEWAY_429_DETAIL
    except ValueError:
        return False


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """A JSON problem body (RFC 9457) with this status and the request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def unique_email() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}@example.com"


@dataclass
class Account:
    email: str
    id: str
    access_token: str
    refresh_token: str
    password: str = PASSWORD
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def register_and_login(client: httpx.Client) -> Account:
    email = unique_email()
    created = send(client, "POST", "/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    tokens = send(client, "POST", "/auth/token", data={"username": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(email, created.json()["id"], body["access_token"], body["refresh_token"])


def log_entries(path: Path) -> list[dict[str, Any]]:
    """JSON lines of a log file (lines that are not JSON are left out)."""
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def wait_for_log(path: Path, predicate: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Log lines are written after the response is sent: poll briefly."""
    deadline = time.monotonic() + timeout
    while True:
        found = [entry for entry in log_entries(path) if predicate(entry)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
