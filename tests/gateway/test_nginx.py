"""The gateway's own behaviour: the real nginx and the real template, in
front of stub upstreams (see `stub_gateway` in conftest.py)."""

from __future__ import annotations

import gzip
import json
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hoststack import gateway as gateway_module
from hoststack.gateway import Gateway
from hoststack.procs import free_port
from tests.helpers.gateway import GATEWAY_429_DETAIL, PROBLEM, assert_problem, wait_for_log
from tests.helpers.stubs import STUB_CSP, StubGateway

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


@pytest.fixture
def client(stub_gateway: StubGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stub_gateway.url, timeout=10.0) as client:
        yield client


ROUTES = [
    # (path, which upstream, path the upstream sees)
    ("/auth/register", "auth", "/auth/register"),
    ("/auth/token", "auth", "/auth/token"),
    ("/auth/refresh", "auth", "/auth/refresh"),
    ("/auth/docs", "auth", "/auth/docs"),
    ("/auth/docs/oauth2-redirect", "auth", "/auth/docs/oauth2-redirect"),
    ("/auth/docs/static/0123abcd/swagger-ui-bundle.js", "auth", "/auth/docs/static/0123abcd/swagger-ui-bundle.js"),
    ("/auth/openapi.json", "auth", "/auth/openapi.json"),
    ("/auth/health", "auth", "/health"),
    ("/users/me", "auth", "/users/me"),
    ("/.well-known/jwks.json", "auth", "/.well-known/jwks.json"),
    ("/items", "resource", "/items"),
    ("/items/", "resource", "/items/"),
    ("/items/42?limit=5", "resource", "/items/42?limit=5"),
    ("/bookmarks/", "resource", "/bookmarks/"),
    ("/bookmarks/7", "resource", "/bookmarks/7"),
    ("/resource/docs", "resource", "/resource/docs"),
    ("/resource/docs/oauth2-redirect", "resource", "/resource/docs/oauth2-redirect"),
    ("/resource/docs/static/0123abcd/docs-init.js", "resource", "/resource/docs/static/0123abcd/docs-init.js"),
    ("/resource/openapi.json", "resource", "/resource/openapi.json"),
    ("/resource/health", "resource", "/health"),
]


@pytest.mark.parametrize(("path", "upstream", "seen_path"), ROUTES)
def test_routes_reach_the_right_service_unchanged(client: httpx.Client, path: str, upstream: str, seen_path: str):
    response = client.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["upstream"] == upstream
    assert body["path"] == seen_path


@pytest.mark.parametrize(
    "path",
    [
        "/metrics",
        "/livez",
        "/readyz",
        "/health",
        "/",
        "/nope",
        "/itemsx",
        "/users",
        "/auth",
        "/resource",
        "/.well-known",
        "/metrics/",
        "/admin",
        "/usersfoo",
        "/bookmarksx/1",
        "/stub_status",
    ],
)
def test_internal_and_unknown_paths_are_json_404(client: httpx.Client, stub_gateway: StubGateway, path: str):
    before = len(stub_gateway.auth.seen) + len(stub_gateway.resource.seen)
    assert_problem(client.get(path), 404)
    assert len(stub_gateway.auth.seen) + len(stub_gateway.resource.seen) == before  # never proxied


def test_stub_status_answers_on_its_own_loopback_port_only(stub_gateway: StubGateway):
    # What nginx-prometheus-exporter reads; through the gateway's port it is a
    # 404 (above); here it answers 127.0.0.1 (GATEWAY_STATUS_ALLOW) alone.
    host, _, port = stub_gateway.gateway.status_listen.rpartition(":")
    assert host == "127.0.0.1"
    response = httpx.get(f"http://{host}:{port}/stub_status", timeout=5)
    assert response.status_code == 200
    assert response.text.startswith("Active connections:") and "Reading:" in response.text
    assert httpx.get(f"http://{host}:{port}/", timeout=5).status_code == 404


