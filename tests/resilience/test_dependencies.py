"""Dependencies failing under the compose stack `make up` started: the
database stopped (fail fast, readiness, liveness, recovery), the database
SIGKILLed under writes (nothing acknowledged is lost), Redis stopped under
writes and logins (nothing fails, little added latency), two migration jobs
at once, and a pool held by slow queries. Each test asserts correctness
under generous ceilings and prints what it measured; each leaves the stack
as it found it."""

import statistics
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from podrun.kubelet import docker

from tests.helpers.accounts import Account
from tests.helpers.gateway import assert_problem, json_lines, register_and_login
from tests.helpers.platforms import ComposePlatform
from tests.resilience.load import Load, Outcome, p99_ms
from tests.resilience.stack import every_replica_ready, probe, until

pytestmark = pytest.mark.resilience


@pytest.fixture
def account(gateway: str) -> Iterator[tuple[httpx.Client, Account]]:
    with httpx.Client(base_url=gateway, timeout=30) as client:
        yield client, register_and_login(client)


def assert_unavailable(outcomes: list[Outcome]) -> None:
    """Every refusal is the service's 503 problem with Retry-After: never a
    500, nor a 502 or 504 of a gateway left waiting."""
    for outcome in outcomes:
        if outcome.failed:
            assert outcome.status == 503 and outcome.problem and outcome.retry_after, outcome


