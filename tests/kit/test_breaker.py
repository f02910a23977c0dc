"""Circuit breakers (servicekit.breaker), and the database's in the pool:
once the database is known to be away a request answers 503 in
milliseconds instead of waiting out the connect timeout, and the service
recovers by itself within moments of the database coming back."""

import asyncio
import time
import uuid

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from auth_service.main import create_app
from servicekit.breaker import BreakerOpen, CircuitBreaker, State
from tests.helpers.accounts import PASSWORD, unique_email
from tests.helpers.apps import make_auth_settings
from tests.helpers.database import Database
from tests.helpers.proxy import Proxy, proxy_to


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> State:
    return breaker.state  # a call: each assertion reads it anew (mypy narrows attributes)


def gauge(dependency: str) -> float | None:
    return REGISTRY.get_sample_value("circuit_breaker_state", {"dependency": dependency})


def transitions(dependency: str, state: str) -> float:
    labels = {"dependency": dependency, "state": state}
    return REGISTRY.get_sample_value("circuit_breaker_transitions_total", labels) or 0.0


def test_a_breaker_opens_refuses_probes_once_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("unit-a", failures=2, open_seconds=1.0, clock=clock)
    breaker.allow()
    breaker.failed()
    assert state(breaker) is State.CLOSED  # one failure of two
    breaker.failed()
    assert state(breaker) is State.OPEN
    assert gauge("unit-a") == State.OPEN
    with pytest.raises(BreakerOpen) as refused:
        breaker.allow()
    assert refused.value.retry_after == pytest.approx(1.0)
    assert isinstance(refused.value, OSError)  # handled like the refusal it stands for

    clock.now += 1.0
    assert state(breaker) is State.HALF_OPEN
    breaker.allow()  # the probe
    with pytest.raises(BreakerOpen):
        breaker.allow()  # one probe at a time
    breaker.failed()  # the probe failed: open again, for a whole period
    assert state(breaker) is State.OPEN
    clock.now += 0.5
    with pytest.raises(BreakerOpen):
        breaker.allow()

    clock.now += 0.5
    breaker.allow()
    breaker.succeeded()
    assert state(breaker) is State.CLOSED
    assert gauge("unit-a") == State.CLOSED
    breaker.allow()
    breaker.failed()
    assert state(breaker) is State.CLOSED  # the count of failures in a row started again
    assert transitions("unit-a", "open") == 2
    assert transitions("unit-a", "half_open") == 2
    assert transitions("unit-a", "closed") == 1


def test_each_transition_is_logged_once() -> None:
    clock = Clock()
    breaker = CircuitBreaker("unit-b", failures=1, open_seconds=1.0, clock=clock)
    with capture_logs() as logs:
        breaker.failed()
        for _ in range(50):
            with pytest.raises(BreakerOpen):
                breaker.allow()
        clock.now += 1
        breaker.allow()
        breaker.succeeded()
        breaker.succeeded()
    assert [(entry["event"], entry["dependency"]) for entry in logs] == [
        ("circuit_open", "unit-b"),
        ("circuit_half_open", "unit-b"),
        ("circuit_closed", "unit-b"),
    ]


async def test_call_records_outcomes() -> None:
    breaker = CircuitBreaker("unit-c", failures=1, open_seconds=60)
    async with breaker.call():
        pass
    assert state(breaker) is State.CLOSED
    with pytest.raises(ConnectionError):
        async with breaker.call():
            raise ConnectionError
    assert state(breaker) is State.OPEN
    with pytest.raises(BreakerOpen):
        async with breaker.call():
            raise AssertionError("never called while open")


async def test_a_breaker_with_a_probe_probes_by_itself_in_the_background() -> None:
    answers: list[asyncio.Future[None]] = []

    async def probe() -> None:
        answer = asyncio.get_running_loop().create_future()
        answers.append(answer)
        await answer

    breaker = CircuitBreaker("unit-d", failures=1, open_seconds=0.05, probe=probe)
    with pytest.raises(ConnectionError):
        async with breaker.call():
            raise ConnectionError
    assert state(breaker) is State.OPEN and answers == []
    await asyncio.sleep(0.08)  # no call: the breaker probes by itself
    assert len(answers) == 1 and state(breaker) is State.HALF_OPEN
    with pytest.raises(BreakerOpen):
        async with breaker.call():  # never on a call's time
            raise AssertionError("never called while probing")
    answers[0].set_exception(ConnectionError())  # the probe failed: open again, probe again later
    await asyncio.sleep(0)
    assert state(breaker) is State.OPEN and len(answers) == 1
    await asyncio.sleep(0.08)
    assert len(answers) == 2
    answers[1].set_result(None)  # this one succeeded: closed, calls go ahead
    await asyncio.sleep(0)
    assert state(breaker) is State.CLOSED
    async with breaker.call():
        pass
    assert len(answers) == 2