def test_healthz_is_answered_by_the_gateway(client: httpx.Client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert_problem(client.post("/healthz"), 405)


def test_forwarded_headers_are_overwritten_not_appended(client: httpx.Client, stub_gateway: StubGateway):
    response = client.get(
        "/users/me",
        headers={"X-Forwarded-For": "6.6.6.6, 7.7.7.7", "X-Real-IP": "6.6.6.6", "X-Forwarded-Proto": "https"},
    )
    headers = {key.lower(): value for key, value in response.json()["headers"].items()}
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"


def test_upstream_keepalive_is_http11_without_connection_close(client: httpx.Client):
    headers = {key.lower(): value for key, value in client.get("/users/me").json()["headers"].items()}
    assert "connection" not in headers  # empty Connection header: nginx keeps the connection open


def test_a_valid_request_id_passes_through_both_ways(client: httpx.Client, stub_gateway: StubGateway):
    response = client.get("/items/", headers={"X-Request-ID": "client-id_1.2-3"})
    assert response.headers["x-request-id"] == "client-id_1.2-3"
    assert response.headers.get_list("x-request-id") == ["client-id_1.2-3"]  # the upstream's copy is hidden
    sent = {key.lower(): value for key, value in response.json()["headers"].items()}
    assert sent["x-request-id"] == "client-id_1.2-3"
    logged = wait_for_log(stub_gateway.access_log, lambda e: e.get("request_id") == "client-id_1.2-3")
    assert logged and logged[0]["status"] == 200 and logged[0]["upstream_status"] == "200"


@pytest.mark.parametrize("bad", [b"has space", b"semi;colon", b"a" * 129, b'quote"', "ümlaut".encode(), b"", b"a/b"])
def test_a_malformed_request_id_is_replaced(client: httpx.Client, bad: bytes):
    response = client.get("/items/", headers=[(b"X-Request-ID", bad)])
    generated = response.headers["x-request-id"]
    assert generated.encode() != bad
    assert len(generated) == 32 and all(c in "0123456789abcdef" for c in generated)
    sent = {key.lower(): value for key, value in response.json()["headers"].items()}
    assert sent["x-request-id"] == generated


def test_every_response_has_an_id_and_security_headers(client: httpx.Client):
    for response in (client.get("/healthz"), client.get("/nope"), client.get("/users/me")):
        assert response.headers["x-request-id"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers.get_list("content-security-policy") == [STRICT_CSP]
        assert "retry-after" not in response.headers


@pytest.mark.parametrize("prefix", ["/auth/docs", "/resource/docs"])
def test_the_docs_pages_keep_their_own_policy_and_only_it(client: httpx.Client, prefix: str):
    # Swagger UI's pages set theirs (servicekit/docs.py); a second one from
    # the gateway would apply as well and block the page's scripts.
    for path in (f"{prefix}/stub-csp", f"{prefix}/static/x/stub-csp"):
        assert client.get(path).headers.get_list("content-security-policy") == [STUB_CSP]
    # without one of its own (a 404 there), the strict policy
    assert client.get(prefix).headers.get_list("content-security-policy") == [STRICT_CSP]
    # and nowhere else may a service choose: the gateway's strict policy stays
    for path in (f"{prefix}x/stub-csp", "/items/stub-csp", "/auth/stub-csp"):
        assert STRICT_CSP in client.get(path).headers.get_list("content-security-policy")


def test_the_access_log_is_one_json_object_per_request(client: httpx.Client, stub_gateway: StubGateway):
    client.get("/bookmarks/", headers={"X-Request-ID": "log-check-1"})
    (entry,) = wait_for_log(stub_gateway.access_log, lambda e: e.get("request_id") == "log-check-1")
    assert entry["method"] == "GET" and entry["path"] == "/bookmarks/" and entry["status"] == 200
    assert isinstance(entry["request_time"], float)
    assert entry["upstream_response_time"] != ""
    assert entry["upstream"] == stub_gateway.resource.address


def test_query_strings_stay_out_of_the_access_log(client: httpx.Client, stub_gateway: StubGateway):
    client.get("/items/?token=sekrit-value", headers={"X-Request-ID": "log-check-2"})
    (entry,) = wait_for_log(stub_gateway.access_log, lambda e: e.get("request_id") == "log-check-2")
    assert "sekrit-value" not in stub_gateway.access_log.read_text()
    assert entry["path"] == "/items/"


def test_service_problem_bodies_pass_through_untouched(client: httpx.Client):
    response = client.post("/items/stub-problem")
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == "from the service"
    response = client.get("/auth/stub-500")
    assert response.status_code == 500
    assert response.json()["detail"] == "svc"


def test_a_service_429_keeps_its_own_retry_after(client: httpx.Client):
    response = client.get("/auth/stub-429")
    assert response.status_code == 429
    assert response.headers.get_list("retry-after") == ["42"]
    assert response.json()["detail"] == "service"


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/items/", 64 * 1024), ("/bookmarks/x", 64 * 1024), ("/auth/token", 4096), ("/auth/refresh", 16 * 1024)],
)
def test_request_bodies_are_bounded_per_route_with_a_json_413(
    client: httpx.Client, stub_gateway: StubGateway, path: str, limit: int
):
    upstream = stub_gateway.auth if path.startswith("/auth") else stub_gateway.resource
    before = len(upstream.seen)
    response = client.post(path, content=b"x" * (limit + 1), headers={"Content-Type": "application/json"})
    assert_problem(response, 413)
    assert len(upstream.seen) == before  # never proxied
    assert client.post(path, content=b"x" * limit).status_code == 200


def test_json_responses_are_gzipped(client: httpx.Client):
    request = client.build_request("GET", "/auth/openapi.json", headers={"Accept-Encoding": "gzip"})
    response = client.send(request, stream=True)
    try:
        assert response.headers["content-encoding"] == "gzip"
        assert "Accept-Encoding" in response.headers["vary"]
        assert gzip.decompress(b"".join(response.iter_raw())).startswith(b"{")  # really gzip on the wire
    finally:
        response.close()
    problem = client.get("/nope", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in problem.headers


def test_credential_endpoints_are_rate_limited_per_address(client: httpx.Client, stub_gateway: StubGateway):
    time.sleep(2.5)  # an empty bucket, whatever ran before
    statuses = [client.post("/auth/login", data={"username": "x", "password": "y"}).status_code for _ in range(30)]
    assert statuses[:11] == [200] * 11  # burst 10 (+1 for the current slot), nodelay
    assert statuses.count(429) >= 15
    # /auth/token shares the zone. The bucket refills a slot every 200 ms, so
    # on a slow machine one request may find one free: ask a few times.
    tries = [client.post("/auth/token", data={"username": "x", "password": "y"}) for _ in range(3)]
    response = next((answer for answer in tries if answer.status_code == 429), tries[-1])
    body = assert_problem(response, 429)
    assert body["detail"] == GATEWAY_429_DETAIL
    assert response.headers["retry-after"] == "1"
    # other routes share only the general zone, so they still pass
    assert client.get("/users/me").status_code == 200
    time.sleep(2.5)  # refilled: allowed again
    assert client.post("/auth/register", json={}).status_code == 200


def test_a_dead_upstream_is_a_json_502(tmp_path, stub_gateway: StubGateway):
    gateway = Gateway(
        tmp_path,
        listen=f"127.0.0.1:{free_port()}",
        auth_upstream=stub_gateway.auth.address,
        resource_upstream=f"127.0.0.1:{free_port()}",  # nothing listens there
        env={},
    )
    gateway.start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=10.0) as client:
            body = assert_problem(client.get("/items/"), 502)
            assert "unavailable" in body["detail"]
            assert_problem(client.get("/resource/health"), 502)
            assert client.get("/users/me").status_code == 200  # the other service is unaffected
            # A token a client put in a query string stays out of the logs:
            # nginx 1.22 cannot format its error log, whose lines quote the
            # whole request line, so it logs only `crit` (the access log,
            # path only, tells which upstream failed).
            assert_problem(client.get("/items/?access_token=s3cret-in-query"), 502)
            for _ in range(30):
                client.post("/auth/token?access_token=s3cret-in-query", data={"username": "x", "password": "y"})
    finally:
        gateway.stop()
    logs = "".join(path.read_text(errors="replace") for path in tmp_path.rglob("*.log"))
    assert "connect() failed" not in logs and "limiting requests" not in logs
    assert "s3cret-in-query" not in logs


def test_an_upstream_that_never_answers_is_a_json_504(tmp_path, stub_gateway: StubGateway, monkeypatch):
    # The real template with a 1 s read timeout instead of 30 s.
    render = gateway_module.render_template
    monkeypatch.setattr(
        gateway_module,
        "render_template",
        lambda variables: render(variables).replace("proxy_read_timeout 30s;", "proxy_read_timeout 1s;"),
    )
    # Accepts connections (the kernel does, from the backlog) but never answers.
    silent = socket.create_server(("127.0.0.1", 0))
    gateway = Gateway(
        tmp_path,
        listen=f"127.0.0.1:{free_port()}",
        auth_upstream=stub_gateway.auth.address,
        resource_upstream=f"127.0.0.1:{silent.getsockname()[1]}",
        env={},
    )
    gateway.start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=10.0) as client:
            # proxy_next_upstream retries GET once on a timeout: one or two reads
            started = time.monotonic()
            body = assert_problem(client.get("/items/"), 504)
            assert time.monotonic() - started < 5
            assert "did not answer in time" in body["detail"]
            assert client.get("/users/me").status_code == 200  # the other service is unaffected
    finally:
        gateway.stop()
        silent.close()


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes httpx would refuse to; (status, headers, body) of the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /auth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n", 501),
        (b"GET /items/ HTTP/1.1\r\nHost: x\r\nHost: y\r\nConnection: close\r\n\r\n", 400),
    ],
)
def test_malformed_http_gets_a_json_problem(stub_gateway: StubGateway, request_bytes: bytes, status: int):
    got, headers, body = _raw(stub_gateway.url, request_bytes)
    assert got == status, body
    assert headers["content-type"] == PROBLEM
    assert json.loads(body)["status"] == status