def test_the_database_stopped_fails_fast_and_recovers(compose: ComposePlatform, account: tuple[httpx.Client, Account]):
    client, user = account
    assert client.get("/items/", headers=user.headers).status_code == 200
    resource = compose.containers("resource")[0]
    stopped_at = time.monotonic()
    compose.run("stop", "db")
    try:
        seconds, answers = [], []
        for _ in range(60):
            started = time.monotonic()
            answer = client.get("/items/", headers=user.headers)
            seconds.append(time.monotonic() - started)
            answers.append(answer)
        for answer in answers:
            body = assert_problem(answer, 503)
            assert answer.headers["Retry-After"] and "database" in body["detail"]
        first_ms, after = seconds[0] * 1000, p99_ms(seconds[len(seconds) // 2 :])
        readiness = until(lambda: probe(resource, "/readyz") == 503, 30, "readiness to flip", 0.2)
        readiness += time.monotonic() - stopped_at - readiness  # from the stop
        assert probe(resource, "/livez") == 200  # alive: no restart for a database away
        assert client.get("/resource/health").status_code == 503
    finally:
        compose.run("start", "db")
    started = time.monotonic()
    recovered = until(lambda: client.get("/items/", headers=user.headers).status_code == 200, 60, "recovery")
    print(
        f"database away: first 503 in {first_ms:.0f} ms, then p99 {after:.0f} ms over {len(seconds)} requests; "
        f"readiness 503 {readiness:.1f} s after the stop; liveness 200 throughout; "
        f"recovered {recovered:.1f} s after `start` ({time.monotonic() - started:.1f} s)"
    )
    assert first_ms < 10_000 and after < 1_000
    ready = until(lambda: every_replica_ready(compose), 30, "every replica ready", 0.2)
    print(f"every replica of both services ready {time.monotonic() - started:.1f} s after `start` ({ready:.1f} s more)")
    # Then they all serve, the pooled connections the restart closed never
    # reaching a request: registrations, logins, writes.
    for _ in range(6):
        fresh = register_and_login(client)
        assert (
            client.post("/items/", json={"title": "after", "price": "1.00"}, headers=fresh.headers).status_code == 201
        )


def test_the_database_killed_under_writes_loses_no_acknowledged_write(compose: ComposePlatform, gateway: str):
    database = compose.container("db")
    with Load(gateway) as load:
        time.sleep(3)
        killed_at = time.monotonic()
        docker("kill", "--signal", "KILL", database)
        time.sleep(1)
        if docker("inspect", "-f", "{{.State.Running}}", database).strip() != "true":
            docker("start", database)  # unless the restart policy already has
        healthy = until(lambda: compose.inspect("db", "{{.State.Health.Status}}") == "healthy", 90, "db", 0.2)
        until(lambda: every_replica_ready(compose), 30, "every replica ready", 0.2)
        time.sleep(2)
    failures = load.failures()
    outage = max(f.at for f in failures) - killed_at if failures else 0.0
    print(
        load.summary(
            f"database SIGKILLed: {len(failures)} refused, the last {outage:.1f} s after the kill; "
            f"healthy again after {healthy + 1:.1f} s"
        )
    )
    assert_unavailable(failures)
    assert not load.failures(killed_at + outage + 0.001)  # and none after
    lost = load.lost_writes()
    print(f"acknowledged writes: {load.acknowledged()}, missing after the restart: {len(lost)}")
    assert lost == []
    load.assert_resent_never_reached(compose.logs("gateway"))


def test_redis_stopped_under_writes_and_logins_fails_nothing(compose: ComposePlatform, gateway: str):
    with Load(gateway, logins=True) as load:
        time.sleep(6)
        stopped_at = time.monotonic()
        compose.run("stop", "redis")
        time.sleep(8)
        started_at = time.monotonic()
        compose.run("start", "redis")
        until(lambda: compose.redis("ping") == "PONG", 30, "Redis to answer", 0.2)
        until(lambda: bool(compose.redis("--scan", "--pattern", "LIMITS:*").strip()), 30, "counters in Redis", 0.2)
        counting = time.monotonic() - started_at
        time.sleep(3)
    limited = [o for o in load.outcomes if o.kind in ("create", "update", "login")]  # what the limiter counts
    before = [o.seconds for o in limited if o.at < stopped_at]
    during = [o.seconds for o in limited if stopped_at + 1 <= o.at < started_at]
    print(load.summary("Redis stopped for 8 s under writes and logins"))
    print(
        f"writes and logins: p99 {p99_ms(before):.1f} ms with Redis, {p99_ms(during):.1f} ms without "
        f"(median {statistics.median(before) * 1000:.1f} / {statistics.median(during) * 1000:.1f} ms); "
        f"counting in Redis again {counting:.1f} s after `start` (the command included)"
    )
    assert load.failures() == []
    assert p99_ms(during) - p99_ms(before) < 250
    assert load.lost_writes() == []
    load.assert_resent_never_reached(compose.logs("gateway"))


def test_two_migration_jobs_at_once_both_succeed_and_migrate_once(compose: ComposePlatform):
    database = f"race_{uuid.uuid4().hex[:8]}"
    psql = ("exec", "-T", "db", "psql", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-Atc")
    compose.run(*psql, f"CREATE DATABASE {database} OWNER migrator")
    try:
        job = ("run", "--rm", "-T", "-e", f"DB_NAME={database}", "migrate")
        started = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda _: compose.run(*job, timeout=300), range(2)))
        seconds = time.monotonic() - started
        lines = [json_lines(run.stdout + run.stderr) for run in runs]
        heads = {line["head"] for log in lines for line in log if line.get("event") == "migrated"}
        upgrades = [sum("Running upgrade" in str(line.get("event", "")) for line in log) for log in lines]
        versions = compose.run(*psql, "SELECT version_num FROM alembic_version", "-d", database).stdout.split()
        print(f"two migration jobs at once: both exit 0 in {seconds:.1f} s; upgrades run per job {upgrades}")
        assert len(heads) == 1 and versions == list(heads)
        assert sorted(upgrades)[0] == 0 < sorted(upgrades)[1]  # one job migrated, the other found head
    finally:
        compose.run(*psql, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def test_a_pool_held_by_slow_queries_answers_503_within_the_pool_timeout(
    compose: ComposePlatform, account: tuple[httpx.Client, Account], gateway: str
):
    """Every pooled connection of the resource workers blocked behind a lock
    (slow queries): the requests beyond them wait at most DB_POOL_TIMEOUT
    (5 s) and get a 503 with Retry-After; the blocked ones end at the
    statement timeout (10 s), also a 503. Nothing hangs, nothing is a 5xx of
    another kind."""
    client, user = account
    item = client.post("/items/", json={"title": "locked", "price": "1.00"}, headers=user.headers)
    assert item.status_code == 201, item.text
    hold = "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(14); COMMIT;"
    psql = ("exec", "-T", "db", "psql", "-U", "postgres", "-d", "app", "-v", "ON_ERROR_STOP=1", "-Atc")

    def read(_: int) -> tuple[int, float, str | None, bool]:
        with httpx.Client(base_url=gateway, timeout=60) as own:
            started = time.monotonic()
            answer = own.get(f"/items/{item.json()['id']}", headers=user.headers)
            problem = answer.headers.get("content-type") == "application/problem+json"
            return answer.status_code, time.monotonic() - started, answer.headers.get("Retry-After"), problem

    requests = 45  # more than the resource workers' pools (2 x 10), under the gateway's burst
    with ThreadPoolExecutor(requests + 1) as pool:
        holder = pool.submit(compose.run, *psql, hold, timeout=60)
        time.sleep(1)
        answers = list(pool.map(read, range(requests)))
        holder.result()
    refused = [answer for answer in answers if answer[0] == 503]
    print(
        f"pool held by slow queries: {len(refused)} of {requests} refused with 503; seconds to answer: "
        f"{sorted(round(answer[1], 1) for answer in answers)}"
    )
    assert all(status in (200, 503) for status, *_ in answers), answers
    assert all(retry_after and problem for status, _, retry_after, problem in refused), refused
    assert len(refused) > 20  # the pools were really exhausted
    assert all(seconds < 20 for _, seconds, *_ in answers)  # pool timeout 5 s, statement timeout 10 s: no hang
    assert sum(seconds < 8 for _, seconds, *_ in refused) >= requests - 20  # the waiters, at the pool timeout
    assert client.get(f"/items/{item.json()['id']}", headers=user.headers).status_code == 200
