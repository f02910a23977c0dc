"""What only the containers can show, on the compose stack `make up` started
(`.ci/run` runs these with the end-to-end suite: `make e2e`): only the
gateway and Prometheus publish a port, on 127.0.0.1; the services and the
gateway run as non-root users on read-only root filesystems; Prometheus,
through its published port, scrapes every replica of both services and
answers every query of the Grafana dashboard; the migration job is safe to
run again."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from tests.helpers import ROOT
from tests.helpers.accounts import PASSWORD
from tests.helpers.dashboard import METRICS, load, metric_names, queries
from tests.helpers.gateway import json_lines, register_and_login, send
from tests.helpers.platforms import ComposePlatform, Platform, service_answer, service_get
from tests.helpers.prometheus import api, compose_targets, query, targets_up

pytestmark = pytest.mark.compose


@pytest.fixture(scope="module")
def compose(platform: Platform) -> ComposePlatform:
    if not isinstance(platform, ComposePlatform):
        pytest.fail("the compose checks need E2E_TARGET=compose and a stack from `make up` (run: make e2e)")
    return platform


EXPORTERS = ("gateway-exporter", "postgres-exporter", "redis-exporter")


def test_only_the_gateway_and_prometheus_publish_a_port_and_only_on_loopback(compose: ComposePlatform):
    published: dict[str, list[str]] = {}
    for piece in (*EXPORTERS, "db", "redis", "auth", "resource", "gateway", "prometheus"):
        ports = json.loads(compose.inspect(piece, "{{json .NetworkSettings.Ports}}")) or {}
        published[piece] = [
            f"{binding['HostIp']}:{binding['HostPort']}->{port}"
            for port, bindings in ports.items()
            for binding in bindings or []
        ]
    assert {piece for piece, ports in published.items() if ports} == {"gateway", "prometheus"}
    for piece in ("gateway", "prometheus"):
        assert published[piece] and all(entry.startswith("127.0.0.1:") for entry in published[piece]), published


@pytest.mark.parametrize("piece", ["auth", "resource", "gateway", *EXPORTERS])
def test_containers_are_non_root_on_a_read_only_root(compose: ComposePlatform, piece: str):
    assert compose.inspect(piece, "{{.Config.User}}").split(":")[0] not in ("", "0", "root")
    assert compose.inspect(piece, "{{.HostConfig.ReadonlyRootfs}}") == "true"
    assert compose.inspect(piece, "{{json .HostConfig.CapDrop}}") in ('["ALL"]', '["all"]')


def test_prometheus_scrapes_every_replica_and_every_exporter(compose: ComposePlatform):
    """DNS service discovery: one target per running replica, each up; one
    target per exporter (the gateway's, PostgreSQL's, Redis'), each up, and
    each exporter reaching what it watches."""
    replicas = compose_targets(compose)
    assert replicas["auth"] >= 2 and replicas["resource"] >= 2, replicas  # make up runs two of each
    prometheus = compose.prometheus_url
    # every target up, these and nothing else (Prometheus itself too)
    assert targets_up(prometheus, replicas) == replicas
    for reached in ("nginx_up", "pg_up", "redis_up"):
        assert [sample["value"][1] for sample in query(prometheus, reached)] == ["1"], reached


def test_nginx_status_answers_its_exporter_alone(compose: ComposePlatform):
    # from a service on the same network: refused by nginx (403)
    status, _ = service_answer(compose.exec("auth", *service_get("/stub_status", "gateway:8081")))
    assert status == 403
    # the exporter reads it
    assert [sample["value"][1] for sample in query(compose.prometheus_url, "nginx_up")] == ["1"]


def test_the_migration_job_is_safe_to_run_again(compose: ComposePlatform):
    started = time.monotonic()
    job = compose.run("run", "--rm", "-T", "migrate", timeout=180)  # raises unless it exits 0
    print(f"second migration run: {time.monotonic() - started:.1f}s")
    assert [line for line in json_lines(job.stdout + job.stderr) if line.get("event") == "migrated"]


@pytest.mark.parametrize("service", ["auth", "resource"])
def test_the_services_start_cleanly_on_a_read_only_root(compose: ComposePlatform, service: str):
    """gunicorn's control socket (gunicorn >= 25) once logged "Control server
    error: Read-only file system" at every start; it is off."""
    for container in compose.containers(service):
        output = compose.log_text(container)
        assert "Booting worker" in output or "booting" in output.lower()
        assert "Control server" not in output and "Read-only file system" not in output


def test_prometheus_evaluates_the_rules_and_nothing_fires_on_a_healthy_stack(compose: ComposePlatform):
    prometheus = compose.prometheus_url
    groups = api(prometheus, "rules")["groups"]
    assert {"services.recording", "services.alerts", "dependencies.recording", "dependencies.alerts"} <= {
        group["name"] for group in groups
    }
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 22 and all(rule["health"] in ("ok", "unknown") for rule in rules), rules
    firing = api(prometheus, "alerts")["alerts"]
    assert [a for a in firing if a["state"] == "firing"] == []


def test_every_dashboard_panel_query_returns_data(compose: ComposePlatform):
    """Every query of deploy/grafana/dashboards/services.json (variables
    filled in as tests/deploy/test_dashboard.py does) runs and shows data,
    and every metric that test feeds promtool is really exported by its job.
    Except, for data: a query reading a labelled counter that only appears
    at its first increment (METRICS' idle=False: logins, rejections, breaker
    transitions...) may be empty on a quiet stack; it must still run. Rates
    need two scrapes 15 s apart, so this waits up to a minute for them."""
    after_traffic = {name for metric in METRICS if not metric.idle for name in metric.names()}
    checks: dict[str, tuple[str, bool]] = {}  # what -> (query, must return data)
    for panel in queries(load()):
        checks[f"{panel.panel} {panel.ref_id}"] = (panel.expr, not metric_names(panel.expr) & after_traffic)
    for metric in METRICS:
        if not metric.idle:
            continue
        for job in metric.jobs:
            for name in metric.names():
                checks[f"{name} from {job}"] = (f'{name}{{job="{job}"}}', True)
    prometheus = compose.prometheus_url
    deadline = time.monotonic() + 60
    while True:
        empty = [what for what, (expr, needed) in checks.items() if not query(prometheus, expr) and needed]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert empty == []


# Our own processes: gunicorn and uvicorn, the apps, the migration job, nginx's
# access log and its upstream watcher. Every line one JSON object with these.
OWN_PROCESSES = ("auth", "resource", "migrate", "gateway")
SECRETS = ROOT / "secrets"
LINE_FIELDS = ("timestamp", "level", "service", "logger", "event")


def test_no_password_token_or_secret_reaches_any_log(compose: ComposePlatform):
    """A full flow - register, log in, refresh, change the password, a token
    in a query string, a wrong password, log out - then every container's
    log holds none of what was sent, nor any secret file's content."""
    with httpx.Client(base_url=compose.gateway_url, timeout=30) as client:
        account = register_and_login(client)
        me_request_id = f"log-check-{uuid.uuid4().hex}"
        bearer = {"Authorization": f"Bearer {account.access_token}", "X-Request-ID": me_request_id}
        assert client.get("/users/me", headers=bearer).status_code == 200
        assert client.get("/items/", params={"access_token": account.access_token}).status_code == 401
        refreshed = client.post("/auth/refresh", json={"refresh_token": account.refresh_token}).json()
        new_password = f"{uuid.uuid4().hex}-Quartz"
        changed = client.put(
            "/users/me/password",
            json={"current_password": PASSWORD, "new_password": new_password},
            headers={"Authorization": f"Bearer {refreshed['access_token']}"},
        )
        assert changed.status_code == 204, changed.text
        wrong = send(client, "POST", "/auth/token", data={"username": account.email, "password": PASSWORD})
        assert wrong.status_code == 401
        assert client.post("/auth/logout", json={"refresh_token": refreshed["refresh_token"]}).status_code == 204
    sent = {
        "password": PASSWORD,
        "new password": new_password,
        "access token": account.access_token,
        "refresh token": account.refresh_token,
        "refreshed access token": refreshed["access_token"],
        "refreshed refresh token": refreshed["refresh_token"],
        # a token's signature alone is a secret too (a log that cut the token)
        "a signature": account.access_token.rsplit(".", 1)[-1],
    }
    sent |= {f"secrets/{path.name}": path.read_text().strip() for path in SECRETS.iterdir() if path.is_file()}
    texts = {container: compose.log_text(container) for container in compose.run("ps", "-q", "-a").stdout.split()}
    assert len(texts) >= 10
    for container, text in texts.items():
        leaked = [what for what, secret in sent.items() if secret and secret in text]
        assert not leaked, f"{container}: {leaked}"
        assert "Bearer " not in text, container
    for piece in OWN_PROCESSES:
        for container in compose.containers(piece):
            lines = texts[container].splitlines()
            entries = json_lines(texts[container])
            assert lines and len(entries) == len(lines), (
                piece,
                [line for line in lines if not line.startswith("{")][:3],
            )
            missing = [entry for entry in entries if any(field not in entry for field in LINE_FIELDS)]
            assert not missing, (piece, missing[:3])
            assert {entry["service"] for entry in entries} == {piece}
    # whose request it was, on its lines once the token is verified
    auth = [entry for container in compose.containers("auth") for entry in json_lines(texts[container])]
    me = [e for e in auth if e.get("event") == "request" and e.get("request_id") == me_request_id]
    assert [e.get("user_id") for e in me] == [account.id]