# --- the Host header (ASVS 3.7.2) ---------------------------------------------------------
@pytest.mark.parametrize("path", ["/items/", "/auth/token", "/auth/docs", "/nope"])
def test_a_host_outside_the_public_names_is_a_421_never_proxied(
    client: httpx.Client, stub_gateway: StubGateway, path: str
):
    before = len(stub_gateway.auth.seen) + len(stub_gateway.resource.seen)
    response = client.post(path, headers={"Host": "evil.example"}, data={"username": "a", "password": "b"})
    assert_problem(response, 421)
    assert "location" not in response.headers
    assert len(stub_gateway.auth.seen) + len(stub_gateway.resource.seen) == before


@pytest.mark.parametrize("path", ["/healthz", "/auth/health", "/resource/health"])
def test_the_health_routes_answer_whatever_the_host(client: httpx.Client, path: str):
    assert client.get(path, headers={"Host": "10.1.2.3:8080"}).status_code == 200


def test_the_services_see_the_public_name_not_the_clients_text(client: httpx.Client, stub_gateway: StubGateway):
    for host in ("LOCALHOST:8080", "127.0.0.1"):
        seen = client.get("/items/x", headers={"Host": host}).json()["headers"]
        assert seen["Host"] in ("localhost", "127.0.0.1")
        assert seen["X-Forwarded-Host"] == seen["Host"]


