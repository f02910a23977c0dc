"""Fixtures for the gateway tests.

`stub_gateway`: the real nginx with the real gateway template, in front of two
small stub upstreams (one per service, tests/helpers/stubs.py) that echo what
they receive and can be told to fail. Fast and deterministic: it tests nginx's
own behaviour.

`stack`: the whole stack on the host - PostgreSQL, Redis, the migration job,
both services under gunicorn and nginx - started by the same launcher as
`make dev` (tools/hoststack), once per session, on free ports.

`platform`: where the end-to-end suite runs, chosen by `E2E_TARGET`: `host`
(the default: the `stack` above), `compose` (a stack `make up` started) or
`pods` (the Kubernetes dev overlay run on Docker like a kubelet would) or
`cluster` (a real cluster the dev overlay was applied to; CI's kind job).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from hoststack.gateway import Gateway
from hoststack.procs import free_port
from hoststack.stack import Stack, StackConfig
from tests.helpers.platforms import ClusterPlatform, ComposePlatform, HostPlatform, Platform, PodPlatform
from tests.helpers.stubs import StubGateway, StubServer

E2E_TARGETS = ("host", "compose", "pods", "cluster")


# --- nginx in front of stub upstreams -------------------------------------------
@pytest.fixture(scope="module")
def stub_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubGateway]:
    servers = [StubServer("auth"), StubServer("resource")]
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
            # Failures per account and address stay at their default:
            # test_lockout.py proves it on real addresses.
            "LOGIN_RATE_LIMIT": "1000/minute",
            "REGISTER_RATE_LIMIT": "1000/minute",
            "REGISTER_ACCOUNT_RATE_LIMIT": "1000/minute",
            "WRITE_RATE_LIMIT": "10000/minute",  # the OpenAPI fuzz writes a lot
        },
    )
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="session")
def platform(request: pytest.FixtureRequest) -> Platform:
    target = os.environ.get("E2E_TARGET", "host")
    if target == "host":
        return HostPlatform(request.getfixturevalue("stack"))
    if target == "cluster":
        return ClusterPlatform()
    if target == "pods":
        return PodPlatform(request.getfixturevalue("pod_run"))
    if target == "compose":
        compose = ComposePlatform()
        try:
            httpx.get(f"{compose.gateway_url}/healthz", timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            pytest.fail(f"E2E_TARGET=compose, but no gateway answers at {compose.gateway_url} ({exc}): make up first")
        return compose
    raise pytest.UsageError(f"E2E_TARGET={target!r}: expected one of {', '.join(E2E_TARGETS)}")


@pytest.fixture
def gw(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.gateway_url, timeout=15.0) as client:
        yield client


# --- a real browser: the system's Chromium, driven by Playwright -----------------------
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser's path; never a skip when it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: the browser tests need one. "
            "Run tools/install-host-deps.sh (as root on Debian it installs `chromium`), "
            "or set CHROMIUM=/path/to/chromium",
            pytrace=False,
        )
    return CHROMIUM


# Per module: Playwright's sync API runs an event loop of its own, closed
# before the suite's asyncio tests go on.
@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield browser
        finally:
            browser.close()