async def _register(client: httpx.AsyncClient) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.post("/auth/register", json={"email": unique_email(), "password": PASSWORD})
    return response, time.perf_counter() - started


def _app_through(proxy: Proxy, database: Database, signing_key_file, **overrides: object) -> FastAPI:
    # Rate limits off: these tests register far more often than a client may.
    settings = make_auth_settings(
        database, signing_key_file, db_host="127.0.0.1", db_port=proxy.port, rate_limit_enabled=False, **overrides
    )
    return create_app(settings)


async def test_a_database_that_stopped_answering_costs_one_connect_timeout_then_milliseconds(
    database: Database, signing_key_file
) -> None:
    async with proxy_to(database.cluster.host, database.cluster.port) as proxy:
        app = _app_through(proxy, database, signing_key_file, db_connect_timeout=1.0, db_breaker_open_seconds=30)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            proxy.set("silent")  # a frozen host: connections accepted, never answered
            first, first_seconds = await _register(client)
            assert first.status_code == 503, first.text
            assert state(app.state.database_breaker) is State.OPEN
            timings = []
            for _ in range(50):
                response, seconds = await _register(client)
                assert response.status_code == 503
                assert response.headers["content-type"] == "application/problem+json"
                assert 1 <= int(response.headers["retry-after"]) <= 30
                timings.append(seconds)
            ready = await client.get("/readyz")
            assert ready.status_code == 503
    timings.sort()
    p99 = timings[int(0.99 * (len(timings) - 1))]
    print(f"\nfirst 503 after {first_seconds * 1000:.0f} ms (the connect timeout); then p99 {p99 * 1000:.1f} ms")
    assert first_seconds >= 0.9
    assert p99 < 0.1


async def test_no_request_waits_on_a_probe_of_a_database_that_stopped_answering(
    database: Database, signing_key_file
) -> None:
    """A probe every 0.2 s, each waiting out the 1 s connect timeout in the
    background: the requests meanwhile are all refused in milliseconds."""
    async with proxy_to(database.cluster.host, database.cluster.port) as proxy:
        app = _app_through(proxy, database, signing_key_file, db_connect_timeout=1.0, db_breaker_open_seconds=0.2)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            proxy.set("silent")
            assert (await _register(client))[0].status_code == 503  # the one connect timeout
            timings = []
            probes_before = transitions("database", "half_open")
            for _ in range(40):  # 2 s: several probes due
                response, seconds = await _register(client)
                assert response.status_code == 503
                timings.append(seconds)
                await asyncio.sleep(0.05)
            probes = transitions("database", "half_open") - probes_before
    print(f"\n{probes:.0f} probes in the background; the slowest of 40 requests {max(timings) * 1000:.1f} ms")
    assert probes >= 1
    assert max(timings) < 0.1


async def test_the_service_recovers_by_itself_when_the_database_returns(database: Database, signing_key_file) -> None:
    async with proxy_to(database.cluster.host, database.cluster.port) as proxy:
        app = _app_through(proxy, database, signing_key_file, db_connect_timeout=1.0, db_breaker_open_seconds=0.5)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            assert (await _register(client))[0].status_code == 201
            proxy.set("refuse")  # the database stopped: every connection dropped, new ones refused
            statuses = {(await _register(client))[0].status_code for _ in range(20)}
            assert statuses == {503}
            assert app.state.database_breaker.state in (State.OPEN, State.HALF_OPEN)

            proxy.set("forward")
            back = time.perf_counter()
            while (response := (await _register(client))[0]).status_code == 503:
                assert time.perf_counter() - back < 5, "no recovery within 5 s"
            recovered = time.perf_counter() - back
            assert response.status_code == 201, response.text
            assert state(app.state.database_breaker) is State.CLOSED
    print(f"\nrecovered {recovered * 1000:.0f} ms after the database came back (breaker open 0.5 s)")
    assert recovered < 2.0


async def test_the_first_requests_after_the_database_closed_the_pooled_connections_succeed(
    database: Database, signing_key_file
) -> None:
    """A database restart ends every session: the pool's idle connections are
    closed. No request is answered 503 for it (the pool knows them closed at
    checkout, without a ping)."""
    name = f"auth-{uuid.uuid4().hex[:8]}"
    settings = make_auth_settings(database, signing_key_file, rate_limit_enabled=False, service_name=name)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        registered = await asyncio.gather(*(_register(client) for _ in range(4)))  # a few pooled connections
        assert [response.status_code for response, _ in registered] == [201] * 4
        ended = database.cluster.psql(
            f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{name}'",
            database.name,
        )
        assert int(ended.strip()) >= 1
        await asyncio.sleep(0.2)  # the driver sees the sockets close
        statuses = [(await _register(client))[0].status_code for _ in range(6)]
    print(f"\n{ended.strip()} pooled connections ended by the database; then {statuses}")
    assert statuses == [201] * 6