# --- the gateway's own errors, for requests that never parsed ------------------------------
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /.. HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
        (b"GET /%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
        (b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
        (b"get / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
        (bytes.fromhex("16030100a5010000a10303") + b"\x00" * 40, 400),  # a TLS ClientHello on the plain port
        (b"GET /items/?q=" + b"x" * 20_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414),
        (b"GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 505),
        (b"FOO /items/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 501),
        ("GET /items/é HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(), 400),
    ],
    ids=["dot-dot", "nul", "options-star", "lower-case-method", "tls-hello", "uri-20k", "http-2.0", "unknown-method",
         "raw-non-ascii"],
)  # fmt: skip
def test_malformed_requests_get_a_json_problem_from_the_gateway(
    stub_gateway: StubGateway, request_bytes: bytes, status: int
):
    before = len(stub_gateway.auth.seen) + len(stub_gateway.resource.seen)
    got, headers, body = _raw(stub_gateway.url, request_bytes)
    assert got == status, body[:200]
    assert headers["content-type"] == PROBLEM
    problem = json.loads(body)
    assert problem["status"] == status and problem["request_id"] == headers["x-request-id"]
    assert len(stub_gateway.auth.seen) + len(stub_gateway.resource.seen) == before  # never proxied


# --- slow clients and connections per address ----------------------------------------------
CONN_LIMIT_DETAIL = "Too many requests in progress from this address at the gateway; retry later."


@contextmanager
def _gateway(
    tmp_path: Path,
    stub_gateway: StubGateway,
    monkeypatch: pytest.MonkeyPatch,
    *,
    directives: dict[str, str] | None = None,
    tunables: dict[str, str] | None = None,
) -> Iterator[Gateway]:
    """A gateway of its own: the real template with some directives changed
    (each one must be in it) and the tunables given, in front of the stubs."""
    render = gateway_module.render_template

    def rendered(variables: dict[str, str]) -> str:
        text = render(variables)
        for old, new in (directives or {}).items():
            assert old in text, f"the template has no {old!r}"
            text = text.replace(old, new)
        return text

    monkeypatch.setattr(gateway_module, "render_template", rendered)
    gateway = Gateway(
        tmp_path,
        listen=f"127.0.0.1:{free_port()}",
        auth_upstream=stub_gateway.auth.address,
        resource_upstream=stub_gateway.resource.address,
        env={},
        tunables=tunables,
    )
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


def _connect(gateway: Gateway, source: str = "127.0.0.1") -> socket.socket:
    host, port = gateway.listen.rsplit(":", 1)
    connection = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
    return connection


def _closed_after(connection: socket.socket, trickle: bytes, every: float) -> float:
    """Send `trickle` a byte every `every` seconds until the gateway ends the
    connection (closed, or reset: nginx answers a timed-out client nothing);
    the seconds that took."""
    started, pending = time.monotonic(), list(trickle)
    with connection:
        connection.settimeout(every)
        try:
            while True:
                try:
                    if not connection.recv(65536):
                        break
                except TimeoutError:
                    assert pending, f"still open after {time.monotonic() - started:.1f} s"
                    connection.sendall(bytes([pending.pop(0)]))
        except OSError:  # reset (reset_timedout_connection), or a broken pipe
            pass
    return time.monotonic() - started


def _slow_body_head(length: int) -> bytes:
    return (
        f"POST /items/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_a_body_trickled_slower_than_the_body_timeout_is_cut_before_any_service(
    tmp_path: Path, stub_gateway: StubGateway, monkeypatch: pytest.MonkeyPatch
):
    directives = {"client_body_timeout 10s;": "client_body_timeout 1s;"}
    with _gateway(tmp_path, stub_gateway, monkeypatch, directives=directives) as gateway:
        arrived = len(stub_gateway.resource.arrived)
        connection = _connect(gateway)
        connection.sendall(_slow_body_head(100) + b"{")
        took = _closed_after(connection, b'"a":' + b"1" * 20, every=1.5)  # every pause longer than 1 s
        print(f"a body stalled for longer than client_body_timeout (1 s): cut after {took:.2f} s")
        assert took < 6
        assert len(stub_gateway.resource.arrived) == arrived  # no service ever saw the request
        (entry,) = wait_for_log(gateway.access_log, lambda e: e["path"] == "/items/")
        assert entry["status"] == 408 and entry["upstream"] == ""


def test_a_body_in_time_waits_at_the_gateway_and_reaches_the_service_whole(
    tmp_path: Path, stub_gateway: StubGateway, monkeypatch: pytest.MonkeyPatch
):
    """client_body_timeout is between two reads, not a deadline for the body
    (nginx 1.22 has none): this body takes 3 s under a 1 s timeout. Request
    buffering keeps it at the gateway until it is whole."""
    directives = {"client_body_timeout 10s;": "client_body_timeout 1s;"}
    body = b'{"a":12}'
    with _gateway(tmp_path, stub_gateway, monkeypatch, directives=directives) as gateway:
        arrived = len(stub_gateway.resource.arrived)
        with _connect(gateway) as connection:
            connection.sendall(_slow_body_head(len(body)))
            started = time.monotonic()
            for byte in body:
                assert len(stub_gateway.resource.arrived) == arrived  # nothing proxied yet
                time.sleep(0.4)
                connection.sendall(bytes([byte]))
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                answer += connection.recv(65536)
        print(f"a body trickled a byte every 0.4 s: whole after {time.monotonic() - started:.2f} s")
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["body_length"] == len(body)
        assert len(stub_gateway.resource.arrived) == arrived + 1


def test_a_trickled_header_is_cut_at_the_header_deadline(
    tmp_path: Path, stub_gateway: StubGateway, monkeypatch: pytest.MonkeyPatch
):
    """client_header_timeout bounds the whole header, however steadily it trickles."""
    directives = {"client_header_timeout 10s;": "client_header_timeout 2s;"}
    with _gateway(tmp_path, stub_gateway, monkeypatch, directives=directives) as gateway:
        arrived = len(stub_gateway.resource.arrived)
        head = b"GET /items/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
        took = _closed_after(_connect(gateway), head, every=0.25)  # 25 s if it were per read
        print(f"a header trickled a byte every 0.25 s, client_header_timeout 2 s: cut after {took:.2f} s")
        assert 1.5 < took < 6
        assert len(stub_gateway.resource.arrived) == arrived


def _hold(gateway: Gateway, source: str) -> socket.socket:
    """A request in progress: its head sent, its body not."""
    connection = _connect(gateway, source)
    connection.sendall(_slow_body_head(100) + b"{")
    return connection


def test_requests_in_progress_are_limited_per_client_address(
    tmp_path: Path, stub_gateway: StubGateway, monkeypatch: pytest.MonkeyPatch
):
    with _gateway(tmp_path, stub_gateway, monkeypatch, tunables={"GATEWAY_CONN_PER_ADDRESS": "3"}) as gateway:
        arrived = len(stub_gateway.resource.arrived)
        clients = {
            source: httpx.Client(base_url=gateway.url, transport=httpx.HTTPTransport(local_address=source), timeout=10)
            for source in ("127.0.0.1", "127.0.0.2", "127.0.0.3")
        }
        held = [_hold(gateway, "127.0.0.1") for _ in range(3)]
        try:
            time.sleep(0.3)  # nginx has read their heads
            refused = clients["127.0.0.1"].get("/items/")
            body = assert_problem(refused, 429)
            assert body["detail"] == CONN_LIMIT_DETAIL
            assert refused.headers["retry-after"] == "1"
            # Other addresses are not affected (Linux routes all of 127/8 to lo).
            assert clients["127.0.0.2"].get("/items/").status_code == 200
            held += [_hold(gateway, "127.0.0.2") for _ in range(2)]
            time.sleep(0.3)
            assert clients["127.0.0.2"].get("/items/").status_code == 200  # its third
            assert clients["127.0.0.3"].get("/items/").status_code == 200
        finally:
            for connection in held:
                connection.close()
        # the three answered requests only: no held body ever reached the service
        assert len(stub_gateway.resource.arrived) == arrived + 3
        deadline = time.monotonic() + 5
        while (status := clients["127.0.0.1"].get("/items/").status_code) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)  # nginx notices the closed connections
        assert status == 200
        for client in clients.values():
            client.close()


def test_no_route_turns_request_buffering_off():
    """Slow bodies stay at the gateway only while nginx buffers them whole."""
    template = gateway_module.TEMPLATE.read_text()
    assert re.findall(r"^\s*proxy_request_buffering\s+(\w+);", template, re.MULTILINE) == ["on"]
    assert "limit_conn gw_conn_per_address ${GATEWAY_CONN_PER_ADDRESS};" in template


EXEMPT_SECRET = "bench-" + "s" * 40


@pytest.mark.parametrize(
    ("configured", "offered", "exempt"),
    [
        (EXEMPT_SECRET, EXEMPT_SECRET, True),
        (EXEMPT_SECRET, EXEMPT_SECRET + "x", False),
        (EXEMPT_SECRET, None, False),
        # Off (the default): no header value can match an empty secret, not even
        # one shaped to split as "x::x" against the pattern.
        ("", "", False),
        ("", "a" * 32 + "::" + "a" * 32, False),
        ("", "a" * 32 + ":" + "a" * 32, False),
    ],
)
def test_the_exemption_lifts_the_gateways_limits_for_its_secret_only(
    tmp_path: Path,
    stub_gateway: StubGateway,
    monkeypatch: pytest.MonkeyPatch,
    configured: str,
    offered: str | None,
    exempt: bool,
):
    headers = {"X-RateLimit-Exempt": offered} if offered is not None else {}
    with (
        _gateway(tmp_path, stub_gateway, monkeypatch, tunables={"RATE_LIMIT_EXEMPT_SECRET": configured}) as gateway,
        httpx.Client(base_url=gateway.url, headers=headers, timeout=10) as client,
    ):
        statuses = [client.post("/auth/token", data={"username": "x", "password": "y"}).status_code for _ in range(30)]
    if exempt:
        assert statuses == [200] * 30
    else:
        assert statuses.count(429) >= 15, statuses
