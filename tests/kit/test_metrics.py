import os
import signal
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from hoststack.procs import wait_until
from servicekit.errors import TooManyRequests
from servicekit.metrics import exposition
from servicekit.ratelimit import RateLimiter
from servicekit.tokens import RemoteJWKS
from tests.helpers.accounts import Account, login
from tests.helpers.database import Database
from tests.helpers.gunicorn import Served, resource_under_gunicorn


async def test_metrics_are_labelled_by_route_template(auth_client: httpx.AsyncClient, account: Account) -> None:
    await auth_client.get("/users/me", headers=account.headers)
    await auth_client.get("/definitely/not/a/route/12345")
    response = await auth_client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'http_requests_total{method="GET",route="/users/me",status="200"}' in text
    assert 'route="<unmatched>"' in text
    assert "12345" not in text  # raw paths never become labels
    assert "http_request_duration_seconds_bucket" in text


def _scrape_seconds(folder: Path) -> float:
    """What reading the folder costs a scrape (without HTTP, or a worker that is booting)."""
    started = time.perf_counter()
    exposition(folder)
    return time.perf_counter() - started


def _replaced(served: Served, gone: int) -> bool:
    return len(served.workers() - {gone}) == 2


def _requests_to(route: str, text: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_requests_total{") and f'route="{route}"' in line
    )


def test_worker_churn_keeps_the_folder_and_the_scrape_flat_and_the_counters_exact(
    database: Database, signing_key_file: Path, tmp_path: Path
) -> None:
    """30 workers replaced one after the other (each stopped as gunicorn
    stops a worker it recycles, and a new one started): the multiprocess
    folder keeps the live workers' files and the archives, the scrape does
    not slow down, and the request counter is exactly the requests sent."""
    folder = tmp_path / "metrics"
    files: list[int] = []
    seconds: list[float] = []
    sent = 0
    with resource_under_gunicorn(
        database, signing_key_file, tmp_path, WEB_CONCURRENCY="2", PROMETHEUS_MULTIPROC_DIR=str(folder)
    ) as served:
        with httpx.Client(base_url=served.base, timeout=30) as client:
            before = _requests_to("/livez", client.get("/metrics").text)  # the start-up's own checks
            for _ in range(30):
                for _ in range(10):
                    assert client.get("/livez").status_code == 200
                    sent += 1
                (victim, *_) = sorted(served.workers())
                os.kill(victim, signal.SIGTERM)  # as gunicorn stops a worker it recycles
                wait_until(partial(_replaced, served, victim), timeout=30, what="a new worker")
                files.append(len(list(folder.glob("*.db"))))
                seconds.append(_scrape_seconds(folder))
            text = client.get("/metrics").text
    booted = (tmp_path / "gunicorn.log").read_text().count("Booting worker")
    print(
        f"\n{booted} workers over {sent} requests; files after each replacement: {files}; "
        f"scrape ms: {[round(s * 1000, 1) for s in seconds]}"
    )
    assert booted >= 32  # the workers really were replaced
    assert _requests_to("/livez", text) - before == sent
    assert max(files) <= 12  # 2 live workers' files and 3 archives, not 3 files per worker that ever ran
    assert statistics.median(seconds[-5:]) < statistics.median(seconds[:5]) * 3 + 0.01


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_logins_tokens_and_refresh_reuse_are_counted(auth_client: httpx.AsyncClient, account: Account) -> None:
    before = {
        "success": _sample("auth_logins_total", result="success"),
        "failure": _sample("auth_logins_total", result="failure"),
        "password": _sample("auth_tokens_issued_total", grant="password"),
        "refresh": _sample("auth_tokens_issued_total", grant="refresh_token"),
        "reuse": _sample("auth_refresh_token_reuse_total"),
    }
    assert (await login(auth_client, account.email)).status_code == 200
    assert (await login(auth_client, account.email, "not the password at all")).status_code == 401
    refreshed = await auth_client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 200
    replayed = await auth_client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert replayed.status_code == 401
    assert _sample("auth_logins_total", result="success") == before["success"] + 1
    assert _sample("auth_logins_total", result="failure") == before["failure"] + 1
    assert _sample("auth_tokens_issued_total", grant="password") == before["password"] + 1
    assert _sample("auth_tokens_issued_total", grant="refresh_token") == before["refresh"] + 1
    assert _sample("auth_refresh_token_reuse_total") == before["reuse"] + 1


async def test_the_pool_the_requests_in_flight_and_the_build_are_shown(
    auth_client: httpx.AsyncClient, account: Account
) -> None:
    acquired = _sample("db_pool_acquire_seconds_count")
    assert (await auth_client.get("/users/me", headers=account.headers)).status_code == 200
    text = (await auth_client.get("/metrics")).text
    assert _sample("db_pool_acquire_seconds_count") > acquired
    assert _sample("db_pool_size") >= 1
    assert _sample("db_pool_checked_out") == 0  # every connection back once the request is over
    assert "http_requests_in_flight 1.0" in text  # the scrape itself
    assert 'build_info{revision="' in text and 'version="1.0.0"' in text


async def test_rate_limit_rejections_and_jwks_fetches_are_counted() -> None:
    limiter = RateLimiter("memory://")
    rejected = _sample("rate_limit_rejections_total", scope="unit-scope")
    await limiter.check("1/minute", "unit-scope", "someone")
    with pytest.raises(TooManyRequests):
        await limiter.check("1/minute", "unit-scope", "someone")
    assert _sample("rate_limit_rejections_total", scope="unit-scope") == rejected + 1

    answers = iter([httpx.Response(200, json={"keys": []}), httpx.Response(503)])
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: next(answers)))
    keys = RemoteJWKS("http://auth.test/jwks", min_refetch_interval=0, client=client)
    fetched, failed = _sample("jwks_fetches_total", result="success"), _sample("jwks_fetches_total", result="failure")
    await keys.refresh()
    await keys.refresh()
    assert _sample("jwks_fetches_total", result="success") == fetched + 1
    assert _sample("jwks_fetches_total", result="failure") == failed + 1
    await keys.aclose()


def test_the_migration_job_imports_without_the_metrics_folder(tmp_path: Path) -> None:
    """The image sets PROMETHEUS_MULTIPROC_DIR for every target and only
    gunicorn's master creates the folder: the migration job, which imports
    the kit and both services' models, must write no sample file at import
    (an unlabelled metric does). It crashed on it once."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing")}
    code = "import migrations.__main__, migrations.models"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
