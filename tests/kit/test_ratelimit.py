"""The limiter's asyncio storage and the bench's exemption: a request with
the configured secret meets no limit, any other request meets every limit,
and with no secret configured the header means nothing."""

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from limits import parse
from pydantic import ValidationError
from starlette.requests import Request

from auth_service.main import create_app
from hoststack.redis import RedisServer
from servicekit.breaker import State
from servicekit.errors import TooManyRequests
from servicekit.ratelimit import EXEMPT_HEADER, UNLIMITED, RateLimiter, limiter_for
from servicekit.settings import ServiceSettings
from tests.helpers.accounts import PASSWORD, unique_email
from tests.helpers.apps import make_auth_settings
from tests.helpers.database import Database
from tests.helpers.proxy import Proxy, proxy_to
from tests.kit.test_breaker import state

SECRET = "s" * 40


def request(header: str | None) -> Request:
    headers = [(EXEMPT_HEADER.lower().encode(), header.encode())] if header is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": ("127.0.0.1", 1)})


async def test_limits_count_per_identity_and_refuse_with_retry_after() -> None:
    limiter = RateLimiter("memory://")
    for _ in range(2):
        await limiter.check("2/minute", "a")
    with pytest.raises(TooManyRequests) as refused:
        await limiter.check("2/minute", "a")
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    await limiter.check("2/minute", "b")  # another identity, its own window


async def test_outcome_limits_count_only_what_is_counted() -> None:
    limiter = RateLimiter("memory://")
    for _ in range(5):
        await limiter.refuse_if_over("2/minute", "failures")  # testing counts nothing
    await limiter.count("2/minute", "failures")
    await limiter.count("2/minute", "failures")
    with pytest.raises(TooManyRequests):
        await limiter.refuse_if_over("2/minute", "failures")


@pytest.mark.parametrize(
    ("configured", "offered", "exempt"),
    [
        (SECRET, SECRET, True),
        (SECRET, SECRET[:-1], False),
        (SECRET, None, False),
        (None, SECRET, False),
        (None, "", False),
    ],
)
async def test_only_the_configured_secret_exempts(configured: str | None, offered: str | None, exempt: bool) -> None:
    limiter = RateLimiter("memory://", exempt_secret=configured)
    assert (limiter_for(request(offered), limiter) is UNLIMITED) is exempt
    chosen = limiter_for(request(offered), limiter)
    for _ in range(3):
        try:
            await chosen.check("2/minute", "x")
        except TooManyRequests:
            assert not exempt
            return
    assert exempt


def test_a_short_exemption_secret_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        ServiceSettings(environment="test", rate_limit_exempt_secret="short")
    assert ServiceSettings(environment="test").rate_limit_exempt_secret.get_secret_value() == ""


async def test_an_unreachable_store_fails_nothing_when_told_to_fail_open() -> None:
    # Nothing listens on port 1: every call errs, and no request is refused.
    options: dict[str, str | float] = {"socket_connect_timeout": 0.2}
    limiter = RateLimiter("redis://127.0.0.1:1/0", storage_options=options, fallback="open")
    for _ in range(3):
        await limiter.check("1/minute", "x")
        await limiter.refuse_if_over("1/minute", "x")
        await limiter.count("1/minute", "x")


# Redis away: the limiter's breaker and fallback (see servicekit.ratelimit).


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), env=dict(os.environ))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def limiter_through_proxy(redis_server: RedisServer, **options: Any) -> AsyncIterator[tuple[RateLimiter, Proxy]]:
    async with proxy_to(redis_server.host, redis_server.port) as proxy:
        uri = f"redis://127.0.0.1:{proxy.port}/0"
        storage: dict[str, str | float] = {"password": redis_server.password, "socket_timeout": 0.1}
        storage["socket_connect_timeout"] = 0.1
        limiter = RateLimiter(uri, storage_options=storage, breaker_open_seconds=0.5, **options)
        try:
            yield limiter, proxy
        finally:
            await limiter.aclose()


async def _timed_checks(limiter: RateLimiter, limit: str, identity: str, times: int) -> tuple[int, list[float]]:
    refused, timings = 0, []
    for _ in range(times):
        started = time.perf_counter()
        try:
            await limiter.check(limit, identity)
        except TooManyRequests:
            refused += 1
        timings.append(time.perf_counter() - started)
    return refused, sorted(timings)


