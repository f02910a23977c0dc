"""What only the containers can show, on the compose stack `make up` started
(`.ci/run` runs these with the end-to-end suite: `make e2e`): only the
gateway and Prometheus publish a port, on 127.0.0.1; the services and the
gateway run as non-root users on read-only root filesystems; Prometheus,
through its published port, scrapes every replica of both services; the
migration job is safe to run again."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter

import httpx
import pytest

from tests.helpers.gateway import json_lines
from tests.helpers.platforms import ComposePlatform, Platform

pytestmark = pytest.mark.compose


@pytest.fixture(scope="module")
def compose(platform: Platform) -> ComposePlatform:
    if not isinstance(platform, ComposePlatform):
        pytest.fail("the compose checks need E2E_TARGET=compose and a stack from `make up` (run: make e2e)")
    return platform


def test_only_the_gateway_and_prometheus_publish_a_port_and_only_on_loopback(compose: ComposePlatform):
    published: dict[str, list[str]] = {}
    for piece in ("db", "redis", "auth", "resource", "gateway", "prometheus"):
        ports = json.loads(compose.inspect(piece, "{{json .NetworkSettings.Ports}}")) or {}
        published[piece] = [
            f"{binding['HostIp']}:{binding['HostPort']}->{port}"
            for port, bindings in ports.items()
            for binding in bindings or []
        ]
    assert {piece for piece, ports in published.items() if ports} == {"gateway", "prometheus"}
    for piece in ("gateway", "prometheus"):
        assert published[piece] and all(entry.startswith("127.0.0.1:") for entry in published[piece]), published


@pytest.mark.parametrize("piece", ["auth", "resource", "gateway"])
def test_containers_are_non_root_on_a_read_only_root(compose: ComposePlatform, piece: str):
    assert compose.exec(piece, "id", "-u").strip() != "0"
    assert compose.inspect(piece, "{{.HostConfig.ReadonlyRootfs}}") == "true"
    assert compose.inspect(piece, "{{json .HostConfig.CapDrop}}") in ('["ALL"]', '["all"]')


def test_prometheus_scrapes_every_replica_of_both_services(compose: ComposePlatform):
    """DNS service discovery: one target per running replica, each up."""
    replicas = {job: len(compose.containers(job)) for job in ("auth", "resource")}
    assert all(count >= 2 for count in replicas.values()), replicas  # make up runs two of each
    up: dict[str, int] = {}
    deadline = time.monotonic() + 60
    prometheus = compose.prometheus_url
    while time.monotonic() < deadline:
        targets = httpx.get(f"{prometheus}/api/v1/targets?state=active", timeout=10).json()["data"]["activeTargets"]
        up = dict(Counter(target["labels"]["job"] for target in targets if target["health"] == "up"))
        if all(up.get(job) == count for job, count in replicas.items()) and len(targets) == sum(up.values()):
            break
        time.sleep(1)
    assert {job: up.get(job) for job in replicas} == replicas
    assert len(targets) == sum(up.values())  # every target up, Prometheus itself too


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
        logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True, timeout=60, check=True)
        output = logs.stdout + logs.stderr
        assert "Booting worker" in output or "booting" in output.lower()
        assert "Control server" not in output and "Read-only file system" not in output


def test_prometheus_evaluates_the_rules_and_nothing_fires_on_a_healthy_stack(compose: ComposePlatform):
    prometheus = compose.prometheus_url
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert {"services.recording", "services.alerts"} <= {group["name"] for group in groups}
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 15 and all(rule["health"] in ("ok", "unknown") for rule in rules), rules
    firing = [a for a in httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]]
    assert [a for a in firing if a["state"] == "firing"] == []