async def test_with_redis_away_limits_hold_per_process_and_cost_nothing(redis_server: RedisServer) -> None:
    async with limiter_through_proxy(redis_server) as (limiter, proxy):
        identity = uuid.uuid4().hex
        assert (await _timed_checks(limiter, "3/minute", identity, 2))[0] == 0  # counted in Redis
        proxy.set("silent")  # Redis frozen: connections cut, new ones never answered
        refused, timings = await _timed_checks(limiter, "3/minute", identity, 50)
        assert refused == 47  # the fallback counts in this process: 3 allowed, then refused
        first, p99 = timings[-1], timings[int(0.99 * (len(timings) - 1))]
        after_first = timings[:-1]
        print(f"\nRedis away: the first call took {first * 1000:.0f} ms (at most the socket timeout), the rest p99 "
              f"{after_first[int(0.99 * (len(after_first) - 1))] * 1000:.2f} ms")  # fmt: skip
        assert first < 1.0
        assert after_first[-1] < 0.05  # nothing waits on Redis while the breaker is open
        assert p99 < 1.0


async def test_failing_open_is_a_setting(redis_server: RedisServer) -> None:
    async with limiter_through_proxy(redis_server, fallback="open") as (limiter, proxy):
        proxy.set("refuse")
        refused, _ = await _timed_checks(limiter, "1/minute", uuid.uuid4().hex, 10)
        assert refused == 0


async def test_the_limiter_goes_back_to_redis_when_it_returns(redis_server: RedisServer) -> None:
    async with limiter_through_proxy(redis_server) as (limiter, proxy):
        identity = uuid.uuid4().hex
        await limiter.check("1000/minute", identity)
        proxy.set("refuse")
        await limiter.check("1000/minute", identity)  # opens the breaker: counted in memory
        proxy.set("forward")
        back = time.perf_counter()
        while time.perf_counter() - back < 5:
            await limiter.check("1000/minute", identity)
            if limiter._breaker is not None and state(limiter._breaker) is State.CLOSED:
                break
            await asyncio.sleep(0.05)
        recovered = time.perf_counter() - back
        print(f"\nback on Redis {recovered * 1000:.0f} ms after it returned (breaker open 0.5 s)")
        assert recovered < 2.0
        # Hits count in Redis again: another process sees them.
        item = parse("50/minute")
        other = RateLimiter(redis_server.uri, storage_options={"password": redis_server.password})
        before = (await other._strategy.get_window_stats(item, "again", identity)).remaining
        await limiter.check("50/minute", "again", identity)
        after = (await other._strategy.get_window_stats(item, "again", identity)).remaining
        await other.aclose()
        assert after == before - 1


async def test_logins_and_writes_go_on_while_redis_is_away(
    redis_server: RedisServer, database: Database, signing_key_file: Path
) -> None:
    async with proxy_to(redis_server.host, redis_server.port) as proxy:
        settings = make_auth_settings(
            database,
            signing_key_file,
            rate_limit_storage_uri=f"redis://127.0.0.1:{proxy.port}/0",
            redis_password=redis_server.password,
        )
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):

            async def log_in(email: str) -> float:
                started = time.perf_counter()
                answer = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
                assert answer.status_code == 200, answer.text
                return time.perf_counter() - started

            emails = [unique_email() for _ in range(6)]
            for email in emails:  # a write: the registration limit counts in Redis
                registered = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
                assert registered.status_code == 201, registered.text
            with_redis = sorted([await log_in(email) for email in emails])
            proxy.set("silent")
            away = [await log_in(email) for email in emails]
            registered = await client.post("/auth/register", json={"email": unique_email(), "password": PASSWORD})
            assert registered.status_code == 201, registered.text
    first, rest = away[0], sorted(away[1:])
    print(
        f"\nlogin with Redis {with_redis[len(with_redis) // 2] * 1000:.0f} ms (median); Redis away: the first "
        f"{first * 1000:.0f} ms, then at most {rest[-1] * 1000:.0f} ms"
    )
    assert first < with_redis[-1] + 1.0  # one wait of the socket timeout (0.1 s), not seconds
    assert rest[-1] < with_redis[-1] + 0.2  # generous: a login hashes a password; Redis adds nothing


async def test_a_redis_that_never_answers_costs_one_socket_timeout() -> None:
    # Connections accepted and never answered (a frozen host), none open before.
    async with proxy_to("127.0.0.1", 1) as proxy:
        proxy.set("silent")
        options: dict[str, str | float] = {"socket_timeout": 0.1, "socket_connect_timeout": 0.1}
        limiter = RateLimiter(f"redis://127.0.0.1:{proxy.port}/0", storage_options=options)
        try:
            timings = []
            for _ in range(20):
                started = time.perf_counter()
                await limiter.check("100/minute", "frozen")
                timings.append(time.perf_counter() - started)
        finally:
            await limiter.aclose()
    first, slowest_after = timings[0] * 1000, max(timings[1:]) * 1000
    print(f"\nfrozen Redis: the first call {first:.0f} ms, the slowest after it {slowest_after:.2f} ms")
    assert 0.09 <= timings[0] < 0.5  # the socket timeout, once - no retries with backoff
    assert max(timings[1:]) < 0.05
